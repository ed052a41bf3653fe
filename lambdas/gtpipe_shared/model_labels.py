"""A labeling model's answer as a label and its confidence, and whether it agrees with a human label.

The rules of automated data labeling (see :mod:`gtpipe_shared.auto_labeling`), shared by the local Ground
Truth emulation (``local.sagemaker.labeling_tasks``) and the builtin labeling service's loop
(``lambdas/labeling/auto.py``):

- classification: the most probable class; confidence = its probability;
- detection: the boxes scored at least a **score cut-off** ``c`` (pixels, clipped to the image); the
  image's confidence is the least certain of the model's candidate boxes, where a box's certainty is its
  score's distance from ``c`` mapped onto 0.5..1 (``0.5 + 0.5 (s - c) / (1 - c)`` for a kept box,
  ``0.5 + 0.5 (c - s) / c`` for a dropped one; 1.0 when it proposes none). With ``c`` = 0.5 this is
  ``min max(score, 1 - score)``, the Ground Truth emulation's rule. A detector trained on a small batch
  scores true objects far below 0.5 (the local detector after 24 epochs on 100 scenes: the median of its
  426 best-scored boxes on 200 held-out scenes is 0.30, BENCHMARKS.md "box-confidence"), so the builtin
  loop calibrates ``c`` per round on the human-labeled validation sample (:func:`choose_box_cutoff`), as
  it calibrates the confidence threshold.

A machine label **agrees** with a human one when the class is the same (classification), or when every
human box is matched one-to-one by a machine box of the same class at IoU >= 0.5 and no machine box is
left unmatched (detection).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gtpipe_shared.auto_labeling import DEFAULT_ACCURACY, Prediction, choose_threshold
from gtpipe_shared.consolidation import Box, clip_box, match_boxes

BOX_SCORE_CUTOFF = 0.5
# The cut-offs a round may choose from (choose_box_cutoff): 0.05 .. 0.9.
BOX_CUTOFF_CANDIDATES = tuple(round(0.05 * step, 2) for step in range(1, 19))


def classification_prediction(answer: Any, class_count: int) -> Prediction:
    """A :class:`Prediction` from the inference handlers' JSON answer (``[p0, p1, ...]``,
    ``[[p0, ...]]`` or ``{"prediction": [...]}``); ValueError when it is not ``class_count`` numbers."""
    if isinstance(answer, dict):
        answer = answer.get("prediction")
    if isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list):
        answer = answer[0]
    if (
        not isinstance(answer, list)
        or len(answer) != class_count
        or not all(isinstance(p, int | float) and not isinstance(p, bool) for p in answer)
    ):
        raise ValueError(f"the model's answer is not {class_count} class probabilities: {str(answer)[:200]}")
    best = max(range(len(answer)), key=answer.__getitem__)
    return Prediction(best, float(answer[best]))


def box_certainty(score: float, cutoff: float) -> float:
    """How sure the model is that a candidate box is (``score >= cutoff``) or is not an object: 0.5 at the
    cut-off, 1.0 at score 1 (kept) or 0 (dropped); ``max(score, 1 - score)`` when ``cutoff`` is 0.5."""
    if score >= cutoff:
        return 0.5 + 0.5 * min(score - cutoff, 1.0 - cutoff) / (1.0 - cutoff)
    return 0.5 + 0.5 * min(cutoff - score, cutoff) / cutoff


def detection_prediction(
    answer: Any, image_size: tuple[int, ...], class_count: int, cutoff: float = BOX_SCORE_CUTOFF
) -> Prediction:
    """A :class:`Prediction` (value: ``((Box, score), ...)`` in pixels, the boxes scored ``>= cutoff``)
    from the built-in's answer ``{"prediction": [[class_id, score, xmin, ymin, xmax, ymax], ...]}``
    (coordinates relative, 0..1); confidence: the least :func:`box_certainty` of its rows."""
    if not 0.0 < cutoff < 1.0:
        raise ValueError(f"the box score cut-off must be in (0, 1), got {cutoff}")
    rows = answer.get("prediction") if isinstance(answer, dict) else answer
    if not isinstance(rows, list):
        raise ValueError(f"the model's answer has no 'prediction' list: {str(answer)[:200]}")
    width, height = image_size[0], image_size[1]
    scored: list[tuple[Box, float]] = []
    certainty = 1.0
    for row in rows:
        if not isinstance(row, list) or len(row) != 6:
            raise ValueError(f"a detection must be [class_id, score, xmin, ymin, xmax, ymax]: {row!r}")
        class_id, score, xmin, ymin, xmax, ymax = (float(v) for v in row)
        certainty = min(certainty, box_certainty(score, cutoff))
        if score < cutoff:
            continue
        index = int(class_id)
        if not 0 <= index < class_count:
            raise ValueError(f"the model answered class {index}; the job has {class_count}")
        box = Box(index, xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height)
        scored.append((clip_box(box, width, height), score))
    scored.sort(key=lambda item: (item[0].top, item[0].left, item[0].class_id))
    return Prediction(tuple(scored), certainty)


def boxes_agree(prediction: Prediction, truth: Sequence[Box]) -> bool:
    """Every human box matched by a machine box of its class at IoU >= 0.5, and no machine box left."""
    return same_boxes([box for box, _ in prediction.value], truth)


def same_boxes(first: Sequence[Box], second: Sequence[Box]) -> bool:
    """Whether two images' boxes agree: as many boxes, each of ``second`` matched one-to-one by one of
    ``first`` of its class at IoU >= 0.5."""
    if len(first) != len(second):
        return False
    matches = match_boxes(list(first), list(second))
    return len(matches) == len(second) and all(first[i].class_id == second[j].class_id for i, j, _ in matches)


def label_boxes(label: Any) -> list[Box]:
    """The pixel boxes of a Ground Truth bounding-box label (``{"image_size", "annotations": [{"class_id",
    "left", "top", "width", "height"}]}``); ValueError when it is not one."""
    annotations = label.get("annotations") if isinstance(label, dict) else None
    if not isinstance(annotations, list):
        raise ValueError(f"not a bounding-box label (no annotations list): {str(label)[:200]}")
    try:
        return [
            Box(int(a["class_id"]), float(a["left"]), float(a["top"]), float(a["width"]), float(a["height"]))
            for a in annotations
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"a bounding-box annotation lacks class_id, left, top, width or height: {exc}"
        ) from exc


@dataclass(frozen=True)
class BoxCutoff:
    """A round's score cut-off and what it gives on the validation sample: the images whose machine label
    agrees, and those that would be machine-labeled at the chosen confidence threshold."""

    cutoff: float
    agreeing: int
    covered: int


def box_cutoff_scores(
    samples: Sequence[tuple[Any, tuple[int, ...], Sequence[Box]]], class_count: int
) -> dict[float, list[tuple[float, bool]]]:
    """For each cut-off of :data:`BOX_CUTOFF_CANDIDATES`, ``(confidence, agrees)`` per sample ``(answer,
    image size, human boxes)``, in the samples' order; an answer that is not the built-in's raises
    ValueError."""
    scores: dict[float, list[tuple[float, bool]]] = {cutoff: [] for cutoff in BOX_CUTOFF_CANDIDATES}
    for answer, size, truth in samples:
        for cutoff, scored in scores.items():
            prediction = detection_prediction(answer, size, class_count, cutoff)
            scored.append((prediction.confidence, boxes_agree(prediction, truth)))
    return scores


def pick_box_cutoff(
    scores: dict[float, list[tuple[float, bool]]], accuracy: float = DEFAULT_ACCURACY
) -> BoxCutoff:
    """:func:`choose_box_cutoff`'s choice from :func:`box_cutoff_scores`."""
    best: tuple[tuple[int, int, float], BoxCutoff] | None = None
    for cutoff, scored in scores.items():
        threshold = choose_threshold(scored, accuracy)
        covered = 0 if threshold is None else sum(1 for confidence, _ in scored if confidence >= threshold)
        agreeing = sum(1 for _, agrees in scored if agrees)
        key = (covered, agreeing, -abs(cutoff - BOX_SCORE_CUTOFF))
        if best is None or key > best[0]:
            best = (key, BoxCutoff(cutoff, agreeing, covered))
    assert best is not None
    return best[1]


def choose_box_cutoff(
    validation: Sequence[tuple[Any, tuple[int, ...], Sequence[Box]]],
    class_count: int,
    accuracy: float = DEFAULT_ACCURACY,
) -> BoxCutoff:
    """The score cut-off (of :data:`BOX_CUTOFF_CANDIDATES`) for a round, from the model's answers on the
    human-labeled validation sample (``(answer, image size, human boxes)``): the one machine-labeling the
    most validation images at the threshold :func:`choose_threshold` sets for it, then the one agreeing on
    the most images, then the one nearest :data:`BOX_SCORE_CUTOFF`. The validation sample calibrates it as
    it calibrates the threshold; an answer that is not the built-in's raises ValueError."""
    return pick_box_cutoff(box_cutoff_scores(validation, class_count), accuracy)
