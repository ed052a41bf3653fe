"""Adaptive redundancy: whether an object of the builtin labeling service needs another answer (pure).

With ``gtpipe:labeling.adaptiveRedundancy`` on, ``workersPerObject`` is a maximum: each object first asks
for one answer, and after every answer :func:`judge` decides from the object's answers so far, consolidated
with the service's own consolidation (:mod:`gtpipe_shared.consolidation`, the object's answers alone, every
worker weighted alike), whether to ask for one more:

- **another answer** while the answers disagree (a later answer does not :func:`agree` with the first), or
  the consolidated confidence is below the threshold, or a model's suggestion disagrees with the
  consolidated label (the hook below), and the object has fewer than the maximum;
- **done** otherwise, or at the maximum.

Confidence: classification, the consolidated label's posterior probability; boxes, the lowest confidence of
the merged boxes (1.0 for an image every answer left empty). One answer alone is worth no more than one
unproven worker, whatever the consolidation says of it: at most :data:`SINGLE_ANSWER_CONFIDENCE` (2/3, the
Beta(2, 1) prior both consolidations give a worker nobody has checked yet; the class vote gives one answer
exactly that, the box merge would give it 1.0). So a threshold above 0.67 always asks for a second answer
and stops when two agree with enough confidence (two agreeing classes: 0.86 with 2 classes, 0.94 with 3,
0.99 with 10); a threshold of 0.67 or less takes one answer unless a model disagrees.

**Model hook**: ``model_suggestion`` is a model's answer for the object in the stored answer form
(``{"label": i}`` or ``{"boxes": [...], ...}``); when given and it does not :func:`agree` with the
consolidated label, the object asks for another answer. The service passes the object's pre-annotation
suggestion (:mod:`.labeling_suggestions`: automated labeling's labeling model, or any manifest's), None
for an object without one (docs/labeling-service.md, "Adaptive redundancy").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .consolidation import (
    PRIOR_AGREE,
    PRIOR_TOTAL,
    Box,
    BoxAnswer,
    ClassAnswer,
    consolidate_boxes,
    consolidate_classes,
    match_boxes,
)
from .tasks import task_spec

DEFAULT_CONFIDENCE_THRESHOLD = 0.8
SINGLE_ANSWER_CONFIDENCE = round(PRIOR_AGREE / PRIOR_TOTAL, 2)
# Two drawn boxes are the same box at this IoU (the statistics' and the box consolidation's threshold).
MATCH_IOU = 0.5


@dataclass(frozen=True)
class Verdict:
    """:func:`judge`'s decision: ``more`` asks for another answer; ``reason`` is one of ``agreed``,
    ``disagreed``, ``low-confidence``, ``model-disagreed`` (why more was, or would have been, asked) and
    ``maximum`` (more would be asked but the object has the maximum); ``confidence`` the consolidated one."""

    more: bool
    reason: str
    confidence: float


def _boxes(answer: Mapping[str, Any]) -> list[Box]:
    return [
        Box(int(b["class_id"]), float(b["left"]), float(b["top"]), float(b["width"]), float(b["height"]))
        for b in answer.get("boxes") or []
    ]


def agree(task_type: str, first: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether two stored answers of one object say the same: the same class; or the same number of boxes,
    matched one-to-one at IoU >= 0.5 with the same classes."""
    if not task_spec(task_type).boxes:
        return first.get("label") == other.get("label")
    a, b = _boxes(first), _boxes(other)
    if len(a) != len(b):
        return False
    matches = match_boxes(a, b, iou_threshold=MATCH_IOU)
    return len(matches) == len(a) and all(a[i].class_id == b[j].class_id for i, j, _ in matches)


def _consolidated(
    task_type: str, answers: Sequence[Mapping[str, Any]], num_classes: int
) -> tuple[dict[str, Any], float]:
    """The object's consolidated label (stored answer form) and its confidence, from its answers alone."""
    if not task_spec(task_type).boxes:
        votes = [ClassAnswer(f"a{n}", int(answer["label"])) for n, answer in enumerate(answers)]
        (label,) = consolidate_classes([votes], num_classes).labels
        assert label is not None  # judge() refuses an object without answers
        return {"label": label.label}, label.confidence
    drawn = [BoxAnswer(f"a{n}", tuple(_boxes(answer))) for n, answer in enumerate(answers)]
    (merged,) = consolidate_boxes([drawn], num_classes).images
    confidence = min((item.confidence for item in merged), default=1.0)
    return {"boxes": [item.box.as_annotation() for item in merged]}, confidence


def judge(
    task_type: str,
    answers: Sequence[Mapping[str, Any]],
    num_classes: int,
    *,
    threshold: float,
    maximum: int,
    model_suggestion: Mapping[str, Any] | None = None,
) -> Verdict:
    """Whether the object with ``answers`` (stored form, submission order, distinct workers) needs another
    answer (module docstring). ValueError for no answers or a maximum below 1."""
    if not answers:
        raise ValueError("an object is judged after its first answer")
    if maximum < 1:
        raise ValueError("the maximum answers per object must be at least 1")
    label, confidence = _consolidated(task_type, answers, num_classes)
    if len(answers) == 1:
        confidence = min(confidence, SINGLE_ANSWER_CONFIDENCE)
    if not all(agree(task_type, answers[0], other) for other in answers[1:]):
        reason = "disagreed"
    elif confidence < threshold:
        reason = "low-confidence"
    elif model_suggestion is not None and not agree(task_type, label, model_suggestion):
        reason = "model-disagreed"
    else:
        return Verdict(False, "agreed", confidence)
    if len(answers) >= maximum:
        return Verdict(False, "maximum", confidence)
    return Verdict(True, reason, confidence)


def consolidated_label(
    task_type: str, answers: Sequence[Mapping[str, Any]], num_classes: int
) -> tuple[dict[str, Any], float]:
    """The object's consolidated label (stored answer form) and its confidence from its answers alone
    (every worker weighted alike), as :func:`judge` sees them; the review stage selects objects with it.
    ValueError for no answers."""
    if not answers:
        raise ValueError("an object is consolidated after its first answer")
    return _consolidated(task_type, answers, num_classes)
