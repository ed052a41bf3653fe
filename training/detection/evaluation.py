"""Mean average precision for the per-epoch ``validation:mAP`` (numpy only).

The same definition as the pipeline's evaluate step (``gtpipe_shared.metrics.detection_metrics``), so
the training log and the pipeline's quality gate agree: VOC-style all-point interpolated AP per class,
averaged over the classes that have ground truth. Detections are taken best score first; each is a
true positive when its best-overlapping not yet matched ground-truth box of the same class overlaps it
by IoU >= ``iou_threshold`` (the ``overlap_threshold`` hyperparameter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MeanAveragePrecision:
    """``value``: the mean over classes with ground truth; ``per_class``: AP by class (None: no
    ground truth); ``support``: ground-truth boxes by class."""

    value: float
    per_class: list[float | None]
    support: list[int]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) boxes ``xmin, ymin, xmax, ymax``."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    a, b = a.astype(np.float64), b.astype(np.float64)
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def average_precision(scores: Sequence[float], hits: Sequence[bool], positives: int) -> float:
    """All-point interpolated AP from detections' scores and true-positive flags."""
    if positives == 0 or len(scores) == 0:
        return 0.0
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    hit = np.asarray(hits, dtype=bool)[order]
    tp = np.cumsum(hit)
    fp = np.cumsum(~hit)
    precision = tp / (tp + fp)
    recall = tp / positives
    # Precision envelope: the best precision at any recall at least this high.
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    previous = np.concatenate([[0.0], recall[:-1]])
    return float(np.sum((recall - previous) * envelope))


def mean_average_precision(
    truths: Sequence[np.ndarray],
    detections: Sequence[np.ndarray],
    num_classes: int,
    iou_threshold: float = 0.5,
) -> MeanAveragePrecision:
    """mAP over images: ``truths[i]`` (K, 5) rows ``class_id, xmin, ymin, xmax, ymax``;
    ``detections[i]`` (D, 6) rows ``class_id, score, xmin, ymin, xmax, ymax``."""
    if len(truths) != len(detections):
        raise ValueError(f"{len(truths)} ground truths for {len(detections)} detection lists")
    scores: list[list[float]] = [[] for _ in range(num_classes)]
    hits: list[list[bool]] = [[] for _ in range(num_classes)]
    support = [0] * num_classes
    for truth, found in zip(truths, detections, strict=True):
        truth = np.asarray(truth, dtype=np.float64).reshape(-1, 5)
        found = np.asarray(found, dtype=np.float64).reshape(-1, 6)
        for class_id in range(num_classes):
            true_boxes = truth[truth[:, 0] == class_id, 1:]
            support[class_id] += len(true_boxes)
            mine = found[found[:, 0] == class_id]
            if len(mine) == 0:
                continue
            mine = mine[np.argsort(-mine[:, 1], kind="stable")]
            overlaps = iou_matrix(mine[:, 2:], true_boxes)
            used = np.zeros(len(true_boxes), dtype=bool)
            for row in range(len(mine)):
                candidates = np.where(used, -1.0, overlaps[row]) if len(true_boxes) else np.zeros(0)
                best = int(np.argmax(candidates)) if len(candidates) else -1
                hit = best >= 0 and candidates[best] >= iou_threshold and candidates[best] > 0
                if hit:
                    used[best] = True
                scores[class_id].append(float(mine[row, 1]))
                hits[class_id].append(bool(hit))
    per_class: list[float | None] = [
        average_precision(scores[c], hits[c], support[c]) if support[c] else None for c in range(num_classes)
    ]
    present = [ap for ap in per_class if ap is not None]
    return MeanAveragePrecision(float(np.mean(present)) if present else 0.0, per_class, support)
