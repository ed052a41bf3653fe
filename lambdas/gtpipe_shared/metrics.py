"""Classification metrics from (true, predicted) pairs, and joining batch-transform outputs to labels.

Pure Python (no numpy: the Lambda runtime only has the standard library, boto3 and Powertools).
A missing prediction (``None``) counts as wrong: it is part of every class's support and recall, but of
no class's precision, so accuracy is measured over the whole validation set.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class PredictionError(ValueError):
    """A transform output or endpoint answer is not a list of class probabilities."""


def parse_prediction(body: bytes | str | Any) -> list[float]:
    """Probabilities from ``{"prediction": [p0, ...]}`` (batch transform) or a bare JSON list (endpoint)."""
    data = json.loads(body) if isinstance(body, bytes | str) else body
    if isinstance(data, dict):
        data = data.get("prediction")
    if not isinstance(data, list) or not data:
        raise PredictionError("expected a non-empty list of class probabilities")
    probs: list[float] = []
    for value in data:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise PredictionError("class probabilities must be finite numbers")
        probs.append(float(value))
    return probs


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value (the first one on ties)."""
    best = 0
    for index in range(1, len(values)):
        if values[index] > values[best]:
            best = index
    return best


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def classification_metrics(
    pairs: Iterable[tuple[int, int | None]], class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, macro F1 and the confusion matrix.

    ``confusion_matrix.matrix[i][j]`` counts objects of true class ``i`` predicted as ``j``; predictions
    outside the known classes or missing count in ``missing`` and as errors.
    """
    n = len(class_names)
    matrix = [[0] * n for _ in range(n)]
    missing_per_class = [0] * n
    total = correct = 0
    for true, predicted in pairs:
        if not 0 <= true < n:
            raise ValueError(f"true label {true} is not a class id in [0, {n})")
        total += 1
        if predicted is None or not 0 <= predicted < n:
            missing_per_class[true] += 1
            continue
        matrix[true][predicted] += 1
        if predicted == true:
            correct += 1
    per_class: dict[str, dict[str, float | int]] = {}
    for i, name in enumerate(class_names):
        tp = matrix[i][i]
        # Support includes objects without a usable prediction, so recall punishes missing outputs.
        support = sum(matrix[i]) + missing_per_class[i]
        precision = _ratio(tp, sum(matrix[r][i] for r in range(n)))
        recall = _ratio(tp, support)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(precision, 6),
            "recall": round(recall, 6),
            "f1": round(f1, 6),
            "support": support,
        }
    present = [m for m in per_class.values() if m["support"]]
    macro_f1 = sum(float(m["f1"]) for m in present) / len(present) if present else 0.0
    return {
        "accuracy": round(_ratio(correct, total), 6),
        "count": total,
        "correct": correct,
        "missing": sum(missing_per_class),
        "macro_f1": round(macro_f1, 6),
        "per_class": per_class,
        "confusion_matrix": {"labels": list(class_names), "matrix": matrix},
    }


@dataclass
class JoinResult:
    """Pairs of (true class, predicted class or None) plus the refs without a usable output."""

    pairs: list[tuple[int, int | None]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


def join_transform_outputs(
    labels: Iterable[tuple[str, int]], outputs: Mapping[str, bytes | None]
) -> JoinResult:
    """Join validation labels ``(source_ref, class id)`` with transform outputs keyed by source-ref.

    ``outputs[ref]`` is the raw body of ``<key>.out`` (``{"prediction": [...]}``) or None when the object
    does not exist. The predicted class is the argmax of the probabilities.
    """
    result = JoinResult()
    for ref, true in labels:
        body = outputs.get(ref)
        if body is None:
            result.missing.append(ref)
            result.pairs.append((true, None))
            continue
        try:
            result.pairs.append((true, argmax(parse_prediction(body))))
        except (PredictionError, ValueError):
            result.invalid.append(ref)
            result.pairs.append((true, None))
    return result


def output_uri_for(source_ref: str, images_prefix: str, transform_output_uri: str) -> str:
    """``<transform output>/<key relative to the ManifestFile prefix>.out`` for one validation image."""
    if not source_ref.startswith(images_prefix):
        raise ValueError(f"{source_ref} is not under {images_prefix}")
    base = transform_output_uri if transform_output_uri.endswith("/") else transform_output_uri + "/"
    return f"{base}{source_ref[len(images_prefix) :]}.out"


# --- object detection ------------------------------------------------------------------------------

Box = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax, normalized to 0..1


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ground_truth_boxes(label: Any) -> list[tuple[int, Box]]:
    """Normalized ``(class_id, box)`` list from a Ground Truth bounding-box label (pixels + image_size)."""
    if not isinstance(label, dict):
        raise ValueError("bounding-box label must be an object")
    size = (label.get("image_size") or [{}])[0]
    width, height = float(size.get("width") or 0), float(size.get("height") or 0)
    if width <= 0 or height <= 0:
        raise ValueError("bounding-box label has no image_size")
    boxes = []
    for box in label.get("annotations") or []:
        left, top = float(box["left"]) / width, float(box["top"]) / height
        boxes.append(
            (
                int(box["class_id"]),
                (left, top, left + float(box["width"]) / width, top + float(box["height"]) / height),
            )
        )
    return boxes


def parse_detections(body: bytes | str | Any) -> list[tuple[int, float, Box]]:
    """``[(class_id, score, box)]`` from ``{"prediction": [[class, score, xmin, ymin, xmax, ymax], ...]}``."""
    data = json.loads(body) if isinstance(body, bytes | str) else body
    rows = data.get("prediction") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise PredictionError("expected {'prediction': [[class_id, score, xmin, ymin, xmax, ymax], ...]}")
    detections = []
    for row in rows:
        if not isinstance(row, list) or len(row) < 6:
            raise PredictionError("each detection must be [class_id, score, xmin, ymin, xmax, ymax]")
        class_id = int(row[0])
        if class_id < 0:
            continue  # the algorithm pads with -1
        detections.append(
            (class_id, float(row[1]), (float(row[2]), float(row[3]), float(row[4]), float(row[5])))
        )
    return detections


def average_precision(matches: list[tuple[float, bool]], positives: int) -> float:
    """All-point interpolated AP from ``(score, is_true_positive)`` pairs and the ground-truth count."""
    if positives == 0:
        return 0.0
    matches = sorted(matches, key=lambda m: -m[0])
    precisions, recalls = [], []
    tp = fp = 0
    for _score, hit in matches:
        tp, fp = tp + hit, fp + (not hit)
        precisions.append(tp / (tp + fp))
        recalls.append(tp / positives)
    ap, previous_recall = 0.0, 0.0
    for i, recall in enumerate(recalls):
        if recall > previous_recall:
            ap += (recall - previous_recall) * max(precisions[i:])
            previous_recall = recall
    return ap


def match_detection(
    class_id: int, box: Box, truth: Sequence[tuple[int, Box]], used: set[int], iou_threshold: float
) -> bool:
    """One step of greedy matching (detections taken highest score first): whether the detection ``box`` of
    ``class_id`` hits the true box of its class it overlaps most among those not in ``used``, at an IoU of
    ``iou_threshold`` or more; a hit adds that true box's index to ``used``."""
    best, best_index = 0.0, -1
    for index, (true_class, true_box) in enumerate(truth):
        if true_class == class_id and index not in used:
            overlap = iou(box, true_box)
            if overlap > best:
                best, best_index = overlap, index
    hit = best >= iou_threshold
    if hit:
        used.add(best_index)
    return hit


def detection_metrics(
    images: Iterable[tuple[list[tuple[int, Box]], list[tuple[int, float, Box]] | None]],
    class_names: Sequence[str],
    iou_threshold: float = 0.5,
) -> dict[str, Any]:
    """mAP at ``iou_threshold`` (VOC-style, all-point) over classes that have ground truth.

    Each image gives its ground-truth boxes and its detections (None: no transform output, so every box
    of that image is missed). Each ground-truth box matches at most one detection, highest score first.
    """
    n = len(class_names)
    matches: list[list[tuple[float, bool]]] = [[] for _ in range(n)]
    positives = [0] * n
    count = missing = 0
    for truth, detections in images:
        count += 1
        for class_id, _ in truth:
            if 0 <= class_id < n:
                positives[class_id] += 1
        if detections is None:
            missing += 1
            continue
        used: set[int] = set()
        for class_id, score, box in sorted(detections, key=lambda d: -d[1]):
            if not 0 <= class_id < n:
                continue
            matches[class_id].append((score, match_detection(class_id, box, truth, used, iou_threshold)))
    per_class = {
        name: {"ap": round(average_precision(matches[i], positives[i]), 6), "support": positives[i]}
        for i, name in enumerate(class_names)
    }
    present = [m["ap"] for m in per_class.values() if m["support"]]
    return {
        "map": round(sum(present) / len(present), 6) if present else 0.0,
        "iou_threshold": iou_threshold,
        "count": count,
        "missing": missing,
        "per_class": per_class,
    }
