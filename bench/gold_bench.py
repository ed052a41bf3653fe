"""Benchmark: gold objects on a crowd with a careless labeler, against a crowd without one.

    .venv/bin/python -m bench.gold_bench [--objects 300] [--job-objects 150] [--seed 7] [--share 0.1]

The adaptive benchmark's setting (:mod:`bench.adaptive_bench`: the builtin service's tasks table code on
moto's in-process DynamoDB, 5 simulated labelers taking turns, 3 answers per object, 10 digit classes),
labeled three times side by side in one run:

* *no careless labeler*: every labeler errs at the crowd's default rate (0.1);
* *careless, no gold*: one labeler in five (:attr:`local.labeling_crowd.CrowdSettings.careless_every`)
  errs at 0.4, consolidation weights workers by agreement only;
* *careless, gold*: the same crowd, with ``--share`` of each job's tasks gold objects drawn from a gold
  manifest of other digits (:mod:`gtpipe_shared.labeling_gold`), whose answers weight consolidation.

Figures: the output manifests' accuracy against the truth, the answers on data objects per object, the
gold answers (the extra answers gold costs) and, with gold, the label accuracy the gold objects estimate
(all jobs' gold objects pooled, with its Wilson interval) next to the accuracy measured. The three runs
draw different answers (the crowd's answers are seeded by job and task), so a last figure isolates the
weighting: the same simulated answers consolidated with and without gold records, over many seeds.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gtpipe_shared import labeling_store as store
from gtpipe_shared.consolidation import ClassAnswer, consolidate_classes
from gtpipe_shared.labeling_gold import gold_count, wilson, worker_scores

from bench import print_figures, use_fake_aws_credentials
from bench.adaptive_bench import BUCKET, DIGITS, GoldSupply, Outcome, _label
from local.labeling_crowd import CrowdSettings, simulated_answer


@dataclass(frozen=True)
class Record:
    """One simulated answer (what :func:`worker_scores` reads)."""

    worker_id: str
    answer: dict[str, Any]


CARELESS_EVERY = 5
CARELESS_ERROR = 0.4
GOLD_POOL = 200


def _gold_supply(share: float, seed: int) -> GoldSupply:
    """A gold manifest of :data:`GOLD_POOL` digits (not the data's images), read by the service's parser."""
    rng = random.Random(f"gold:{seed}")
    truth = [rng.randrange(len(DIGITS)) for _ in range(GOLD_POOL)]
    refs = [f"s3://{BUCKET}/gold/{i:05d}.png" for i in range(GOLD_POOL)]
    manifest = "".join(
        json.dumps({"source-ref": ref, "category": t, "category-metadata": {"class-name": DIGITS[t]}}) + "\n"
        for ref, t in zip(refs, truth, strict=True)
    ).encode()
    pool = store.gold_from_manifest(
        manifest, task_type="image-classification", label_attribute="category", class_names=DIGITS
    )
    references = {ref: {"source-ref": ref, "label": t} for ref, t in zip(refs, truth, strict=True)}
    return GoldSupply(pool, share, references)


@dataclass(frozen=True)
class CarelessSetting:
    """The careless-crowd comparison's inputs: the true classes, the reference manifest lines, the crowds
    without and with one careless labeler in five, and the gold objects."""

    truth: list[int]
    references: list[dict[str, Any]]
    clean: CrowdSettings
    careless: CrowdSettings
    gold: GoldSupply


def careless_setting(objects: int, seed: int, share: float) -> CarelessSetting:
    """The seeded inputs of the gold and review benches (the same truth and crowds for both)."""
    rng = random.Random(f"classes:{seed}")
    truth = [rng.randrange(len(DIGITS)) for _ in range(objects)]
    references = [
        {"source-ref": f"s3://{BUCKET}/digits/{i:05d}.png", "label": t} for i, t in enumerate(truth)
    ]
    clean = CrowdSettings(reference_labels=Path("unused"), seed=seed)
    careless = CrowdSettings(
        reference_labels=Path("unused"),
        seed=seed,
        careless_every=CARELESS_EVERY,
        careless_error_rate=CARELESS_ERROR,
    )
    return CarelessSetting(truth, references, clean, careless, _gold_supply(share, seed))


def _estimate(outcome: Outcome) -> str:
    """The pooled gold estimate of label accuracy: ``accuracy [low, high] (n gold objects)``."""
    rows = [row for figures in outcome.gold for row in figures["label_accuracy"] if row["class_name"] is None]
    correct, items = sum(row["correct"] for row in rows), sum(row["items"] for row in rows)
    if not items:
        return "-"
    low, high = wilson(correct, items)
    return f"{correct / items:.3f} [{low:.3f}, {high:.3f}] ({items} gold objects)"


def _paired(seeds: int, objects: int, share: float) -> str:
    """Gold weighting alone, on identical answers: for each seed, ``objects`` digits answered by 3 of the 5
    simulated labelers each (one careless), consolidated with and without the labelers' gold records (gold
    objects answered by the same crowd, ``share`` of the tasks), and a crowd without a careless labeler;
    mean accuracy over the seeds (consolidation only: no tasks table)."""
    careless = CrowdSettings(
        Path("unused"), careless_every=CARELESS_EVERY, careless_error_rate=CARELESS_ERROR
    )
    clean = CrowdSettings(Path("unused"))
    task = {"task_type": "image-classification", "class_names": DIGITS, "source_ref": "s3://b/x.png"}
    totals = [0, 0, 0]
    for seed in range(seeds):
        rng = random.Random(f"paired:{seed}")

        def answers(truths: list[int], crowd: CrowdSettings, rng: random.Random = rng) -> list[list[Record]]:
            return [
                [
                    Record(
                        f"w{k}",
                        simulated_answer(task, {"source-ref": "s3://b/x.png", "label": t}, crowd, rng, k),
                    )
                    for k in rng.sample(range(5), 3)
                ]
                for t in truths
            ]

        truth = [rng.randrange(len(DIGITS)) for _ in range(objects)]
        gold_truth = [rng.randrange(len(DIGITS)) for _ in range(gold_count(objects, share, objects))]
        gold = worker_scores(
            "image-classification",
            {i: {"label": t} for i, t in enumerate(gold_truth)},
            dict(enumerate(answers(gold_truth, careless))),
        )
        noisy = answers(truth, careless)
        votes = [[ClassAnswer(r.worker_id, r.answer["label"]) for r in item] for item in noisy]
        good = [[ClassAnswer(r.worker_id, r.answer["label"]) for r in item] for item in answers(truth, clean)]
        for slot, result in enumerate(
            (
                consolidate_classes(good, len(DIGITS)),
                consolidate_classes(votes, len(DIGITS)),
                consolidate_classes(votes, len(DIGITS), gold=gold),
            )
        ):
            totals[slot] += sum(
                label is not None and label.label == t for label, t in zip(result.labels, truth, strict=True)
            )
    return " / ".join(f"{total / (seeds * objects):.4f}" for total in totals)


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Measure and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=300, help="digits to label")
    parser.add_argument("--job-objects", type=int, default=150, help="data objects per labeling job")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--share", type=float, default=0.1, help="share of a job's tasks that are gold")
    parser.add_argument(
        "--paired-seeds", type=int, default=200, help="seeds of the consolidation-only figure"
    )
    args = parser.parse_args(argv)
    use_fake_aws_credentials()  # moto's in-process DynamoDB, never a real account
    import boto3
    from moto import mock_aws

    crowds = careless_setting(args.objects, args.seed, args.share)
    truth, references, clean, careless, gold = (
        crowds.truth,
        crowds.references,
        crowds.clean,
        crowds.careless,
        crowds.gold,
    )

    def accuracy(outcome: Outcome) -> float:
        return sum(line.get("category") == t for line, t in zip(outcome.lines, truth, strict=True)) / len(
            truth
        )

    runs: dict[str, Outcome] = {}
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        task = ("image-classification", DIGITS, references)
        runs["no careless"] = _label(dynamodb, "clean", *task, clean, None, job_objects=args.job_objects)
        runs["careless, no gold"] = _label(
            dynamodb, "careless", *task, careless, None, job_objects=args.job_objects
        )
        runs["careless, gold"] = _label(
            dynamodb, "careless-gold", *task, careless, None, gold, job_objects=args.job_objects
        )
    names = " / ".join(runs)
    return {
        "workers (careless: one in five, error 0.4; others 0.1)": 5,
        "answers per object": 3,
        "gold share of tasks": args.share,
        "data objects per job": args.job_objects,
        f"accuracy {names}": " / ".join(f"{accuracy(o):.3f}" for o in runs.values()),
        f"answers on data objects per object {names}": " / ".join(
            f"{o.per_object:.2f}" for o in runs.values()
        ),
        f"gold answers (extra) {names}": " / ".join(str(o.gold_answers) for o in runs.values()),
        "extra answers for gold (share of data answers)": (
            f"{runs['careless, gold'].gold_answers / runs['careless, gold'].answers:.1%}"
        ),
        "careless, gold: label accuracy estimated from gold [95% Wilson]": _estimate(runs["careless, gold"]),
        f"consolidation only, same answers, {args.paired_seeds} seeds x {args.job_objects} objects: "
        f"accuracy {names}": _paired(args.paired_seeds, args.job_objects, args.share),
    }


if __name__ == "__main__":
    print_figures(main())
