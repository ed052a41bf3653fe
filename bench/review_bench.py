"""Benchmark: the review stage on a crowd with a careless labeler, against a crowd without one.

    .venv/bin/python -m bench.review_bench [--objects 200] [--job-objects 100] [--seed 7] [--share 0.1]

The gold benchmark's setting (:mod:`bench.gold_bench`: the builtin service's tasks table code on moto's
in-process DynamoDB, 5 simulated labelers taking turns, 3 answers per object, 10 digit classes), labeled
three times side by side in one run:

* *no careless labeler*: every labeler errs at the crowd's default rate (0.1), no gold, no review;
* *careless, gold*: one labeler in five errs at 0.4, ``--share`` of each job's tasks gold;
* *careless, gold, review*: the same, with the review stage on (``--threshold`` 0.8, ``--sample`` 5 %,
  ``--rounds`` 2) and one simulated reviewer (:func:`local.labeling_reviewers.simulated_decision`: erring
  2 % of the time, unsure, so rejecting, 10 % of the time while a re-queue is left) that leases and decides
  through the store's review functions after each turn of the labelers. A reject asks one more answer of a
  labeler who has not answered the object (one of the other two).

The careless runs use the same job names (so the same seeded answers up to the first review). Figures: the
output manifests' accuracy against the truth (an object a final reject left unlabeled counts as wrong), the
answers on data objects per object, the review decisions and the extra answers the rejects asked for.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gtpipe_shared import labeling_gold
from gtpipe_shared import labeling_store as store
from gtpipe_shared.labeling_review import ReviewSettings
from gtpipe_shared.labeling_store import review

from bench import print_figures, use_fake_aws_credentials
from bench.adaptive_bench import BUCKET, DIGITS, MAXIMUM, NOW, WORKERS, GoldSupply
from bench.gold_bench import careless_setting
from local.labeling_crowd import CrowdSettings, simulated_answer
from local.labeling_reviewers import ReviewerSettings, simulated_decision
from tests.lambdas.labeling_fixtures import create_labeling_table

REVIEWER = "reviewer"


@dataclass
class Tally:
    """Data objects, answers on them, review decisions and the review statistics' extra answers."""

    objects: int = 0
    answers: int = 0
    decisions: int = 0
    reviewed: int = 0
    extra_answers: int = 0
    lines: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Setting:
    """One labeling of the digits: the crowd, gold objects, review (None: off)."""

    crowd: CrowdSettings
    gold: GoldSupply | None
    review: ReviewSettings | None


def _spec(job_name: str, setting: Setting) -> store.JobSpec:
    return store.JobSpec(
        job_name=job_name,
        run_id="bench",
        task_type="image-classification",
        task_token="bench",  # noqa: S106 - not a secret: the Step Functions token a real job would answer
        class_names=DIGITS,
        label_attribute="category",
        manifest_uri=f"s3://{BUCKET}/bench.manifest",
        output_path=f"s3://{BUCKET}/labeling/",
        data_bucket=BUCKET,
        workers_per_object=MAXIMUM,
        lease_seconds=300,
        expires_at=int(NOW) + 86400,
        min_labeled_share=0.9,
        review=setting.review.as_mapping() if setting.review else None,
    )


def _review_turn(table: Any, job_name: str, by_ref: Mapping[str, Any], seed: int) -> int:
    """The simulated reviewer decides every review item it can lease; how many decisions."""
    decided = 0
    while (task := review.lease_review(table, job_name, REVIEWER, NOW)) is not None:
        rng = random.Random(f"review:{seed}:{job_name}:{task.index}:{task.round}")
        body = simulated_decision(
            task.as_dict(),
            by_ref[task.source_ref],
            list(DIGITS),
            "image-classification",
            ReviewerSettings(),
            rng,
        )
        given = review.Decision(
            job_name,
            task.index,
            REVIEWER,
            task.lease_id,
            body["decision"],
            label=body.get("label"),
            reason=body.get("reason"),
        )
        decided += 1
        if review.decide(table, given, NOW).job_completed:
            break
    return decided


def _label_job(table: Any, job_name: str, references: Sequence[Mapping[str, Any]], setting: Setting) -> Tally:
    """Open a job of ``references`` (and gold objects) and let the crowd (and the reviewer) finish it."""
    manifest = "".join(json.dumps({"source-ref": r["source-ref"]}) + "\n" for r in references).encode()
    objects = store.objects_from_manifest(manifest)
    gold = setting.gold
    chosen = (
        labeling_gold.pick(gold.pool, [o.source_ref for o in objects], gold.share, job_name) if gold else []
    )
    store.open_job(table, _spec(job_name, setting), objects, NOW, chosen)
    by_ref = {**(gold.references if gold else {}), **{str(r["source-ref"]): r for r in references}}
    task = {"task_type": "image-classification", "class_names": list(DIGITS)}
    tally = Tally()
    while store.get_job(table, job_name)["status"] == store.OPEN:
        progressed = False
        for number, worker in enumerate(WORKERS):
            lease = store.lease(table, job_name, worker, NOW)
            if lease is None:
                continue
            rng = random.Random(f"crowd:{setting.crowd.seed}:{number}:{job_name}:{lease.index}")
            answer = simulated_answer(
                {**task, "source_ref": lease.source_ref}, by_ref[lease.source_ref], setting.crowd, rng, number
            )
            store.answer(table, job_name, lease.index, worker, lease.lease_id, answer, 5.0, NOW)
            progressed = True
            if store.get_job(table, job_name)["status"] != store.OPEN:
                break
        if setting.review is not None and store.get_job(table, job_name)["status"] == store.OPEN:
            decided = _review_turn(table, job_name, by_ref, setting.crowd.seed)
            tally.decisions += decided
            progressed = progressed or decided > 0
        if not progressed:
            raise RuntimeError(f"{job_name}: nobody can answer or review, the job would never complete")
    output = store.job_output(table, store.get_job(table, job_name), NOW)
    key = next(name for name in output.files if name.endswith("manifests/output/output.manifest"))
    tally.lines = [json.loads(line) for line in output.files[key].decode().splitlines()]
    tally.objects = len(references)
    tally.answers = int(output.team["answers"])  # the data objects' answers (gold answers are apart)
    if "review" in output.team:
        tally.reviewed = int(output.team["review"]["items"])
        tally.extra_answers = int(output.team["review"]["extra_answers"])
    return tally


def _label(
    dynamodb: Any, name: str, references: Sequence[Mapping[str, Any]], setting: Setting, size: int
) -> Tally:
    """Label ``references`` in jobs of ``size`` (jobs named by ``name``), each in a table of its own."""
    total = Tally(lines=[])
    for start in range(0, len(references), size):
        table = create_labeling_table(dynamodb, f"bench-{name}-{start}")
        part = _label_job(table, f"{name}-{start}", references[start : start + size], setting)
        table.delete()
        total.objects += part.objects
        total.answers += part.answers
        total.decisions += part.decisions
        total.reviewed += part.reviewed
        total.extra_answers += part.extra_answers
        total.lines = [*(total.lines or []), *(part.lines or [])]
    return total


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Measure and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=200, help="digits to label")
    parser.add_argument("--job-objects", type=int, default=100, help="data objects per labeling job")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--share", type=float, default=0.1, help="share of a job's tasks that are gold")
    parser.add_argument("--threshold", type=float, default=0.8, help="review confidence threshold")
    parser.add_argument("--sample", type=float, default=5.0, help="review QA sample, percent")
    parser.add_argument("--rounds", type=int, default=2, help="re-queues a review item may ask")
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
    reviewing = ReviewSettings(args.threshold, args.sample, args.rounds)
    settings = {
        "no careless": ("clean", Setting(clean, None, None)),
        "careless, gold": ("careless", Setting(careless, gold, None)),
        "careless, gold, review": ("careless", Setting(careless, gold, reviewing)),
    }
    runs: dict[str, Tally] = {}
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        for label, (job_name, setting) in settings.items():
            runs[label] = _label(dynamodb, job_name, references, setting, args.job_objects)

    def accuracy(tally: Tally) -> float:
        lines = tally.lines or []
        return sum(line.get("category") == t for line, t in zip(lines, truth, strict=True)) / len(truth)

    names = " / ".join(runs)
    reviewed = runs["careless, gold, review"]
    return {
        "workers (careless: one in five, error 0.4; others 0.1)": len(WORKERS),
        "answers per object": MAXIMUM,
        "gold share of tasks": args.share,
        "review: threshold / QA sample % / max rounds": f"{args.threshold} / {args.sample} / {args.rounds}",
        "reviewer: error / unsure (reject) rate": "0.02 / 0.1",
        "data objects per job": args.job_objects,
        f"accuracy {names}": " / ".join(f"{accuracy(t):.3f}" for t in runs.values()),
        f"answers on data objects per object {names}": " / ".join(
            f"{t.answers / t.objects:.2f}" for t in runs.values()
        ),
        "careless, gold, review: objects reviewed (share)": (
            f"{reviewed.reviewed} ({reviewed.reviewed / reviewed.objects:.1%})"
        ),
        "careless, gold, review: review decisions / extra answers (rejects)": (
            f"{reviewed.decisions} / {reviewed.extra_answers}"
        ),
    }


if __name__ == "__main__":
    print_figures(main())
