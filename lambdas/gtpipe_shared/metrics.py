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
