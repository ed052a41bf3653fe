"""A labeling model's answer as a label and its confidence, and whether it agrees with a human label.

The rules of automated data labeling (see :mod:`gtpipe_shared.auto_labeling`), shared by the local Ground
Truth emulation (``local.sagemaker.labeling_tasks``) and the builtin labeling service's loop
(``lambdas/labeling/auto.py``):

- classification: the most probable class; confidence = its probability;
- detection: the boxes scored at least 0.5 (pixels, clipped to the image); the image's confidence is
  ``min over the model's boxes of max(score, 1 - score)``: how sure the model is, for every candidate box,
  that it is or is not an object (1.0 when it proposes none).

A machine label **agrees** with a human one when the class is the same (classification), or when every
human box is matched one-to-one by a machine box of the same class at IoU >= 0.5 and no machine box is
left unmatched (detection).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gtpipe_shared.auto_labeling import Prediction
from gtpipe_shared.consolidation import Box, clip_box, match_boxes

BOX_SCORE_CUTOFF = 0.5


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


def detection_prediction(answer: Any, image_size: tuple[int, int, int], class_count: int) -> Prediction:
    """A :class:`Prediction` (value: ``((Box, score), ...)`` in pixels) from the built-in's answer
    ``{"prediction": [[class_id, score, xmin, ymin, xmax, ymax], ...]}`` (coordinates relative, 0..1)."""
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
        certainty = min(certainty, max(score, 1.0 - score))
        if score < BOX_SCORE_CUTOFF:
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
    predicted = [box for box, _ in prediction.value]
    if len(predicted) != len(truth):
        return False
    matches = match_boxes(predicted, list(truth))
    return len(matches) == len(truth) and all(
        predicted[i].class_id == truth[j].class_id for i, j, _ in matches
    )
