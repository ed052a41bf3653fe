"""The image-classification run (and ``build_run``, which also hands out the detection run).

Built in the pipeline's order: images, labeling (human iterations, machine labels, failures), the
split, training, batch transform and evaluation. Every step draws from one seeded ``random.Random``
in a fixed order, so a seed always gives the same run.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.lambdas.recorded_run.common import (
    BUCKET,
    RecordedRun,
    class_names_for,
    digit_image,
    gt_date,
    iso,
    probabilities,
    run_start,
    synthetic_image,
    training_log,
)
from tests.lambdas.recorded_run.detection import build_detection


def build_run(
    *,
    classes: int = 10,
    per_class: list[int] | None = None,
    outcome: str = "succeeded",
    failed_at: str | None = None,
    hostile_names: bool = False,
    detection: bool = False,
    augmented: bool = False,
    ledger_costs: bool = True,
    auto_annotation_files: bool = True,
    run_id: str | None = None,
    seed: int = 7,
) -> RecordedRun:
    """Generate a run; ``per_class`` gives the number of images of each class (0 and 1 allowed).

    ``failed_at``: ``split`` (no training, no predictions) or ``training`` (a partial training log).
    ``augmented``: the dropped manifest carried labels (no labeling job). ``ledger_costs``: the ledger
    holds the labeling counters and costs (else the report computes them). ``auto_annotation_files``:
    automated labeling's per-iteration files exist (else machine labels are placed by creation date).
    """
    if detection:
        return build_detection(outcome=outcome, run_id=run_id or "birds-00000000000000d1", seed=seed)
    start = run_start()
    rng = random.Random(seed)
    names = class_names_for(classes, hostile_names)
    counts = per_class if per_class is not None else [6] * classes
    assert len(counts) == classes
    draft = _Draft(
        run_id or f"digits{classes}-{seed:016x}", classes, counts, names, outcome, augmented, start, rng
    )
    _add_images(draft, digit_image if classes <= 10 and not hostile_names else synthetic_image)
    labels = _label(draft)
    manifest_uri = _write_labeling_outputs(draft, labels, auto_annotation_files)
    validation, train = _split(draft)
    state = _state(draft, labels, manifest_uri)
    ledger = _ledger(draft, state)
    if ledger_costs and not augmented:
        _record_costs(draft, labels, state, ledger)
    run = RecordedRun(draft.run_id, outcome, state, ledger, draft.objects, names, started=start)
    if not _split_step(draft, run, failed_at, len(train), len(validation)):
        return run
    if not _train_step(draft, run, failed_at):
        return run
    _transform_and_evaluate(draft, run, validation)
    return run


@dataclass
class _Draft:
    """A classification run being generated: its options, clock and draw, and the objects so far."""

    run_id: str
    classes: int
    counts: list[int]
    names: list[str]
    outcome: str
    augmented: bool
    start: datetime
    rng: random.Random
    objects: dict[str, bytes] = field(default_factory=dict)
    items: list[tuple[str, int]] = field(default_factory=list)  # (image URI, class), shuffled

    @property
    def job(self) -> str:
        return f"{self.run_id}-label-0"

    @property
    def root(self) -> str:
        return f"labeling/{self.job}/"

    @property
    def images_prefix(self) -> str:
        return f"images/{self.run_id}/"

    @property
    def split_prefix(self) -> str:
        return f"splits/{self.run_id}/"

    def at(self, **offset: int) -> str:
        """The ledger timestamp ``offset`` after the run's start."""
        return iso(self.start + timedelta(**offset))


@dataclass
class _Labels:
    """The labeling job's result: output-manifest lines, per-iteration consolidations, machine labels."""

    lines: list[str] = field(default_factory=list)
    consolidated: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: {1: [], 2: [], 3: []})
    auto_annotations: list[str] = field(default_factory=list)
    failed_positions: set[int] = field(default_factory=set)
    human: int = 0
    machine: int = 0


def _add_images(draft: _Draft, image: Callable[[int, int], bytes]) -> None:
    """``counts`` images of each class into the objects, then shuffled into ``items``."""
    for class_id, count in enumerate(draft.counts):
        for n in range(count):
            key = f"{draft.images_prefix}img-{len(draft.items):05d}.png"
            draft.objects[key] = image(class_id, n)
            draft.items.append((f"s3://{BUCKET}/{key}", class_id))
    draft.rng.shuffle(draft.items)


def _iteration_ends(start: datetime) -> dict[int, datetime]:
    """When each human labeling iteration ended."""
    return {
        1: start + timedelta(minutes=8),
        2: start + timedelta(minutes=20),
        3: start + timedelta(minutes=38),
    }


def _label(draft: _Draft) -> _Labels:
    """Iterations 1 and 2 human, then machine labels (iteration 0), then iteration 3 human; two objects
    fail (when there are more than six); about one label in twenty is wrong."""
    total = len(draft.items)
    iteration_of = {}
    for position, _item in enumerate(draft.items):
        share = position / max(1, total)
        iteration_of[position] = 1 if share < 0.15 else 2 if share < 0.5 else 0 if share < 0.85 else 3
    iteration_end = _iteration_ends(draft.start)
    labels = _Labels(failed_positions={total - 1, total // 2} if total > 6 else set())
    job_name = f"labeling-job/{draft.job}"
    for position, (ref, class_id) in enumerate(draft.items):
        line: dict[str, Any] = {"source-ref": ref}
        if position in labels.failed_positions:
            line["category-metadata"] = {
                "failure-reason": "ClientError: annotation timed out",
                "job-name": job_name,
            }
            labels.lines.append(json.dumps(line))
            continue
        iteration = iteration_of[position]
        machine_label = iteration == 0 and not draft.augmented
        rng = draft.rng
        label = class_id if rng.random() > 0.05 or draft.classes == 1 else rng.randrange(draft.classes)
        created = (
            draft.start + timedelta(minutes=25)
            if machine_label
            else iteration_end.get(iteration, draft.start)
        )
        metadata = {
            "class-name": draft.names[label],
            "confidence": round(rng.uniform(0.55, 0.93) if machine_label else rng.uniform(0.7, 0.99), 2),
            "human-annotated": "no" if machine_label else "yes",
            "creation-date": gt_date(created),
            "job-name": job_name,
            "type": "groundtruth/image-classification",
        }
        line.update({"category": label, "category-metadata": metadata})
        labels.lines.append(json.dumps(line))
        content = {"category": label, "category-metadata": metadata}
        if machine_label:
            labels.machine += 1
            labels.auto_annotations.append(f"{position} {json.dumps(content)}")
        else:
            labels.human += 1
            labels.consolidated[max(1, iteration)].append(
                {
                    "datasetObjectId": str(position),
                    "dataObject": {"s3Uri": ref},
                    "consolidatedAnnotation": {"content": content},
                }
            )
    return labels


def _write_labeling_outputs(draft: _Draft, labels: _Labels, auto_annotation_files: bool) -> str:
    """The labeled manifest (the dropped one when augmented, else the job's output with its
    auto-annotation and consolidation files); return its URI."""
    manifest = ("\n".join(labels.lines) + "\n").encode()
    if draft.augmented:
        draft.objects[f"incoming/{draft.run_id}.manifest"] = manifest
        return f"s3://{BUCKET}/incoming/{draft.run_id}.manifest"
    root = draft.root
    draft.objects[f"{root}manifests/output/output.manifest"] = manifest
    if auto_annotation_files and labels.auto_annotations:
        key = f"{root}activelearning/auto-annotation/3/output/auto_annotator_output.txt"
        draft.objects[key] = ("\n".join(labels.auto_annotations) + "\n").encode()
    iteration_end = _iteration_ends(draft.start)
    for iteration, entries in labels.consolidated.items():
        if entries:
            stamp = iteration_end[iteration].strftime("%Y-%m-%d_%H:%M:%S")
            key = f"{root}annotations/consolidated-annotation/consolidation-response/iteration-{iteration}/{stamp}.json"
            draft.objects[key] = json.dumps(entries).encode()
    return f"s3://{BUCKET}/{root}manifests/output/output.manifest"


def _split(draft: _Draft) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Classes with one image put it in validation; otherwise every fifth image. Writes the validation
    manifests; returns (validation, train)."""
    validation: list[tuple[str, int]] = []
    train: list[tuple[str, int]] = []
    seen: dict[int, int] = {}
    for ref, class_id in draft.items:
        seen[class_id] = seen.get(class_id, 0) + 1
        (validation if draft.counts[class_id] == 1 or seen[class_id] % 5 == 1 else train).append(
            (ref, class_id)
        )
    names = draft.names
    draft.objects[draft.split_prefix + "validation.manifest"] = "".join(
        json.dumps({"source-ref": ref, "category": c, "category-metadata": {"class-name": names[c]}}) + "\n"
        for ref, c in validation
    ).encode()
    draft.objects[draft.split_prefix + "validation-images.manifest"] = json.dumps(
        [{"prefix": f"s3://{BUCKET}/{draft.images_prefix}"}]
        + [ref.rsplit("/", 1)[-1] for ref, _ in validation]
    ).encode()
    return validation, train


def _state(draft: _Draft, labels: _Labels, manifest_uri: str) -> dict[str, Any]:
    """The execution state once labeling is done."""
    run_id = draft.run_id
    state: dict[str, Any] = {
        "run_id": run_id,
        "input": {
            "bucket": BUCKET,
            "key": f"incoming/{run_id}.manifest",
            "manifest_uri": f"s3://{BUCKET}/incoming/{run_id}.manifest",
        },
        "manifest": {
            "kind": "augmented" if draft.augmented else "input",
            "label_attribute": "category",
            "line_count": len(draft.items),
        },
        "config": {
            "task_type": "image-classification",
            "data_bucket": BUCKET,
            "label_categories": draft.names,
            "labeling": {
                "label_attribute": "category",
                "output_path": f"s3://{BUCKET}/labeling/",
                "workers_per_object": 3,
            },
            "quality_threshold": 0.99 if draft.outcome == "rejected" else 0.5,
        },
        "augmented": {"manifest_uri": manifest_uri},
    }
    if not draft.augmented:
        state["labeling"] = {
            "job_arn": f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{draft.job}",
            "output_uri": manifest_uri,
            "counters": {
                "TotalLabeled": labels.human + labels.machine,
                "HumanLabeled": labels.human,
                "MachineLabeled": labels.machine,
                "FailedNonRetryableError": len(labels.failed_positions),
                "Unlabeled": 0,
            },
        }
    return state


def _ledger(draft: _Draft, state: dict[str, Any]) -> dict[str, Any]:
    """The runs-ledger item once labeling is done (its ``steps`` grow as the run goes on)."""
    steps: dict[str, Any] = {}
    if not draft.augmented:
        steps["label"] = {
            "status": "Completed",
            "job_name": draft.job,
            "started_at": iso(draft.start),
            "ended_at": draft.at(minutes=39),
        }
    return {
        "run_id": draft.run_id,
        "status": {"succeeded": "SUCCEEDED", "rejected": "REJECTED", "failed": "FAILED"}[draft.outcome],
        "input_bucket": BUCKET,
        "input_key": f"incoming/{draft.run_id}.manifest",
        "manifest_kind": state["manifest"]["kind"],
        "task_type": "image-classification",
        "created_at": iso(draft.start - timedelta(seconds=20)),
        "updated_at": draft.at(minutes=72),
        "steps": steps,
    }


def _record_costs(draft: _Draft, labels: _Labels, state: dict[str, Any], ledger: dict[str, Any]) -> None:
    """The labeling counters and costs, as start_run and notify "labeled" record them (docs/design.md,
    "Runs ledger")."""
    human, machine = labels.human, labels.machine
    prices = {
        "per_object_usd": 0.08,
        "per_answer_usd": {"image-classification": 0.012},
        "per_machine_label_usd": 0.08,
    }
    estimate = round(len(draft.items) * 0.116, 2)
    state["config"]["labeling"].update({"prices": prices, "estimated_cost_usd": estimate, "budget_usd": 50.0})
    counters = {
        "human": human,
        "machine": machine,
        "total": human + machine,
        "failed": len(labels.failed_positions),
        "unlabeled": 0,
    }
    cost = {
        "estimated_usd": estimate,
        "budget_usd": 50.0,
        "actual_usd": round(human * 0.116 + machine * 0.08, 2),
        "human_usd": round(human * 0.116, 2),
        "machine_usd": round(machine * 0.08, 2),
        "prices": prices,
    }
    ledger.update({"label_counters": counters, "labeling_cost": cost})
    ledger["final_active_learning_model_arn"] = (
        f"arn:aws:sagemaker:us-east-1:123456789012:model/{draft.job}-al-model"
    )
    state["labeling_record"] = {"status": "RECORDED", "label_counters": counters, "labeling_cost": cost}


def _split_step(draft: _Draft, run: RecordedRun, failed_at: str | None, train: int, validation: int) -> bool:
    """Record the split (failed when ``failed_at`` is ``split``); return whether the run goes on."""
    steps = run.ledger_item["steps"]
    steps["split"] = {
        "status": "Completed",
        "started_at": draft.at(minutes=39, seconds=10),
        "ended_at": draft.at(minutes=40),
    }
    if failed_at == "split":
        steps["split"] = {
            "status": "FAILED",
            "started_at": steps["split"]["started_at"],
            "ended_at": steps["split"]["ended_at"],
            "failure_reason": "SplitError: validation images come from more than one S3 bucket",
        }
        run.state["failure"] = {
            "step": "split",
            "error": "SplitError",
            "cause": "validation images come from more than one S3 bucket <b>copy them</b>",
        }
        run.ledger_item["failure"] = run.state["failure"]
        run.ledger_item["ended_at"] = draft.at(minutes=41)
        return False
    prefix = f"s3://{BUCKET}/{draft.split_prefix}"
    run.state["split"] = {
        "train_uri": f"{prefix}train.manifest",
        "validation_uri": f"{prefix}validation.manifest",
        "validation_images_uri": f"{prefix}validation-images.manifest",
        "transform_output_uri": f"s3://{BUCKET}/transform/{draft.run_id}/",
        "counts": {"train": train, "validation": validation},
        "class_names": draft.names,
    }
    return True


def _train_step(draft: _Draft, run: RecordedRun, failed_at: str | None) -> bool:
    """Record training and its log (two epochs then out of memory when ``failed_at`` is ``training``,
    else ten); return whether the run goes on."""
    steps = run.ledger_item["steps"]
    training_job = f"{draft.run_id}-train-0"
    run.training_job = training_job
    epochs = 2 if failed_at == "training" else 10
    run.log_lines = training_log(epochs, draft.rng, detection=False, start=draft.start)
    if failed_at == "training":
        steps["train"] = {
            "status": "Failed",
            "job_name": training_job,
            "started_at": draft.at(minutes=41),
            "ended_at": draft.at(minutes=45),
            "failure_reason": "AlgorithmError: out of memory",
        }
        run.state["failure"] = {
            "step": "training",
            "error": "SageMaker.AmazonSageMakerException",
            "cause": "AlgorithmError: out of memory",
        }
        run.ledger_item["failure"] = run.state["failure"]
        return False
    steps["train"] = {
        "status": "Completed",
        "job_name": training_job,
        "started_at": draft.at(minutes=41),
        "ended_at": draft.at(minutes=55),
    }
    run.state["training"] = {
        "job_name": training_job,
        "model_artifacts": f"s3://{BUCKET}/models/{training_job}/output/model.tar.gz",
    }
    return True


def _transform_and_evaluate(draft: _Draft, run: RecordedRun, validation: list[tuple[str, int]]) -> None:
    """Write the transform outputs (about 80 % right, one image without output; the rejected run's
    first prediction wrong) and ``metrics.json``; record the remaining steps."""
    run_id, classes, rng, steps = draft.run_id, draft.classes, draft.rng, run.ledger_item["steps"]
    run.state["transform"] = {"job_name": f"{run_id}-xform-0"}
    steps["xform"] = {
        "status": "Completed",
        "job_name": f"{run_id}-xform-0",
        "started_at": draft.at(minutes=56),
        "ended_at": draft.at(minutes=60),
    }
    pairs: list[tuple[int, int | None]] = []
    for index, (ref, class_id) in enumerate(validation):
        if index == 3:  # one image without transform output
            pairs.append((class_id, None))
            continue
        predicted = class_id if classes == 1 or rng.random() < 0.8 else rng.randrange(classes)
        if draft.outcome == "rejected" and index == 0 and classes > 1:
            predicted = (class_id + 1) % classes  # below the 0.99 threshold whatever the draw
        key = f"transform/{run_id}/{ref.rsplit('/', 1)[-1]}.out"
        draft.objects[key] = json.dumps({"prediction": probabilities(rng, classes, predicted)}).encode()
        pairs.append((class_id, predicted))
    from gtpipe_shared.metrics import classification_metrics

    report = classification_metrics(pairs, draft.names)
    threshold = run.state["config"]["quality_threshold"]
    report.update(
        {
            "metric_name": "accuracy",
            "metric_value": report["accuracy"],
            "run_id": run_id,
            "task_type": "image-classification",
            "quality_threshold": threshold,
            "passed": report["accuracy"] >= threshold,
        }
    )
    draft.objects[f"runs/{run_id}/metrics.json"] = json.dumps(report).encode()
    run.state["evaluation"] = {
        "metrics_uri": f"s3://{BUCKET}/runs/{run_id}/metrics.json",
        "metric_name": "accuracy",
        "metric_value": report["accuracy"],
        "passed": report["passed"],
    }
    steps["evaluate"] = {
        "status": "Completed",
        "started_at": draft.at(minutes=60, seconds=5),
        "ended_at": draft.at(minutes=61),
    }
    if draft.outcome == "succeeded":
        steps["publish"] = {"status": "Completed", "ended_at": draft.at(minutes=70)}
    steps["report"] = {"status": "InProgress", "started_at": draft.at(minutes=71)}
    run.ledger_item["ended_at"] = draft.at(minutes=72)
