"""Simulation: automated labeling's threshold rules on measured labeling models (seconds, no cloud).

    .venv/bin/python -m bench.builtin_auto_bench --objects 600 --batch 200 --rounds 1 --dump /tmp/dump
    .venv/bin/python -m bench.threshold_sim --reuse '/tmp/dump/reuse/digits-b-*.json' \\
        --control '/tmp/dump/control/digits-b-*.json'

``builtin_auto_bench --dump`` writes each run's first model round: per object the model's class and
confidence and the truth. This replays the loop's decision many times on such a round, each time with a new
random validation sample and new simulated people (one answer each, erring ``--error`` of the time, seeded):
the reuse run B (the earlier model on dataset 2: validation sample, then people label what is not
machine-labeled) and its control C (its own model: a training batch of ``--batch`` people-labeled objects
besides). Rules, with the loop's own functions (:mod:`gtpipe_shared.auto_labeling`): single answers with
Laplace's mean (the rule before verification), verified validation labels with Laplace's mean, verified
labels with the credible threshold, and that with widening (the builtin loop: when no threshold is reached,
people label more objects, drawn at random, as validation, by :func:`gtpipe_shared.auto_labeling.widening`,
the loop's own rule). Verification here asks about every dispute (the loop asks about at most a tenth of the
sample, the surest disputes a reachable threshold could cover). Reported per rule: how often B's model got no
threshold (B labels nothing), B's answers, the saving of B against C (median, 10th percentile), how often it
is >= 60%, how often each run's labels are >= 95% right against the truth and, with widening, the median
validation objects B added.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gtpipe_shared.auto_labeling import choose_threshold, needs_verification, validation_label, widening

from bench import print_figures

CLASSES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class Rule:
    """A threshold rule: whether disputed validation labels are verified, the credibility (None: Laplace's
    mean) and whether the validation sample widens while no threshold is reached."""

    name: str
    verify: bool
    credibility: float | None
    widen: bool = False
    seed: str = ""  # the random stream's name (default: the rule's): BENCHMARKS.md's figures reproduce


RULES = (
    Rule("single answers, Laplace's mean", False, None),
    Rule("verified, Laplace's mean", True, None),
    Rule("verified, credibility 0.65", True, 0.65, seed="verified, credibility 0.65 (the builtin loop)"),
    Rule("verified, credibility 0.65, widening (the builtin loop)", True, 0.65, widen=True),
)


def _person(truth: str, error: float, rng: random.Random) -> str:
    return rng.choice([c for c in CLASSES if c != truth]) if rng.random() < error else truth


def _trial(
    pool: Sequence[dict[str, Any]], validation: int, rule: Rule, error: float, rng: random.Random
) -> tuple[int, float, int]:
    """One run on ``pool``'s objects: (human answers, label accuracy against the truth, validation objects
    added by widening)."""
    sample = rng.sample(range(len(pool)), validation)
    answers: dict[int, list[str]] = {}
    threshold = _validate(pool, sample, answers, rule, error, rng)
    added = 0
    while rule.widen:
        more = widening(threshold, len(sample), len(pool) - len(sample), validation)
        if not more:
            break
        taken = set(sample)
        extra = rng.sample([i for i in range(len(pool)) if i not in taken], more)
        sample += extra
        added += more
        threshold = _validate(pool, sample, answers, rule, error, rng)
    labels = {i: validation_label(a) for i, a in answers.items()}
    taken = set(sample)
    rest = [o for i, o in enumerate(pool) if i not in taken]
    machine = [o for o in rest if threshold is not None and o["confidence"] >= threshold]
    people = len(rest) - len(machine)
    wrong = sum(o["predicted"] != o["truth"] for o in machine)
    wrong += sum(rng.random() < error for _ in range(people))
    wrong += sum(labels[i] != pool[i]["truth"] for i in sample)
    return sum(len(a) for a in answers.values()) + people, 1 - wrong / len(pool), added


def _validate(
    pool: Sequence[dict[str, Any]],
    sample: Sequence[int],
    answers: dict[int, list[str]],
    rule: Rule,
    error: float,
    rng: random.Random,
) -> float | None:
    """People answer the sample's objects not answered yet (``answers``, in place), verified by the rule;
    the threshold on the sample."""
    for i in sample:
        if i not in answers:
            answers[i] = [_person(pool[i]["truth"], error, rng)]
    while rule.verify:
        disputed = [i for i in sample if needs_verification(answers[i], pool[i]["predicted"])]
        if not disputed:
            break
        for i in disputed:
            answers[i].append(_person(pool[i]["truth"], error, rng))
    scored = [(pool[i]["confidence"], pool[i]["predicted"] == validation_label(answers[i])) for i in sample]
    return choose_threshold(scored, 0.95, rule.credibility)


def _objects(pattern: str) -> list[dict[str, Any]]:
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise SystemExit(f"no dump matches {pattern}")
    return list(json.loads(open(paths[0]).read())["objects"])


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Simulate and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", required=True, help="glob of run B's dump (the earlier model's round)")
    parser.add_argument("--control", required=True, help="glob of run C's dump (the control's round)")
    parser.add_argument("--validation", type=int, default=40)
    parser.add_argument("--batch", type=int, default=200, help="the control's training batch")
    parser.add_argument("--error", type=float, default=0.03)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    reuse, control = _objects(args.reuse), _objects(args.control)
    crowd_accuracy = 1 - args.error
    figures: dict[str, object] = {
        "pools (B, C objects)": f"{len(reuse)}, {len(control)}",
        "trials, validation, error": f"{args.trials}, {args.validation}, {args.error}",
    }
    for rule in RULES:
        rng = random.Random(f"threshold-sim:{args.seed}:{rule.seed or rule.name}")
        savings, b_ok, c_ok, none, added, b_all, c_all = [], 0, 0, 0, [], [], []
        for _ in range(args.trials):
            b_answers, b_accuracy, b_added = _trial(reuse, args.validation, rule, args.error, rng)
            c_answers, c_accuracy, _ = _trial(control, args.validation, rule, args.error, rng)
            none += b_answers >= len(reuse)
            added.append(b_added)
            c_answers += args.batch  # the control's training batch, labeled by people first
            c_accuracy = (c_accuracy * len(control) + crowd_accuracy * args.batch) / (
                len(control) + args.batch
            )
            savings.append(1 - b_answers / c_answers)
            b_all.append(b_answers)
            c_all.append(c_answers)
            b_ok += b_accuracy >= 0.95
            c_ok += c_accuracy >= 0.95
        savings.sort()
        added.sort()
        b_all.sort()
        c_all.sort()
        n = args.trials
        figures[rule.name] = (
            f"B labels nothing {none / n:.0%}; saving median {savings[n // 2]:.0%} (p10 {savings[n // 10]:.0%}); "
            f">= 60% {sum(s >= 0.6 for s in savings) / n:.0%}; accuracy >= 0.95: B {b_ok / n:.0%}, C {c_ok / n:.0%}"
            + f"; answers median B {b_all[n // 2]}, C {c_all[n // 2]}"
            + (f"; B validation added median {added[n // 2]}" if rule.widen else "")
        )
    return figures


if __name__ == "__main__":
    print_figures(main())
