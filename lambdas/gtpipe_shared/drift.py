"""Drift monitoring of the serving endpoint: the statistics, pure (README "Monitoring").

Three kinds of evidence, each compared with the serving model's **baseline** (its validation images and
validation predictions, :func:`build_baseline`):

- **input drift**: per request, four image statistics (:data:`STAT_NAMES`: ``size`` = the square root of
  width x height in pixels, ``brightness`` and ``contrast`` = mean and standard deviation of the grey levels
  in 0..1, ``blur`` = the variance of the grey image's Laplacian, low when blurred) and an embedding (the
  grey image shrunk to 8x8, 64 values in 0..1; ``gtpipe_shared.drift_image``). A window's drift per
  statistic is its **standardised mean shift** ``|window mean - baseline mean| / baseline std`` (how many
  of the baseline's per-image standard deviations the average moved); ``InputShift`` is the largest of the
  four. ``EmbeddingDistance`` is the root mean square over the 64 dimensions of the same standardised shift
  of the window's mean embedding (a diagonal Mahalanobis distance of the means: a full covariance of 64
  dimensions is not estimable from a few hundred validation images).
- **output drift**: the population stability index (PSI) of the window's predicted-class histogram against
  the validation predictions' (``ClassPsi``) and of the top-confidence histogram (10 bins of 0.1;
  ``ConfidencePsi``). Both histograms count predictions, so like is compared with like.
- **live accuracy**: the share of the random capture sample (reason ``sample``, unbiased, unlike the
  low-confidence captures) whose correction (``POST /feedback``) agrees with the prediction.

A standard deviation is floored (:func:`floor_std`) so a statistic constant in the baseline (every
validation image 32x32) does not turn a tiny change into an infinite shift; shifts are capped at
:data:`SHIFT_CAP`. Histograms are smoothed with half a count per bin before the PSI, so an empty bin is
finite. With few requests a PSI is biased upwards (about ``(bins - 1) / requests``): the monitor puts no
drift metrics for a window under ``minRequests``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BASELINE_VERSION = 1
STAT_NAMES = ("size", "brightness", "contrast", "blur")
EMBEDDING_SIDE = 8
EMBEDDING_DIMENSIONS = EMBEDDING_SIDE * EMBEDDING_SIDE
CONFIDENCE_BINS = 10
SHIFT_CAP = 1000.0
# The least standard deviation a shift divides by: 1% of the mean, and never below ABSOLUTE_STD_FLOOR
# (statistics in 0..1); embedding values (0..1 grey levels) use EMBEDDING_STD_FLOOR, 2% of their range.
RELATIVE_STD_FLOOR = 0.01
ABSOLUTE_STD_FLOOR = 1e-3
EMBEDDING_STD_FLOOR = 0.02
PSI_SMOOTHING = 0.5

# CloudWatch metric names (namespace and dimensions: infra/constructs/drift_monitoring.py).
METRIC_INPUT_SHIFT = "InputShift"
METRIC_EMBEDDING = "EmbeddingDistance"
METRIC_CLASS_PSI = "ClassPsi"
METRIC_CONFIDENCE_PSI = "ConfidencePsi"
METRIC_LIVE_ACCURACY = "LiveAccuracy"
METRIC_LABELED = "LabeledSamples"
METRIC_REQUESTS = "WindowRequests"
STAT_METRICS = {name: f"{name.capitalize()}Shift" for name in STAT_NAMES}


class DriftError(ValueError):
    """A baseline or request record that cannot be used; the message names the problem."""


@dataclass(frozen=True)
class Features:
    """One image's statistics (:data:`STAT_NAMES`) and its embedding (:data:`EMBEDDING_DIMENSIONS` values)."""

    stats: Mapping[str, float]
    embedding: Sequence[float]

    def to_json(self) -> dict[str, Any]:
        """The JSON form (rounded: 4 decimals carry far more than the shifts resolve)."""
        return {
            "stats": {name: round(float(self.stats[name]), 6) for name in STAT_NAMES},
            "embedding": [round(float(v), 4) for v in self.embedding],
        }

    @classmethod
    def from_json(cls, raw: Any) -> Features:
        """Parse :meth:`to_json`'s form; DriftError names what is missing."""
        if not isinstance(raw, Mapping):
            raise DriftError("features must be an object with stats and embedding")
        stats, embedding = raw.get("stats"), raw.get("embedding")
        if not isinstance(stats, Mapping) or any(not _number(stats.get(name)) for name in STAT_NAMES):
            raise DriftError(f"features need numeric stats {', '.join(STAT_NAMES)}")
        if (
            not isinstance(embedding, list)
            or len(embedding) != EMBEDDING_DIMENSIONS
            or not all(_number(v) for v in embedding)
        ):
            raise DriftError(f"features need an embedding of {EMBEDDING_DIMENSIONS} numbers")
        return cls({name: float(stats[name]) for name in STAT_NAMES}, [float(v) for v in embedding])


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (0, 0 for no values)."""
    if not values:
        return 0.0, 0.0
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def floor_std(std: float, mean: float, absolute: float = ABSOLUTE_STD_FLOOR) -> float:
    """The standard deviation a shift divides by (see the module docstring)."""
    return max(std, RELATIVE_STD_FLOOR * abs(mean), absolute)


def standardized_shift(values: Sequence[float], base_mean: float, base_std: float) -> float:
    """``|mean(values) - base_mean| / floored base_std``, capped at SHIFT_CAP; 0 for no values."""
    if not values:
        return 0.0
    window_mean, _ = mean_std(values)
    return min(abs(window_mean - base_mean) / floor_std(base_std, base_mean), SHIFT_CAP)


def embedding_distance(
    embeddings: Sequence[Sequence[float]], base_mean: Sequence[float], base_std: Sequence[float]
) -> float:
    """Root mean square over dimensions of the standardised shift of the mean embedding (capped)."""
    if not embeddings:
        return 0.0
    count = len(embeddings)
    total = 0.0
    for dim, (mean, std) in enumerate(zip(base_mean, base_std, strict=True)):
        window_mean = sum(e[dim] for e in embeddings) / count
        total += ((window_mean - mean) / max(std, EMBEDDING_STD_FLOOR)) ** 2
    return min(math.sqrt(total / len(base_mean)), SHIFT_CAP)


def confidence_bin(confidence: float) -> int:
    """The histogram bin of a top confidence in 0..1 (1.0 falls in the last bin)."""
    return min(max(int(confidence * CONFIDENCE_BINS), 0), CONFIDENCE_BINS - 1)


def counts(indices: Iterable[int], bins: int) -> list[int]:
    """How many of ``indices`` fall in each of ``bins`` bins (out-of-range indices are ignored)."""
    found = [0] * bins
    for index in indices:
        if 0 <= index < bins:
            found[index] += 1
    return found


def psi(expected: Sequence[int], actual: Sequence[int]) -> float:
    """The population stability index of two histograms of counts over the same bins, each smoothed with
    PSI_SMOOTHING counts per bin: ``sum((a - e) * ln(a / e))`` over the bins' shares. 0 when either is
    empty."""
    if len(expected) != len(actual):
        raise DriftError(f"histograms of {len(expected)} and {len(actual)} bins cannot be compared")
    if not sum(expected) or not sum(actual):
        return 0.0
    e_total = sum(expected) + PSI_SMOOTHING * len(expected)
    a_total = sum(actual) + PSI_SMOOTHING * len(actual)
    value = 0.0
    for e_count, a_count in zip(expected, actual, strict=True):
        e_share = (e_count + PSI_SMOOTHING) / e_total
        a_share = (a_count + PSI_SMOOTHING) / a_total
        value += (a_share - e_share) * math.log(a_share / e_share)
    return value


def build_baseline(
    *,
    run_id: str,
    class_names: Sequence[str],
    features: Sequence[Features],
    predictions: Sequence[tuple[int, float]],
) -> dict[str, Any]:
    """The baseline of one model: ``features`` of its validation images and ``predictions`` (predicted
    class index, top confidence) of its validation predictions (empty for object detection: no output
    drift). DriftError when there are no images."""
    if not features:
        raise DriftError(f"run {run_id}: no validation image could be read for the drift baseline")
    stats = {}
    for name in STAT_NAMES:
        mean, std = mean_std([f.stats[name] for f in features])
        stats[name] = {"mean": mean, "std": std}
    dims = [mean_std([f.embedding[d] for f in features]) for d in range(EMBEDDING_DIMENSIONS)]
    return {
        "version": BASELINE_VERSION,
        "run_id": run_id,
        "class_names": list(class_names),
        "images": len(features),
        "stats": stats,
        "embedding": {"mean": [m for m, _ in dims], "std": [s for _, s in dims]},
        "predictions": len(predictions),
        "class_counts": counts((c for c, _ in predictions), len(class_names)),
        "confidence_counts": counts((confidence_bin(p) for _, p in predictions), CONFIDENCE_BINS),
    }


def check_baseline(raw: Any) -> dict[str, Any]:
    """``raw`` if it is a baseline :func:`build_baseline` wrote (this version); DriftError otherwise."""
    if not isinstance(raw, dict) or raw.get("version") != BASELINE_VERSION:
        raise DriftError(f"not a drift baseline of version {BASELINE_VERSION}")
    stats, embedding = raw.get("stats"), raw.get("embedding")
    if not isinstance(stats, dict) or set(stats) != set(STAT_NAMES) or not isinstance(embedding, dict):
        raise DriftError("drift baseline lacks its stats or embedding")
    if len(embedding.get("mean") or []) != EMBEDDING_DIMENSIONS:
        raise DriftError(f"drift baseline embedding must have {EMBEDDING_DIMENSIONS} dimensions")
    return raw


@dataclass(frozen=True)
class WindowRecord:
    """One request of a window: its image features and, for classification, the predicted class index and
    top confidence (None for object detection)."""

    features: Features
    predicted: int | None = None
    confidence: float | None = None


def input_drift(baseline: Mapping[str, Any], records: Sequence[WindowRecord]) -> dict[str, float]:
    """Per statistic its ``<Name>Shift`` metric, ``InputShift`` (the largest) and ``EmbeddingDistance``."""
    found: dict[str, float] = {}
    for name in STAT_NAMES:
        base = baseline["stats"][name]
        values = [r.features.stats[name] for r in records]
        found[STAT_METRICS[name]] = standardized_shift(values, float(base["mean"]), float(base["std"]))
    found[METRIC_INPUT_SHIFT] = max(found[STAT_METRICS[name]] for name in STAT_NAMES)
    found[METRIC_EMBEDDING] = embedding_distance(
        [r.features.embedding for r in records], baseline["embedding"]["mean"], baseline["embedding"]["std"]
    )
    return found


def output_drift(baseline: Mapping[str, Any], records: Sequence[WindowRecord]) -> dict[str, float]:
    """``ClassPsi`` and ``ConfidencePsi`` of the classified records; empty when the baseline has no
    predictions or no record has one."""
    classified = [(r.predicted, r.confidence) for r in records if r.predicted is not None]
    if not baseline.get("predictions") or not classified:
        return {}
    class_counts = list(baseline["class_counts"])
    actual_classes = counts((c for c, _ in classified if c is not None), len(class_counts))
    actual_confidence = counts((confidence_bin(p) for _, p in classified if p is not None), CONFIDENCE_BINS)
    return {
        METRIC_CLASS_PSI: psi(class_counts, actual_classes),
        METRIC_CONFIDENCE_PSI: psi(list(baseline["confidence_counts"]), actual_confidence),
    }


def live_accuracy(pairs: Sequence[tuple[str, str]]) -> tuple[float | None, int]:
    """``(share of (predicted, corrected) pairs that agree, count)``; None without pairs."""
    if not pairs:
        return None, 0
    return sum(1 for predicted, truth in pairs if predicted == truth) / len(pairs), len(pairs)


def breaches(values: Mapping[str, float], thresholds: Mapping[str, float]) -> list[str]:
    """The metrics beyond their thresholds: above for the drift metrics, below for ``LiveAccuracy``."""
    found = []
    for name, threshold in thresholds.items():
        if name not in values:
            continue
        below = name == METRIC_LIVE_ACCURACY
        if (values[name] < threshold) if below else (values[name] > threshold):
            found.append(name)
    return found
