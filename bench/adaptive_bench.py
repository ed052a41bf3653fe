"""Benchmark: adaptive redundancy vs a fixed 3 answers per object, on the simulated labeling crowd.

    .venv/bin/python -m bench.adaptive_bench [--objects 300] [--images 150] [--seed 7] [--threshold 0.8]

The same data and the same simulated crowd (:func:`local.labeling_crowd.simulated_answer`: the local
cloud's labelers, each answer drawn from ``crowd:<seed>:<worker>:<job>:<object>`` as there) label one job
with ``workersPerObject`` 3 fixed and one with it as the maximum of adaptive redundancy
(:mod:`gtpipe_shared.adaptive_redundancy`, the threshold given). Both jobs run through the builtin
service's own tasks table code (:mod:`gtpipe_shared.labeling_store`: lease, answer, consolidate the
output) on moto's in-process DynamoDB, without the API's HTTP hops, in jobs of 50 objects: 5 workers take
turns leasing and answering until each job completes. Classification: 10 classes (the digits), accuracy of the output
manifest's labels against the truth at the crowd's default error rate (0.1) and a noisier one (0.25).
Boxes: the consolidation benchmark's scenes (1-4 boxes of 4 classes), recall of the true boxes (IoU >=
0.5, same class) at the crowd's default noise.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gtpipe_shared import labeling_gold
from gtpipe_shared import labeling_store as store
from gtpipe_shared.consolidation import Box
from gtpipe_shared.labeling_gold import GoldObject

from bench import print_figures, use_fake_aws_credentials
from bench.box_scenes import random_scene, recall_and_iou
from local.labeling_crowd import CrowdSettings, simulated_answer
from tests.lambdas.labeling_fixtures import create_labeling_table

WORKERS = [f"w{k}" for k in range(5)]
MAXIMUM = 3
DIGITS = tuple(str(n) for n in range(10))
SHAPES = ("circle", "square", "triangle", "star")
NOW = 1_800_000_000.0
BUCKET = "bench-bucket"
# Objects per labeling job (the benchmark's objects are labeled in jobs of this size).
JOB_OBJECTS = 50


@dataclass(frozen=True)
class Outcome:
    """Jobs' answers and labels: answers, objects, the answers after an object's first and how many of
    them agreed with it (the team statistics'), and the output manifests' lines in object order."""

    answers: int
    objects: int
    extra_answers: int
    extra_agreed: int
    lines: list[dict[str, Any]]
    # Jobs with gold objects (bench.gold_bench): the answers given on them, and the team statistics' gold
    # figures of each job.
    gold_answers: int = 0
    gold: tuple[dict[str, Any], ...] = ()

    @property
    def per_object(self) -> float:
        return self.answers / self.objects

    @property
    def extra_agreement(self) -> float | None:
        return self.extra_agreed / self.extra_answers if self.extra_answers else None

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(
            self.answers + other.answers,
            self.objects + other.objects,
            self.extra_answers + other.extra_answers,
            self.extra_agreed + other.extra_agreed,
            self.lines + other.lines,
            self.gold_answers + other.gold_answers,
            self.gold + other.gold,
        )


def _label(
    dynamodb: Any,
    name: str,
    task_type: str,
    class_names: Sequence[str],
    references: Sequence[Mapping[str, Any]],
    crowd: CrowdSettings,
    threshold: float | None,
    gold: GoldSupply | None = None,
    job_objects: int = JOB_OBJECTS,
) -> Outcome:
    """Label ``references`` in jobs of ``job_objects``, each in a table of its own, deleted after it
    (moto copies the whole table for every transaction: a job's answers cost time with the table's size);
    ``gold``: gold objects mixed into each job."""
    total = Outcome(0, 0, 0, 0, [])
    for start in range(0, len(references), job_objects):
        table = create_labeling_table(dynamodb, f"bench-{name}-{start}")
        batch = references[start : start + job_objects]
        job = f"{name}-{start}"
        total += _label_job(table, job, task_type, class_names, batch, crowd, threshold, gold)
        table.delete()
    return total


@dataclass(frozen=True)
class GoldSupply:
    """Gold objects for the jobs: the pool (:class:`GoldObject`), the share of a job's tasks drawn from it,
    and the reference line of each gold image (what the simulated crowd answers from)."""

    pool: Sequence[GoldObject]
    share: float
    references: Mapping[str, Mapping[str, Any]]


def _label_job(
    table: Any,
    job_name: str,
    task_type: str,
    class_names: Sequence[str],
    references: Sequence[Mapping[str, Any]],
    crowd: CrowdSettings,
    threshold: float | None,
    gold: GoldSupply | None = None,
) -> Outcome:
    """Open a job of ``references`` (and gold objects) and let the crowd label it to completion (workers in
    turn; labeler ``k`` is the crowd's number ``k``, careless or not)."""
    spec = store.JobSpec(
        job_name=job_name,
        run_id="bench",
        task_type=task_type,
        task_token="bench",  # noqa: S106 - not a secret: the Step Functions token a real job would answer
        class_names=tuple(class_names),
        label_attribute="category",
        manifest_uri=f"s3://{BUCKET}/bench.manifest",
        output_path=f"s3://{BUCKET}/labeling/",
        data_bucket=BUCKET,
        workers_per_object=MAXIMUM,
        lease_seconds=300,
        expires_at=int(NOW) + 86400,
        min_labeled_share=0.9,
        adaptive_threshold=threshold,
    )
    manifest = "".join(json.dumps({"source-ref": r["source-ref"]}) + "\n" for r in references).encode()
    objects = store.objects_from_manifest(manifest)
    chosen = (
        labeling_gold.pick(gold.pool, [o.source_ref for o in objects], gold.share, job_name) if gold else []
    )
    store.open_job(table, spec, objects, NOW, chosen)
    by_ref = {**(gold.references if gold else {}), **{str(r["source-ref"]): r for r in references}}
    task = {"task_type": task_type, "class_names": list(class_names)}
    while store.get_job(table, job_name)["status"] == store.OPEN:
        progressed = False
        for number, worker in enumerate(WORKERS):
            lease = store.lease(table, job_name, worker, NOW)
            if lease is None:
                continue
            rng = random.Random(f"crowd:{crowd.seed}:{number}:{job_name}:{lease.index}")
            answer = simulated_answer(
                {**task, "source_ref": lease.source_ref}, by_ref[lease.source_ref], crowd, rng, number
            )
            store.answer(table, job_name, lease.index, worker, lease.lease_id, answer, 5.0, NOW)
            progressed = True
            if store.get_job(table, job_name)["status"] != store.OPEN:
                break
        if not progressed:
            raise RuntimeError(f"{job_name}: no worker can answer, the job would never complete")
    output = store.job_output(table, store.get_job(table, job_name), NOW)
    key = next(name for name in output.files if name.endswith("manifests/output/output.manifest"))
    lines = [json.loads(line) for line in output.files[key].decode().splitlines()]
    team = output.team
    extra = int(team["extra_answers"])
    agreed = round((team["extra_agreement"] or 0.0) * extra)  # a share of 3 decimals: exact below 1,000
    figures = team.get("gold")
    return Outcome(
        int(team["answers"]),
        len(references),
        extra,
        agreed,
        lines,
        int(figures["answers"]) if figures else 0,
        (figures,) if figures else (),
    )


def _side_by_side(
    run: Callable[[str, float | None], Outcome],
    score: Callable[[Outcome], float],
    name: str,
    threshold: float,
) -> dict[str, object]:
    """The fixed and the adaptive job of one setting, their answers per object and score side by side."""
    fixed, adaptive = run("fixed", None), run("adaptive", threshold)
    return {
        f"{name}: answers per object fixed / adaptive": f"{fixed.per_object:.2f} / {adaptive.per_object:.2f}",
        f"{name}: {'accuracy' if 'boxes' not in name else 'box recall'} fixed / adaptive": (
            f"{score(fixed):.3f} / {score(adaptive):.3f}"
        ),
        f"{name}: answers saved": f"{1 - adaptive.answers / fixed.answers:.1%}",
        f"{name}: extra answers agreeing with the first fixed / adaptive": (
            f"{fixed.extra_agreement:.3f} / {adaptive.extra_agreement:.3f}"
            if fixed.extra_agreement is not None and adaptive.extra_agreement is not None
            else "-"
        ),
    }


def classification(
    dynamodb: Any, objects: int, error_rate: float, seed: int, threshold: float
) -> dict[str, object]:
    """Digits labeled fixed and adaptively at one error rate."""
    rng = random.Random(f"classes:{seed}")
    truth = [rng.randrange(len(DIGITS)) for _ in range(objects)]
    references = [
        {"source-ref": f"s3://{BUCKET}/digits/{i:05d}.png", "label": t} for i, t in enumerate(truth)
    ]
    crowd = CrowdSettings(reference_labels=Path("unused"), error_rate=error_rate, seed=seed)

    def run(kind: str, chosen: float | None) -> Outcome:
        job = f"classes-{error_rate:g}-{kind}"
        return _label(dynamodb, job, "image-classification", DIGITS, references, crowd, chosen)

    def accuracy(outcome: Outcome) -> float:
        return sum(line.get("category") == t for line, t in zip(outcome.lines, truth, strict=True)) / objects

    return _side_by_side(run, accuracy, f"classification error {error_rate:g}", threshold)


def boxes(dynamodb: Any, images: int, seed: int, threshold: float) -> dict[str, object]:
    """Scenes boxed fixed and adaptively at the crowd's default box noise."""
    rng = random.Random(f"boxes:{seed}")
    scenes = [random_scene(rng, len(SHAPES)) for _ in range(images)]
    references = [
        {
            "source-ref": f"s3://{BUCKET}/scenes/{i:05d}.png",
            "image_size": {"width": width, "height": height, "depth": 3},
            "annotations": [b.as_annotation() for b in drawn],
        }
        for i, (width, height, drawn) in enumerate(scenes)
    ]
    crowd = CrowdSettings(reference_labels=Path("unused"), seed=seed)

    def run(kind: str, chosen: float | None) -> Outcome:
        return _label(dynamodb, f"boxes-{kind}", "object-detection", SHAPES, references, crowd, chosen)

    def recall(outcome: Outcome) -> float:
        merged = [
            [Box(**a) for a in line.get("category", {}).get("annotations", [])] for line in outcome.lines
        ]
        return recall_and_iou(merged, [drawn for _, _, drawn in scenes])[0]

    return _side_by_side(run, recall, "boxes default noise", threshold)


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Measure and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=300, help="classification objects per error rate")
    parser.add_argument("--images", type=int, default=150, help="box images")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=0.8, help="adaptive confidence threshold")
    args = parser.parse_args(argv)
    use_fake_aws_credentials()  # moto's in-process DynamoDB, never a real account
    import boto3
    from moto import mock_aws

    figures: dict[str, object] = {
        "workers": len(WORKERS),
        "answers per object (fixed, adaptive maximum)": MAXIMUM,
    }
    figures["adaptive confidence threshold"] = args.threshold
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        for rate in (0.1, 0.25):
            figures.update(classification(dynamodb, args.objects, rate, args.seed, args.threshold))
        figures.update(boxes(dynamodb, args.images, args.seed, args.threshold))
    return figures


if __name__ == "__main__":
    print_figures(main())
