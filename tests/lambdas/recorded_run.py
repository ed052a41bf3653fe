"""A recorded pipeline run, generated: everything the report step reads, as the pipeline writes it.

``build_run`` returns the objects of the data bucket (images, the labeling job's output manifest and
per-iteration consolidation files, the split's manifests, batch-transform outputs, ``metrics.json``),
the runs-ledger item, the execution state and the training job's CloudWatch log lines. ``install``
puts them into (moto's) S3, DynamoDB and CloudWatch Logs.

Generating the run instead of committing it keeps the repository free of binaries and lets tests
vary the shape (1 to 50 classes, empty and single-image classes, hostile class names, failed and
rejected runs, object detection).

Render a sample report into a folder (``index.html`` + ``figures/``)::

    .venv/bin/python -m tests.lambdas.recorded_run /tmp/sample-report [--classes 10] [--detection]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from local.sagemaker.training_logs import put_log_events

BUCKET = "gtpipe-data-bucket"
RUNS_TABLE = "gtpipe-runs"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
HOSTILE_NAMES = ['<script>alert("x")</script>', "$x^2$ & co", "tab\tnew\nline"]
DETECTION_CLASSES = ["bird", "tire", "licence plate (rear, EU format, any country)", "unused class"]


def run_start() -> datetime:
    """When a generated run started: two days before now, on the hour.

    Relative to the clock, never a fixed date: CloudWatch Logs (and moto) silently drop events older
    than 14 days, so a fixed start would make the report lose its training curves some day."""
    return (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


def iso(moment: datetime) -> str:
    """The ledger's fixed-width timestamp."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def gt_date(moment: datetime) -> str:
    """Ground Truth's creation-date form (naive UTC, microseconds)."""
    return moment.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%f")


@dataclass
class RecordedRun:
    """One generated run (see the module docstring)."""

    run_id: str
    outcome: str
    state: dict[str, Any]
    ledger_item: dict[str, Any]
    objects: dict[str, bytes]
    class_names: list[str]
    training_job: str | None = None
    log_lines: list[str] = field(default_factory=list)
    started: datetime = field(default_factory=run_start)

    def event(self) -> dict[str, Any]:
        """The report Lambda's event for this run."""
        return {"run_id": self.run_id, "outcome": self.outcome, "state": self.state}


def class_names_for(count: int, hostile: bool = False) -> list[str]:
    """Digits for up to 10 classes, else generated names (some long); hostile names first if asked."""
    if count <= 10 and not hostile:
        return DIGITS[:count]
    names = []
    for index in range(count):
        if index % 7 == 3:
            names.append(f"class {index:02d} with a rather long descriptive name that keeps going")
        else:
            names.append(f"class {index:02d}")
    if hostile:
        names[: len(HOSTILE_NAMES)] = HOSTILE_NAMES[:count]
    return names


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


_DIGITS_DATA: Any = None


def digit_image(class_id: int, index: int) -> bytes:
    """A 32x32 grayscale PNG of a scikit-learn digit of class ``class_id`` (8x8 upscaled)."""
    global _DIGITS_DATA
    if _DIGITS_DATA is None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        _DIGITS_DATA = {
            d: [img for img, t in zip(digits.images, digits.target, strict=True) if t == d] for d in range(10)
        }
    samples = _DIGITS_DATA[class_id % 10]
    pixels = (samples[index % len(samples)] * (255 / 16)).astype("uint8")
    return _png(Image.fromarray(255 - pixels, mode="L").resize((32, 32), Image.Resampling.NEAREST))


def synthetic_image(class_id: int, index: int) -> bytes:
    """A 40x40 PNG whose color and mark depend on the class (fast stand-in for many classes)."""
    hue = (class_id * 47) % 255
    image = Image.new("HSV", (40, 40), (hue, 120, 230)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.text((6, 12), f"{class_id}", fill="black")
    draw.rectangle([2 + index % 5, 2, 37, 37 - index % 4], outline="black")
    return _png(image)


def _probabilities(rng: random.Random, classes: int, predicted: int) -> list[float]:
    top = rng.uniform(0.45, 0.97)
    rest = [rng.random() for _ in range(classes - 1)]
    scale = (1 - top) / (sum(rest) or 1)
    probabilities = [value * scale for value in rest]
    probabilities.insert(predicted, top)
    return [round(p, 6) for p in probabilities]


def _training_log(epochs: int, rng: random.Random, detection: bool, start: datetime) -> list[str]:
    first = (start + timedelta(minutes=42)).strftime("[%m/%d/%Y %H:%M:%S INFO]")
    lines = [f"{first} Final configuration: {{'epochs': '{epochs}'}}"]
    for epoch in range(epochs):
        stamp = (start + timedelta(minutes=43 + epoch)).strftime("[%m/%d/%Y %H:%M:%S INFO]")
        progress = (epoch + 1) / epochs
        if detection:
            for batch in (10, 20):
                lines.append(
                    f"{stamp} #quality_metric: host=algo-1, epoch={epoch}, batch={batch} train cross_entropy "
                    f"<loss>=({2.5 - 1.6 * progress + rng.uniform(-0.05, 0.05):.4f})"
                )
                lines.append(
                    f"{stamp} #quality_metric: host=algo-1, epoch={epoch}, batch={batch} train smooth_l1 "
                    f"<loss>=({1.2 - 0.8 * progress + rng.uniform(-0.03, 0.03):.4f})"
                )
            lines.append(
                f"{stamp} #quality_metric: host=algo-1, epoch={epoch}, validation mAP <score>=({0.1 + 0.6 * progress:.4f})"
            )
        else:
            lines.append(f"{stamp} Epoch[{epoch}] Train-accuracy={0.3 + 0.65 * progress:.6f}")
            lines.append(f"{stamp} Epoch[{epoch}] Train-loss={2.2 - 2.0 * progress:.6f}")
            lines.append(f"{stamp} Epoch[{epoch}] Time cost=1.234")
            lines.append(f"{stamp} Epoch[{epoch}] Validation-accuracy={0.25 + 0.6 * progress:.6f}")
            lines.append(f"{stamp} Epoch[{epoch}] Validation-loss={2.3 - 1.8 * progress:.6f}")
    return lines


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
        return _build_detection(outcome=outcome, run_id=run_id or "birds-00000000000000d1", seed=seed)
    start = run_start()
    rng = random.Random(seed)
    names = class_names_for(classes, hostile_names)
    counts = per_class if per_class is not None else [6] * classes
    assert len(counts) == classes
    run_id = run_id or f"digits{classes}-{seed:016x}"
    job = f"{run_id}-label-0"
    root = f"labeling/{job}/"
    images_prefix = f"images/{run_id}/"
    image = digit_image if classes <= 10 and not hostile_names else synthetic_image
    objects: dict[str, bytes] = {}
    items: list[tuple[str, int]] = []
    for class_id, count in enumerate(counts):
        for n in range(count):
            key = f"{images_prefix}img-{len(items):05d}.png"
            objects[key] = image(class_id, n)
            items.append((f"s3://{BUCKET}/{key}", class_id))
    rng.shuffle(items)
    # Labeling: iteration 1 and 2 human, then machine labels, then iteration 3 human; two objects fail.
    total = len(items)
    iteration_of = {}
    for position, _item in enumerate(items):
        share = position / max(1, total)
        iteration_of[position] = 1 if share < 0.15 else 2 if share < 0.5 else 0 if share < 0.85 else 3
    iteration_end = {
        1: start + timedelta(minutes=8),
        2: start + timedelta(minutes=20),
        3: start + timedelta(minutes=38),
    }
    lines: list[str] = []
    consolidated: dict[int, list[dict[str, Any]]] = {1: [], 2: [], 3: []}
    auto_annotations: list[str] = []
    failed_positions = {total - 1, total // 2} if total > 6 else set()
    human = machine = 0
    for position, (ref, class_id) in enumerate(items):
        line: dict[str, Any] = {"source-ref": ref}
        if position in failed_positions:
            line["category-metadata"] = {
                "failure-reason": "ClientError: annotation timed out",
                "job-name": f"labeling-job/{job}",
            }
            lines.append(json.dumps(line))
            continue
        iteration = iteration_of[position]
        machine_label = iteration == 0 and not augmented
        label = class_id if rng.random() > 0.05 or classes == 1 else rng.randrange(classes)
        created = start + timedelta(minutes=25) if machine_label else iteration_end.get(iteration, start)
        metadata = {
            "class-name": names[label],
            "confidence": round(rng.uniform(0.55, 0.93) if machine_label else rng.uniform(0.7, 0.99), 2),
            "human-annotated": "no" if machine_label else "yes",
            "creation-date": gt_date(created),
            "job-name": f"labeling-job/{job}",
            "type": "groundtruth/image-classification",
        }
        line.update({"category": label, "category-metadata": metadata})
        lines.append(json.dumps(line))
        if machine_label:
            machine += 1
            content = {"category": label, "category-metadata": metadata}
            auto_annotations.append(f"{position} {json.dumps(content)}")
        else:
            human += 1
            consolidated[max(1, iteration)].append(
                {
                    "datasetObjectId": str(position),
                    "dataObject": {"s3Uri": ref},
                    "consolidatedAnnotation": {"content": {"category": label, "category-metadata": metadata}},
                }
            )
    manifest = ("\n".join(lines) + "\n").encode()
    if augmented:
        manifest_uri = f"s3://{BUCKET}/incoming/{run_id}.manifest"
        objects[f"incoming/{run_id}.manifest"] = manifest
    else:
        manifest_uri = f"s3://{BUCKET}/{root}manifests/output/output.manifest"
        objects[f"{root}manifests/output/output.manifest"] = manifest
        if auto_annotation_files and auto_annotations:
            key = f"{root}activelearning/auto-annotation/3/output/auto_annotator_output.txt"
            objects[key] = ("\n".join(auto_annotations) + "\n").encode()
        for iteration, entries in consolidated.items():
            if entries:
                stamp = iteration_end[iteration].strftime("%Y-%m-%d_%H:%M:%S")
                key = f"{root}annotations/consolidated-annotation/consolidation-response/iteration-{iteration}/{stamp}.json"
                objects[key] = json.dumps(entries).encode()
    # Split: classes with one image put it in validation; otherwise every fifth image.
    validation: list[tuple[str, int]] = []
    train: list[tuple[str, int]] = []
    seen: dict[int, int] = {}
    for ref, class_id in items:
        seen[class_id] = seen.get(class_id, 0) + 1
        (validation if counts[class_id] == 1 or seen[class_id] % 5 == 1 else train).append((ref, class_id))
    split_prefix = f"splits/{run_id}/"
    objects[split_prefix + "validation.manifest"] = "".join(
        json.dumps({"source-ref": ref, "category": c, "category-metadata": {"class-name": names[c]}}) + "\n"
        for ref, c in validation
    ).encode()
    objects[split_prefix + "validation-images.manifest"] = json.dumps(
        [{"prefix": f"s3://{BUCKET}/{images_prefix}"}] + [ref.rsplit("/", 1)[-1] for ref, _ in validation]
    ).encode()
    state: dict[str, Any] = {
        "run_id": run_id,
        "input": {
            "bucket": BUCKET,
            "key": f"incoming/{run_id}.manifest",
            "manifest_uri": f"s3://{BUCKET}/incoming/{run_id}.manifest",
        },
        "manifest": {
            "kind": "augmented" if augmented else "input",
            "label_attribute": "category",
            "line_count": total,
        },
        "config": {
            "task_type": "image-classification",
            "data_bucket": BUCKET,
            "label_categories": names,
            "labeling": {
                "label_attribute": "category",
                "output_path": f"s3://{BUCKET}/labeling/",
                "workers_per_object": 3,
            },
            "quality_threshold": 0.99 if outcome == "rejected" else 0.5,
        },
        "augmented": {"manifest_uri": manifest_uri},
    }
    if not augmented:
        state["labeling"] = {
            "job_arn": f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{job}",
            "output_uri": manifest_uri,
            "counters": {
                "TotalLabeled": human + machine,
                "HumanLabeled": human,
                "MachineLabeled": machine,
                "FailedNonRetryableError": len(failed_positions),
                "Unlabeled": 0,
            },
        }
    steps: dict[str, Any] = {}
    if not augmented:
        steps["label"] = {
            "status": "Completed",
            "job_name": job,
            "started_at": iso(start),
            "ended_at": iso(start + timedelta(minutes=39)),
        }
    ledger: dict[str, Any] = {
        "run_id": run_id,
        "status": {"succeeded": "SUCCEEDED", "rejected": "REJECTED", "failed": "FAILED"}[outcome],
        "input_bucket": BUCKET,
        "input_key": f"incoming/{run_id}.manifest",
        "manifest_kind": state["manifest"]["kind"],
        "task_type": "image-classification",
        "created_at": iso(start - timedelta(seconds=20)),
        "updated_at": iso(start + timedelta(minutes=72)),
        "steps": steps,
    }
    if ledger_costs and not augmented:
        # As start_run and notify "labeled" record them (docs/design.md, "Runs ledger").
        prices = {
            "per_object_usd": 0.08,
            "per_answer_usd": {"image-classification": 0.012},
            "per_machine_label_usd": 0.08,
        }
        estimate = round(total * 0.116, 2)
        state["config"]["labeling"].update(
            {"prices": prices, "estimated_cost_usd": estimate, "budget_usd": 50.0}
        )
        counters = {
            "human": human,
            "machine": machine,
            "total": human + machine,
            "failed": len(failed_positions),
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
            f"arn:aws:sagemaker:us-east-1:123456789012:model/{job}-al-model"
        )
        state["labeling_record"] = {"status": "RECORDED", "label_counters": counters, "labeling_cost": cost}
    run = RecordedRun(run_id, outcome, state, ledger, objects, names, started=start)
    steps["split"] = {
        "status": "Completed",
        "started_at": iso(start + timedelta(minutes=39, seconds=10)),
        "ended_at": iso(start + timedelta(minutes=40)),
    }
    if failed_at == "split":
        steps["split"] = {
            "status": "FAILED",
            "started_at": steps["split"]["started_at"],
            "ended_at": steps["split"]["ended_at"],
            "failure_reason": "SplitError: validation images come from more than one S3 bucket",
        }
        state["failure"] = {
            "step": "split",
            "error": "SplitError",
            "cause": "validation images come from more than one S3 bucket <b>copy them</b>",
        }
        ledger["failure"] = state["failure"]
        ledger["ended_at"] = iso(start + timedelta(minutes=41))
        return run
    state["split"] = {
        "train_uri": f"s3://{BUCKET}/{split_prefix}train.manifest",
        "validation_uri": f"s3://{BUCKET}/{split_prefix}validation.manifest",
        "validation_images_uri": f"s3://{BUCKET}/{split_prefix}validation-images.manifest",
        "transform_output_uri": f"s3://{BUCKET}/transform/{run_id}/",
        "counts": {"train": len(train), "validation": len(validation)},
        "class_names": names,
    }
    training_job = f"{run_id}-train-0"
    run.training_job = training_job
    epochs = 2 if failed_at == "training" else 10
    run.log_lines = _training_log(epochs, rng, detection=False, start=start)
    if failed_at == "training":
        steps["train"] = {
            "status": "Failed",
            "job_name": training_job,
            "started_at": iso(start + timedelta(minutes=41)),
            "ended_at": iso(start + timedelta(minutes=45)),
            "failure_reason": "AlgorithmError: out of memory",
        }
        state["failure"] = {
            "step": "training",
            "error": "SageMaker.AmazonSageMakerException",
            "cause": "AlgorithmError: out of memory",
        }
        ledger["failure"] = state["failure"]
        return run
    steps["train"] = {
        "status": "Completed",
        "job_name": training_job,
        "started_at": iso(start + timedelta(minutes=41)),
        "ended_at": iso(start + timedelta(minutes=55)),
    }
    state["training"] = {
        "job_name": training_job,
        "model_artifacts": f"s3://{BUCKET}/models/{training_job}/output/model.tar.gz",
    }
    state["transform"] = {"job_name": f"{run_id}-xform-0"}
    steps["xform"] = {
        "status": "Completed",
        "job_name": f"{run_id}-xform-0",
        "started_at": iso(start + timedelta(minutes=56)),
        "ended_at": iso(start + timedelta(minutes=60)),
    }
    pairs: list[tuple[int, int | None]] = []
    for index, (ref, class_id) in enumerate(validation):
        if index == 3:  # one image without transform output
            pairs.append((class_id, None))
            continue
        predicted = class_id if classes == 1 or rng.random() < 0.8 else rng.randrange(classes)
        if outcome == "rejected" and index == 0 and classes > 1:
            predicted = (class_id + 1) % classes  # below the 0.99 threshold whatever the draw
        key = f"transform/{run_id}/{ref.rsplit('/', 1)[-1]}.out"
        objects[key] = json.dumps({"prediction": _probabilities(rng, classes, predicted)}).encode()
        pairs.append((class_id, predicted))
    from gtpipe_shared.metrics import classification_metrics

    report = classification_metrics(pairs, names)
    threshold = state["config"]["quality_threshold"]
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
    objects[f"runs/{run_id}/metrics.json"] = json.dumps(report).encode()
    state["evaluation"] = {
        "metrics_uri": f"s3://{BUCKET}/runs/{run_id}/metrics.json",
        "metric_name": "accuracy",
        "metric_value": report["accuracy"],
        "passed": report["passed"],
    }
    steps["evaluate"] = {
        "status": "Completed",
        "started_at": iso(start + timedelta(minutes=60, seconds=5)),
        "ended_at": iso(start + timedelta(minutes=61)),
    }
    if outcome == "succeeded":
        steps["publish"] = {"status": "Completed", "ended_at": iso(start + timedelta(minutes=70))}
    steps["report"] = {"status": "InProgress", "started_at": iso(start + timedelta(minutes=71))}
    ledger["ended_at"] = iso(start + timedelta(minutes=72))
    return run


def _build_detection(*, outcome: str, run_id: str, seed: int) -> RecordedRun:
    start = run_start()
    rng = random.Random(seed)
    names = list(DETECTION_CLASSES)
    colors = ["#8d6e63", "#78909c", "#fdd835"]
    objects: dict[str, bytes] = {}
    lines: list[str] = []
    validation_lines: list[str] = []
    refs: list[str] = []
    labels: list[dict[str, Any]] = []
    for index in range(24):
        width, height = 96, 72
        image = Image.new("RGB", (width, height), (235, 235, 225))
        draw = ImageDraw.Draw(image)
        annotations = []
        for _ in range(rng.randint(1, 3)):
            class_id = rng.randrange(3)
            w, h = rng.randint(14, 34), rng.randint(12, 28)
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            draw.rectangle([left, top, left + w - 1, top + h - 1], fill=colors[class_id])
            annotations.append({"class_id": class_id, "left": left, "top": top, "width": w, "height": h})
        key = f"images/{run_id}/det-{index:03d}.png"
        objects[key] = _png(image)
        ref = f"s3://{BUCKET}/{key}"
        label = {"image_size": [{"width": width, "height": height, "depth": 3}], "annotations": annotations}
        human = index % 3 != 0
        metadata = {
            "objects": [{"confidence": round(rng.uniform(0.6, 0.95), 2)} for _ in annotations],
            "class-map": {str(i): n for i, n in enumerate(names)},
            "type": "groundtruth/object-detection",
            "human-annotated": "yes" if human else "no",
            "creation-date": gt_date(start + timedelta(minutes=10)),
            "job-name": f"labeling-job/{run_id}-label-0",
        }
        line = json.dumps({"source-ref": ref, "category": label, "category-metadata": metadata})
        lines.append(line)
        if index % 3 == 1:
            validation_lines.append(line)
            refs.append(ref)
            labels.append(label)
    job = f"{run_id}-label-0"
    manifest_uri = f"s3://{BUCKET}/labeling/{job}/manifests/output/output.manifest"
    objects[f"labeling/{job}/manifests/output/output.manifest"] = ("\n".join(lines) + "\n").encode()
    split_prefix = f"splits/{run_id}/"
    objects[split_prefix + "validation.manifest"] = ("\n".join(validation_lines) + "\n").encode()
    objects[split_prefix + "validation-images.manifest"] = json.dumps(
        [{"prefix": f"s3://{BUCKET}/images/{run_id}/"}] + [r.rsplit("/", 1)[-1] for r in refs]
    ).encode()
    from gtpipe_shared.metrics import detection_metrics, ground_truth_boxes

    images = []
    for ref, label in zip(refs, labels, strict=True):
        truth = ground_truth_boxes(label)
        detections = []
        for class_id, (x0, y0, x1, y1) in truth:
            if rng.random() < 0.75:
                jitter = [rng.uniform(-0.02, 0.02) for _ in range(4)]
                box = [min(1.0, max(0.0, v + j)) for v, j in zip((x0, y0, x1, y1), jitter, strict=True)]
                detections.append([class_id, round(rng.uniform(0.55, 0.99), 3), *box])
        if rng.random() < 0.4:
            x, y = rng.uniform(0, 0.6), rng.uniform(0, 0.6)
            detections.append([rng.randrange(3), round(rng.uniform(0.35, 0.7), 3), x, y, x + 0.3, y + 0.3])
        detections.append([0, 0.05, 0.1, 0.1, 0.2, 0.2])  # below the display threshold
        detections.append([-1, 0.0, 0, 0, 0, 0])  # padding, as the algorithm writes it
        key = f"transform/{run_id}/{ref.rsplit('/', 1)[-1]}.out"
        objects[key] = json.dumps({"prediction": detections}).encode()
        images.append((truth, [(int(d[0]), float(d[1]), tuple(d[2:6])) for d in detections if d[0] >= 0]))
    report = detection_metrics(images, names)
    threshold = 0.9 if outcome == "rejected" else 0.3
    report.update(
        {
            "metric_name": "map_50",
            "metric_value": report["map"],
            "quality_threshold": threshold,
            "passed": report["map"] >= threshold,
        }
    )
    objects[f"runs/{run_id}/metrics.json"] = json.dumps(report).encode()
    training_job = f"{run_id}-train-0"
    state = {
        "run_id": run_id,
        "input": {"manifest_uri": f"s3://{BUCKET}/incoming/birds.manifest"},
        "manifest": {"kind": "input", "label_attribute": "category", "line_count": len(lines)},
        "config": {
            "task_type": "object-detection",
            "label_categories": names,
            "labeling": {"workers_per_object": 2, "output_path": f"s3://{BUCKET}/labeling/"},
            "quality_threshold": threshold,
        },
        "labeling": {
            "output_uri": manifest_uri,
            "counters": {"HumanLabeled": 16, "MachineLabeled": 8, "TotalLabeled": 24},
        },
        "split": {
            "validation_uri": f"s3://{BUCKET}/{split_prefix}validation.manifest",
            "validation_images_uri": f"s3://{BUCKET}/{split_prefix}validation-images.manifest",
            "transform_output_uri": f"s3://{BUCKET}/transform/{run_id}/",
            "class_names": names,
            "counts": {"train": 16, "validation": len(refs)},
        },
        "training": {"job_name": training_job},
        "transform": {"job_name": f"{run_id}-xform-0"},
        "evaluation": {
            "metrics_uri": f"s3://{BUCKET}/runs/{run_id}/metrics.json",
            "metric_name": "map_50",
            "metric_value": report["map"],
            "passed": report["passed"],
        },
    }
    ledger = {
        "run_id": run_id,
        "status": "REJECTED" if outcome == "rejected" else "SUCCEEDED",
        "created_at": iso(start),
        "ended_at": iso(start + timedelta(hours=4)),
        "steps": {
            "label": {
                "status": "Completed",
                "job_name": job,
                "started_at": iso(start),
                "ended_at": iso(start + timedelta(hours=2)),
            },
            "train": {
                "status": "Completed",
                "job_name": training_job,
                "started_at": iso(start + timedelta(hours=2, minutes=1)),
                "ended_at": iso(start + timedelta(hours=3, minutes=30)),
            },
            "xform": {
                "status": "Completed",
                "started_at": iso(start + timedelta(hours=3, minutes=31)),
                "ended_at": iso(start + timedelta(hours=3, minutes=50)),
            },
        },
    }
    log = _training_log(6, rng, detection=True, start=start)
    run = RecordedRun(run_id, outcome, state, ledger, objects, names, training_job, log, started=start)
    return run


def install(run: RecordedRun, s3: Any, dynamodb: Any, logs: Any) -> None:
    """Put the run into S3 (bucket must exist), the runs table and CloudWatch Logs."""
    from gtpipe_shared.ledger import to_dynamo

    for key, body in run.objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    dynamodb.Table(RUNS_TABLE).put_item(Item=to_dynamo(run.ledger_item))
    if run.training_job and run.log_lines:
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=LOG_GROUP)
        stream = f"{run.training_job}/algo-1-{int(run.started.timestamp())}"
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        put_log_events(logs, LOG_GROUP, stream, log_events(run))


def log_events(run: RecordedRun) -> list[dict[str, Any]]:
    """The training log as CloudWatch events: one a line, 1 ms apart from the run's start."""
    base = int(run.started.timestamp() * 1000)
    return [{"timestamp": base + i, "message": line} for i, line in enumerate(run.log_lines)]


def create_resources(s3: Any, dynamodb: Any) -> None:
    """The data bucket and the runs table, as the stateful stack names them in the Lambda tests."""
    s3.create_bucket(Bucket=BUCKET)
    dynamodb.create_table(
        TableName=RUNS_TABLE,
        KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "run_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def download_report(s3: Any, run_id: str, target: Path) -> list[Path]:
    """Copy ``reports/<run_id>/`` to ``target`` (as a user would download it); return the files."""
    files = []
    prefix = f"reports/{run_id}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            path = target / item["Key"][len(prefix) :]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
            files.append(path)
    return files


class PageImages(HTMLParser):
    """The ``<img>`` elements of a page: ``sources`` and ``alts`` in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.alts: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            values = dict(attrs)
            self.sources.append(values.get("src") or "")
            self.alts.append(values.get("alt"))


def images_of(html: str) -> PageImages:
    """Parse a page's images."""
    parser = PageImages()
    parser.feed(html)
    return parser


def render_sample(
    target: Path, *, classes: int = 10, detection: bool = False, outcome: str = "succeeded"
) -> dict[str, Any]:
    """Render a generated run's report with moto and download it into ``target``."""
    import os

    import boto3
    from moto import mock_aws

    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    os.environ.update({"DATA_BUCKET": BUCKET, "RUNS_TABLE": RUNS_TABLE, "POWERTOOLS_TRACE_DISABLED": "1"})
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "gtpipe")
    with mock_aws():
        s3 = boto3.client("s3")
        dynamodb = boto3.resource("dynamodb")
        create_resources(s3, dynamodb)
        per_class = None
        if not detection and classes > 2:
            per_class = [30] * classes
            per_class[-1] = 0
            per_class[1] = 1
        run = build_run(classes=classes, per_class=per_class, detection=detection, outcome=outcome)
        install(run, s3, dynamodb, boto3.client("logs"))
        from gtpipe_shared.aws import reset_clients
        from report import handler

        reset_clients()
        answer = handler.lambda_handler(run.event(), _Context())
        download_report(s3, run.run_id, target)
        reset_clients()
    return answer


@dataclass
class _Context:
    function_name: str = "gtpipe-report"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:gtpipe-report"
    aws_request_id: str = "sample"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def main() -> None:
    """Command line: render a sample report into a folder."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lambdas"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("target", type=Path)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--detection", action="store_true")
    parser.add_argument("--outcome", choices=("succeeded", "rejected"), default="succeeded")
    args = parser.parse_args()
    answer = render_sample(args.target, classes=args.classes, detection=args.detection, outcome=args.outcome)
    print(json.dumps(answer, indent=2))


if __name__ == "__main__":
    main()
