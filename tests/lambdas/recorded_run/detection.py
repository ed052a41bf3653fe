"""The object-detection run: drawn boxes on plain images, their labels, detections and mAP."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw

from tests.lambdas.recorded_run.common import (
    BUCKET,
    DETECTION_CLASSES,
    RecordedRun,
    gt_date,
    iso,
    png,
    run_start,
    training_log,
)

_COLORS = ["#8d6e63", "#78909c", "#fdd835"]


@dataclass
class _Labeled:
    """The labeled images: every output-manifest line, and the validation share (every third image)."""

    lines: list[str] = field(default_factory=list)
    validation_lines: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)


def build_detection(*, outcome: str, run_id: str, seed: int) -> RecordedRun:
    """A 24-image detection run with three drawn classes (the fourth unused), trained and evaluated."""
    start = run_start()
    rng = random.Random(seed)
    names = list(DETECTION_CLASSES)
    objects: dict[str, bytes] = {}
    labeled = _draw_and_label(rng, run_id, names, start, objects)
    _write_manifests(labeled, run_id, objects)
    images = _transform_outputs(rng, run_id, labeled, objects)
    from gtpipe_shared.metrics import detection_metrics

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
    state = _state(run_id, names, labeled, report, threshold)
    ledger = _ledger(run_id, outcome, start)
    log = training_log(6, rng, detection=True, start=start)
    run = RecordedRun(run_id, outcome, state, ledger, objects, names, training_job, log, started=start)
    return run


def _draw_and_label(
    rng: random.Random, run_id: str, names: list[str], start: datetime, objects: dict[str, bytes]
) -> _Labeled:
    """Draw 24 images of one to three boxes each into ``objects``; label them (every third by machine)."""
    labeled = _Labeled()
    for index in range(24):
        width, height = 96, 72
        image = Image.new("RGB", (width, height), (235, 235, 225))
        draw = ImageDraw.Draw(image)
        annotations = []
        for _ in range(rng.randint(1, 3)):
            class_id = rng.randrange(3)
            w, h = rng.randint(14, 34), rng.randint(12, 28)
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            draw.rectangle([left, top, left + w - 1, top + h - 1], fill=_COLORS[class_id])
            annotations.append({"class_id": class_id, "left": left, "top": top, "width": w, "height": h})
        key = f"images/{run_id}/det-{index:03d}.png"
        objects[key] = png(image)
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
        labeled.lines.append(line)
        if index % 3 == 1:
            labeled.validation_lines.append(line)
            labeled.refs.append(ref)
            labeled.labels.append(label)
    return labeled


def _write_manifests(labeled: _Labeled, run_id: str, objects: dict[str, bytes]) -> None:
    """The labeling job's output manifest and the split's validation manifests."""
    job = f"{run_id}-label-0"
    objects[f"labeling/{job}/manifests/output/output.manifest"] = ("\n".join(labeled.lines) + "\n").encode()
    split_prefix = f"splits/{run_id}/"
    objects[split_prefix + "validation.manifest"] = ("\n".join(labeled.validation_lines) + "\n").encode()
    objects[split_prefix + "validation-images.manifest"] = json.dumps(
        [{"prefix": f"s3://{BUCKET}/images/{run_id}/"}] + [r.rsplit("/", 1)[-1] for r in labeled.refs]
    ).encode()


def _transform_outputs(
    rng: random.Random, run_id: str, labeled: _Labeled, objects: dict[str, bytes]
) -> list[tuple[Any, list[Any]]]:
    """Write each validation image's detections (jittered truths, some misses, a spurious box, one
    below the display threshold and the algorithm's padding); return (truth, detections) pairs."""
    from gtpipe_shared.metrics import ground_truth_boxes

    images = []
    for ref, label in zip(labeled.refs, labeled.labels, strict=True):
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
    return images


def _state(
    run_id: str, names: list[str], labeled: _Labeled, report: dict[str, Any], threshold: float
) -> dict[str, Any]:
    """The execution state after evaluation."""
    split_prefix = f"splits/{run_id}/"
    job = f"{run_id}-label-0"
    return {
        "run_id": run_id,
        "input": {"manifest_uri": f"s3://{BUCKET}/incoming/birds.manifest"},
        "manifest": {"kind": "input", "label_attribute": "category", "line_count": len(labeled.lines)},
        "config": {
            "task_type": "object-detection",
            "label_categories": names,
            "labeling": {"workers_per_object": 2, "output_path": f"s3://{BUCKET}/labeling/"},
            "quality_threshold": threshold,
        },
        "labeling": {
            "output_uri": f"s3://{BUCKET}/labeling/{job}/manifests/output/output.manifest",
            "counters": {"HumanLabeled": 16, "MachineLabeled": 8, "TotalLabeled": 24},
        },
        "split": {
            "validation_uri": f"s3://{BUCKET}/{split_prefix}validation.manifest",
            "validation_images_uri": f"s3://{BUCKET}/{split_prefix}validation-images.manifest",
            "transform_output_uri": f"s3://{BUCKET}/transform/{run_id}/",
            "class_names": names,
            "counts": {"train": 16, "validation": len(labeled.refs)},
        },
        "training": {"job_name": f"{run_id}-train-0"},
        "transform": {"job_name": f"{run_id}-xform-0"},
        "evaluation": {
            "metrics_uri": f"s3://{BUCKET}/runs/{run_id}/metrics.json",
            "metric_name": "map_50",
            "metric_value": report["map"],
            "passed": report["passed"],
        },
    }


def _ledger(run_id: str, outcome: str, start: datetime) -> dict[str, Any]:
    """The runs-ledger item: labeling, training and transform completed over four hours."""
    return {
        "run_id": run_id,
        "status": "REJECTED" if outcome == "rejected" else "SUCCEEDED",
        "created_at": iso(start),
        "ended_at": iso(start + timedelta(hours=4)),
        "steps": {
            "label": {
                "status": "Completed",
                "job_name": f"{run_id}-label-0",
                "started_at": iso(start),
                "ended_at": iso(start + timedelta(hours=2)),
            },
            "train": {
                "status": "Completed",
                "job_name": f"{run_id}-train-0",
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
