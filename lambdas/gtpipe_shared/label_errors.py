"""Label-error finding: which training objects are likely mislabeled, from out-of-fold predictions.

Pure (no I/O, no numpy): the bench and, later, a pipeline Lambda call it with plain lists.

The method is confident learning's per-class-threshold rule (Northcutt, Jiang and Chuang, "Confident
Learning: Estimating Uncertainty in Dataset Labels", JAIR 2021, the ``confident joint``):

* the inputs are *out-of-fold* class probabilities (each object predicted by a model that did not train on
  it, see :func:`assign_folds`) and the labels the objects were given;
* class ``j``'s threshold ``t_j`` is the model's mean self-confidence on the objects labeled ``j``: the mean
  of ``p[i][j]`` over the objects ``i`` whose given label is ``j``;
* object ``i`` (given label ``y``) is flagged when some other class ``j`` reaches its threshold
  (``p[i][j] >= t_j``) while the given label does not (``p[i][y] < t_y``); its suggestion is the class
  above its threshold with the highest probability;
* flagged objects are ranked by margin ``p[i][suggested] - p[i][y]`` (most likely errors first), and at
  most ``max_share`` of all objects are flagged (the top of the ranking), so a poor model cannot send the
  whole data set to review.

Thresholds per class rather than one global cut keep classes the model is less sure of (harder digits) from
being flagged wholesale.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_SHARE = 0.1
PROBABILITY_TOLERANCE = 1e-6


class LabelErrorsInputError(ValueError):
    """The probabilities or labels cannot be used; the message names the problem."""


@dataclass(frozen=True)
class LabelIssue:
    """One flagged object: its position in the inputs, the given and suggested class indices, their
    out-of-fold probabilities and the margin it was ranked by."""

    index: int
    given: int
    suggested: int
    given_probability: float
    suggested_probability: float

    @property
    def margin(self) -> float:
        """How much more probable the suggestion is than the given label (the ranking key)."""
        return self.suggested_probability - self.given_probability

    def as_dict(self) -> dict[str, Any]:
        """JSON form (for a manifest line's metadata or the ledger)."""
        return {
            "index": self.index,
            "given": self.given,
            "suggested": self.suggested,
            "given-probability": round(self.given_probability, 6),
            "suggested-probability": round(self.suggested_probability, 6),
            "margin": round(self.margin, 6),
        }


def _check(probabilities: Sequence[Sequence[float]], labels: Sequence[int], max_share: float) -> int:
    """Validate the inputs; return the number of classes."""
    if len(probabilities) != len(labels):
        raise LabelErrorsInputError(
            f"{len(probabilities)} rows of probabilities for {len(labels)} labels: one row per object"
        )
    if not 0.0 <= max_share <= 1.0 or math.isnan(max_share):
        raise LabelErrorsInputError(f"max_share must be between 0 and 1, got {max_share}")
    if not probabilities:
        return 0
    classes = len(probabilities[0])
    if classes < 2:
        raise LabelErrorsInputError(f"at least 2 classes are needed, the probabilities have {classes}")
    for i, (row, label) in enumerate(zip(probabilities, labels, strict=True)):
        if len(row) != classes:
            raise LabelErrorsInputError(f"object {i}: {len(row)} probabilities, expected {classes}")
        if any(not (0.0 <= p <= 1.0) for p in row):  # also rejects NaN
            raise LabelErrorsInputError(f"object {i}: probabilities must be between 0 and 1")
        if abs(sum(row) - 1.0) > 1e-3:
            raise LabelErrorsInputError(f"object {i}: probabilities sum to {sum(row):.4f}, not 1")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < classes:
            raise LabelErrorsInputError(f"object {i}: label {label!r} is not a class index below {classes}")
    return classes


def class_thresholds(probabilities: Sequence[Sequence[float]], labels: Sequence[int]) -> list[float]:
    """Per class, the mean probability of that class over the objects given that label (its average
    self-confidence); ``inf`` for a class no object was given (nothing can be flagged into it)."""
    classes = len(probabilities[0]) if probabilities else 0
    totals = [0.0] * classes
    counts = [0] * classes
    for row, label in zip(probabilities, labels, strict=True):
        totals[label] += row[label]
        counts[label] += 1
    return [totals[j] / counts[j] if counts[j] else math.inf for j in range(classes)]


def find_label_errors(
    probabilities: Sequence[Sequence[float]],
    labels: Sequence[int],
    max_share: float = DEFAULT_MAX_SHARE,
) -> list[LabelIssue]:
    """Flag likely label errors, most likely first (module docstring: the rule, ranking and cap).

    ``probabilities[i]`` are object ``i``'s out-of-fold class probabilities (summing to 1), ``labels[i]``
    its given class index. At most ``floor(max_share * len(labels))`` objects are returned; ties in margin
    keep the input order. Raises :class:`LabelErrorsInputError` naming the first problem in the inputs.
    """
    _check(probabilities, labels, max_share)
    if not probabilities:
        return []
    thresholds = class_thresholds(probabilities, labels)
    issues: list[LabelIssue] = []
    for i, (row, given) in enumerate(zip(probabilities, labels, strict=True)):
        # Tolerance: a threshold computed from one object equals its own probability; float noise
        # must not decide whether the given label "reaches" it.
        if row[given] >= thresholds[given] - PROBABILITY_TOLERANCE:
            continue
        candidates = [
            j for j, p in enumerate(row) if j != given and p >= thresholds[j] - PROBABILITY_TOLERANCE
        ]
        if not candidates:
            continue
        suggested = max(candidates, key=lambda j: (row[j], -j))
        issues.append(LabelIssue(i, given, suggested, float(row[given]), float(row[suggested])))
    issues.sort(key=lambda issue: -issue.margin)  # stable: equal margins keep input order
    return issues[: math.floor(max_share * len(labels) + 1e-9)]


def assign_folds(labels: Sequence[int], folds: int, seed: int) -> list[int]:
    """A fold number in ``0..folds-1`` per object, stratified: each class's objects are shuffled with
    ``random.Random(seed)`` and dealt round-robin, so every fold holds nearly the same share of every
    class (a fold's model then sees every class). Deterministic for a given seed."""
    if folds < 2:
        raise LabelErrorsInputError(f"folds must be at least 2, got {folds}")
    if len(labels) < folds:
        raise LabelErrorsInputError(f"{len(labels)} objects cannot be split into {folds} folds")
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    assignment = [0] * len(labels)
    dealt = 0  # continue the deal across classes so fold sizes differ by at most one
    for label in sorted(by_class):
        members = by_class[label]
        rng.shuffle(members)
        for index in members:
            assignment[index] = dealt % folds
            dealt += 1
    return assignment


def review_summary(
    issues: Sequence[LabelIssue], reviewed: Mapping[int, int], objects: int
) -> dict[str, int | float]:
    """What the review of the flagged objects found, for the ledger and the report.

    ``reviewed`` maps a flagged object's index to the label the reviewer settled on. ``confirmed`` counts
    flagged objects whose label the reviewer changed (confirmed errors), ``kept`` those whose given label
    the reviewer accepted; objects not (yet) reviewed are ``unreviewed``."""
    confirmed = sum(1 for issue in issues if issue.index in reviewed and reviewed[issue.index] != issue.given)
    kept = sum(1 for issue in issues if issue.index in reviewed and reviewed[issue.index] == issue.given)
    flagged = len(issues)
    return {
        "objects": objects,
        "flagged": flagged,
        "confirmed": confirmed,
        "kept": kept,
        "unreviewed": flagged - confirmed - kept,
        "flagged_share": round(flagged / objects, 4) if objects else 0.0,
        "confirmed_share_of_flagged": round(confirmed / (confirmed + kept), 4) if confirmed + kept else 0.0,
    }
