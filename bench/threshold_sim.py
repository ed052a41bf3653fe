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
labels with the credible threshold, that with widening (when no threshold is reached, people label more
objects, drawn at random, as validation, by :func:`gtpipe_shared.auto_labeling.widening`, the loop's own
rule) and that with the model's own expectation as the threshold's floor (the builtin loop:
:func:`gtpipe_shared.auto_labeling.own_threshold` of the unlabeled objects). Verification here asks about every dispute (the loop asks about at most a tenth of the
sample, the surest disputes a reachable threshold could cover). Reported per rule: how often B's model got no
threshold (B labels nothing), B's answers, the saving of B against C (median, 10th percentile), how often it
is >= 60%, how often each run's labels are >= 95% right against the truth and, with widening, the median
validation objects B added.

``--validations 40,80,120 --credibilities 0.65,0.8 --floors none,0.95`` replaces the rules by the builtin
loop's (verified, credible threshold, widening, the model's own expectation at the floor's accuracy, or none)
at each combination, and reports besides C's
saving against labeling without automated labeling (every object answered once: C's pool plus its training
batch), the from-scratch target (>= 50% at >= 0.95). The globs may match several runs' dumps: trial ``i``
uses the ``i``-th pair (sorted paths, cycling), so each seed's B meets its own control. ``--worth 2``
adds each swept rule with a widening the loop does not have: when a threshold was reached but the model's
own confidences (were they calibrated) suggest a far lower one, another sample's worth of answers when the
queued objects at stake are at least twice as many (:func:`_worth_widening`). Two more rules the loop
does not have: ``--confirms 0.8`` widens also while a stricter credibility does not reach the threshold
(:func:`_confirm_widening`), ``--audits 10`` has people check that many would-be machine labels once a
threshold is reached and chooses it again, no lower (:func:`_audit`).
"""

from __future__ import annotations

import argparse
import glob
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gtpipe_shared.auto_labeling import (
    choose_threshold,
    floored,
    needs_verification,
    own_threshold,
    validation_label,
    widening,
)

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
    validation: int | None = None  # the validation sample (None: --validation)
    worth: float | None = None  # also widen when it is worth it (:func:`_worth_widening`), by this margin
    confirm: float | None = None  # also widen while this stricter credibility does not reach the threshold
    floor: float | None = None  # never below the model's own expectation at this accuracy (own_threshold)
    audit: int = 0  # once a threshold is reached, people check this many would-be machine labels (_audit)


RULES = (
    Rule("single answers, Laplace's mean", False, None),
    Rule("verified, Laplace's mean", True, None),
    Rule("verified, credibility 0.65", True, 0.65, seed="verified, credibility 0.65 (the builtin loop)"),
    Rule(
        "verified, credibility 0.65, widening",
        True,
        0.65,
        widen=True,
        seed="verified, credibility 0.65, widening (the builtin loop)",
    ),
    Rule(
        "verified, credibility 0.65, widening, own expectation (the builtin loop)",
        True,
        0.65,
        True,
        floor=0.95,
    ),
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
        if not more and rule.worth is not None:
            more = _worth_widening(pool, sample, threshold, validation, rule.worth)
        if not more and rule.confirm is not None and threshold is not None:
            more = _confirm_widening(pool, sample, answers, threshold, validation, rule.confirm)
        if not more:
            break
        taken = set(sample)
        extra = rng.sample([i for i in range(len(pool)) if i not in taken], more)
        sample += extra
        added += more
        threshold = _validate(pool, sample, answers, rule, error, rng)
    if rule.floor is not None:
        taken = set(sample)
        threshold = floored(
            threshold, [o["confidence"] for i, o in enumerate(pool) if i not in taken], rule.floor
        )
    if rule.audit and threshold is not None:
        threshold, checked = _audit(pool, sample, answers, threshold, rule, error, rng)
        sample = [*sample, *checked]
    labels = {i: validation_label(a) for i, a in answers.items()}
    taken = set(sample)
    rest = [o for i, o in enumerate(pool) if i not in taken]
    machine = [o for o in rest if threshold is not None and o["confidence"] >= threshold]
    people = len(rest) - len(machine)
    wrong = sum(o["predicted"] != o["truth"] for o in machine)
    wrong += sum(rng.random() < error for _ in range(people))
    wrong += sum(labels[i] != pool[i]["truth"] for i in sample)
    return sum(len(a) for a in answers.values()) + people, 1 - wrong / len(pool), added


def _worth_widening(
    pool: Sequence[dict[str, Any]],
    sample: Sequence[int],
    threshold: float | None,
    validation: int,
    margin: float,
) -> int:
    """Widening when a threshold was reached (not built in the loop; simulated): another ``validation``
    objects (within the loop's limits, :func:`gtpipe_shared.auto_labeling.widening`'s) when the queue's
    objects between the model's own calibrated-looking threshold (:func:`own_threshold`) and the reached
    one, which a larger sample could certify for machine labels instead of people, number at least ``margin``
    times the batch's answers."""
    more = widening(None, len(sample), len(pool) - len(sample), validation)
    if threshold is None or not more:
        return 0
    taken = set(sample)
    queue = [o["confidence"] for i, o in enumerate(pool) if i not in taken]
    hoped = own_threshold(queue)
    if hoped is None or hoped >= threshold:
        return 0
    at_stake = sum(hoped <= confidence < threshold for confidence in queue)
    return more if at_stake >= margin * more else 0


def _confirm_widening(
    pool: Sequence[dict[str, Any]],
    sample: Sequence[int],
    answers: dict[int, list[str]],
    threshold: float,
    validation: int,
    confirm: float,
) -> int:
    """Widening when a threshold was reached that the stricter ``confirm`` credibility does not reach on the
    same sample (not built; simulated), within the loop's limits."""
    scored = _scored(pool, sample, answers)
    strict = choose_threshold(scored, 0.95, confirm)
    if strict is not None and strict <= threshold:
        return 0
    return widening(None, len(sample), len(pool) - len(sample), validation)


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
    _answer(pool, sample, answers, rule, error, rng)
    scored = _scored(pool, sample, answers)
    return choose_threshold(scored, 0.95, rule.credibility)


def _scored(
    pool: Sequence[dict[str, Any]], objects: Sequence[int], answers: Mapping[int, list[str]]
) -> list[tuple[float, bool]]:
    """``(confidence, agrees with the people's label)`` of each of ``objects``."""
    return [(pool[i]["confidence"], pool[i]["predicted"] == validation_label(answers[i])) for i in objects]


def _answer(
    pool: Sequence[dict[str, Any]],
    objects: Sequence[int],
    answers: dict[int, list[str]],
    rule: Rule,
    error: float,
    rng: random.Random,
) -> None:
    """People answer ``objects`` not answered yet (``answers``, in place), and again while the rule verifies
    a dispute with the model's prediction."""
    for i in objects:
        if i not in answers:
            answers[i] = [_person(pool[i]["truth"], error, rng)]
    while rule.verify:
        disputed = [i for i in objects if needs_verification(answers[i], pool[i]["predicted"])]
        if not disputed:
            break
        for i in disputed:
            answers[i].append(_person(pool[i]["truth"], error, rng))


def _audit(
    pool: Sequence[dict[str, Any]],
    sample: Sequence[int],
    answers: dict[int, list[str]],
    threshold: float,
    rule: Rule,
    error: float,
    rng: random.Random,
) -> tuple[float | None, list[int]]:
    """People label ``rule.audit`` objects drawn at random from the unlabeled ones at or above the reached
    ``threshold`` (would-be machine labels); the threshold is chosen again, no lower, on the sample's and the
    audit's objects at or above it (both random samples of that region). (new threshold, audited objects)."""
    taken = set(sample)
    above = [i for i, o in enumerate(pool) if i not in taken and o["confidence"] >= threshold]
    checked = rng.sample(above, min(rule.audit, len(above)))
    _answer(pool, checked, answers, rule, error, rng)
    scored = [item for item in _scored(pool, [*sample, *checked], answers) if item[0] >= threshold]
    return choose_threshold(scored, 0.95, rule.credibility), checked


def _pools(pattern: str) -> list[list[dict[str, Any]]]:
    """Every dump's objects that ``pattern`` matches, in sorted path order."""
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise SystemExit(f"no dump matches {pattern}")
    return [list(json.loads(Path(path).read_text())["objects"]) for path in paths]


def _rules(args: argparse.Namespace) -> tuple[Rule, ...]:
    """The rules to simulate: :data:`RULES`, or the builtin loop's at each swept validation x credibility."""
    swept = (args.validations, args.credibilities, args.audits, args.confirms, args.floors)
    if not any(swept) and args.worth is None:
        return RULES
    validations = [int(v) for v in (args.validations or str(args.validation)).split(",")]
    credibilities = [float(c) for c in (args.credibilities or "0.65").split(",")]
    worths: list[float | None] = [None] + ([args.worth] if args.worth is not None else [])
    audits = [int(a) for a in (args.audits or "0").split(",")]
    floors = [None if f == "none" else float(f) for f in (args.floors or "0.95").split(",")]
    confirms = [None] + [float(c) for c in args.confirms.split(",")] if args.confirms else [None]
    return tuple(
        Rule(
            f"validation {v}, credibility {c}, widening"
            + (f", worth x{w}" if w is not None else "")
            + (f", audit {a}" if a else "")
            + (f", confirm {k}" if k is not None else "")
            + (f", floor {f}" if f is not None else ""),
            True,
            c,
            widen=True,
            validation=v,
            worth=w,
            audit=a,
            confirm=k,
            floor=f,
        )
        for v in validations
        for c in credibilities
        for w in worths
        for a in audits
        for k in confirms
        for f in floors
    )


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[int(share * len(ordered))]


def _simulate(
    rule: Rule, pairs: Sequence[tuple[list[dict[str, Any]], list[dict[str, Any]]]], args: argparse.Namespace
) -> str:
    """``args.trials`` runs of B and C under ``rule`` (trial ``i`` on pair ``i`` modulo their number): the
    figures' line."""
    rng = random.Random(f"threshold-sim:{args.seed}:{rule.seed or rule.name}")
    validation = rule.validation or args.validation
    crowd_accuracy = 1 - args.error
    savings, scratch, added, b_all, c_all = [], [], [], [], []
    b_ok = c_ok = none = scratch_met = 0
    for trial in range(args.trials):
        reuse, control = pairs[trial % len(pairs)]
        b_answers, b_accuracy, b_added = _trial(reuse, validation, rule, args.error, rng)
        c_answers, c_accuracy, _ = _trial(control, validation, rule, args.error, rng)
        none += b_answers >= len(reuse)
        added.append(b_added)
        c_answers += args.batch  # the control's training batch, labeled by people first
        c_accuracy = (c_accuracy * len(control) + crowd_accuracy * args.batch) / (len(control) + args.batch)
        savings.append(1 - b_answers / c_answers)
        scratch.append(1 - c_answers / (len(control) + args.batch))
        scratch_met += scratch[-1] >= 0.5 and c_accuracy >= 0.95
        b_all.append(b_answers)
        c_all.append(c_answers)
        b_ok += b_accuracy >= 0.95
        c_ok += c_accuracy >= 0.95
    n = args.trials
    line = (
        f"B labels nothing {none / n:.0%}; saving median {_percentile(savings, 0.5):.0%} "
        f"(p10 {_percentile(savings, 0.1):.0%}); >= 60% {sum(s >= 0.6 for s in savings) / n:.0%}; "
        f"accuracy >= 0.95: B {b_ok / n:.0%}, C {c_ok / n:.0%}"
        f"; answers median B {_percentile(b_all, 0.5):.0f}, C {_percentile(c_all, 0.5):.0f}"
    )
    if rule.validation is not None:
        line += (
            f"; C from scratch: saving median {_percentile(scratch, 0.5):.0%} (p10 {_percentile(scratch, 0.1):.0%}),"
            f" >= 50% at >= 0.95 {scratch_met / n:.0%}"
        )
    return line + (f"; B validation added median {_percentile(added, 0.5):.0f}" if rule.widen else "")


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Simulate and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", required=True, help="glob of run B's dumps (the earlier model's round)")
    parser.add_argument("--control", required=True, help="glob of run C's dumps (the control's round)")
    parser.add_argument("--validation", type=int, default=40)
    parser.add_argument("--validations", help="sweep: comma-separated validation sample sizes")
    parser.add_argument("--credibilities", help="sweep: comma-separated credibilities")
    parser.add_argument(
        "--worth", type=float, help="sweep: also each rule widening when worth it, at this margin (not built)"
    )
    parser.add_argument("--confirms", help="sweep: comma-separated confirming credibilities (not built)")
    parser.add_argument(
        "--floors", help="sweep: comma-separated own-expectation accuracies, or none (the loop: 0.95)"
    )
    parser.add_argument("--audits", help="sweep: comma-separated audit sizes (0: none; not built)")
    parser.add_argument("--batch", type=int, default=200, help="the control's training batch")
    parser.add_argument("--error", type=float, default=0.03)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    reuse, control = _pools(args.reuse), _pools(args.control)
    if len(reuse) != len(control):
        raise SystemExit(f"{len(reuse)} reuse dumps but {len(control)} control dumps: pair them one to one")
    pairs = list(zip(reuse, control, strict=True))
    figures: dict[str, object] = {
        "pools (B, C objects)": ", ".join(f"{len(b)}/{len(c)}" for b, c in pairs),
        "trials, validation, error": f"{args.trials}, {args.validation}, {args.error}",
    }
    for rule in _rules(args):
        figures[rule.name] = _simulate(rule, pairs, args)
    return figures


if __name__ == "__main__":
    print_figures(main())
