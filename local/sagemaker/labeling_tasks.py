"""The two simulated Ground Truth task types: their reference answers, simulated workers, consolidation,
output formats, and how a model's prediction becomes (or is checked against) a label. No AWS, no I/O.

=================  =====================================  ==========================================
                   image classification                   bounding boxes
=================  =====================================  ==========================================
task Lambdas       ``PRE-ImageMultiClass``                ``PRE-BoundingBox``
reference line     ``{"source-ref", "label"}``            ``{"source-ref", "image_size",
                                                          "annotations": [{"class_id", "left",
                                                          "top", "width", "height"}]}``
worker answer      ``{"crowd-image-classifier":           ``{"boundingBox": {"boundingBoxes":
                   {"label": name}}``                     [{"label", "left", "top", "width",
                                                          "height"}], "inputImageProperties":
                                                          {"width", "height"}}}``
consolidation      ``consolidate_classes``                ``consolidate_boxes``
label              class index                            ``{"image_size": [{...}], "annotations":
                                                          [...]}`` (pixels)
metadata           ``class-name``, ``confidence``         ``objects: [{"confidence"}]``, ``class-map``
model answer       ``[p0, p1, ...]`` (probabilities)      ``{"prediction": [[class_id, score, xmin,
                                                          ymin, xmax, ymax], ...]}`` (relative)
=================  =====================================  ==========================================

Both metadata also hold ``type``, ``human-annotated`` (``yes``/``no``), ``creation-date`` and
``job-name: "labeling-job/<job>"``. Consolidation (:mod:`gtpipe_shared.consolidation`) and the label and
answer formats (:mod:`gtpipe_shared.labeling_output`) are the builtin labeling service's own code.

**A model's labels and their confidence** (automated data labeling):

- classification: the most probable class; confidence = its probability;
- detection: the boxes scored at least 0.5 (pixels, clipped to the image); the image's confidence is
  ``min over the model's boxes of max(score, 1 - score)``: how sure the model is, for every candidate box,
  that it is or is not an object (1.0 when it proposes none). Thresholding that confidence at ``t``
  (>= 0.5) keeps exactly the images whose every box scores ``>= t`` or ``<= 1 - t``.

A machine label **agrees** with a human one when the class is the same (classification), or when every
human box is matched one-to-one by a machine box of the same class at IoU >= 0.5 and no machine box is
left unmatched (detection).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gtpipe_shared import labeling_output as output
from gtpipe_shared.consolidation import (
    Box,
    BoxAnswer,
    ClassAnswer,
    ConsolidatedBox,
    ConsolidatedClass,
    clip_box,
    consolidate_boxes,
    consolidate_classes,
    match_boxes,
)
from gtpipe_shared.tasks import TASKS, TaskType

from .box_workforce import BoxNoise, BoxReference, reference_boxes, simulate_box_answers
from .workforce import reference_label, simulate_answers

CLASSIFICATION = TASKS[TaskType.IMAGE_CLASSIFICATION]
DETECTION = TASKS[TaskType.OBJECT_DETECTION]
CLASSIFICATION_TYPE = CLASSIFICATION.label_type
DETECTION_TYPE = DETECTION.label_type
BOX_SCORE_CUTOFF = 0.5


@dataclass(frozen=True)
class Prediction:
    """A model's label for one object and its confidence (0..1); ``value`` is the task's label
    (a class index, or a tuple of ``(Box, score)``)."""

    value: Any
    confidence: float


class ClassificationTask:
    """Single-label image classification (``PRE-ImageMultiClass``)."""

    kind = "classification"
    algorithm = CLASSIFICATION.algorithm
    pre_human_task_lambda = CLASSIFICATION.pre_human_task_lambda
    label_type = CLASSIFICATION_TYPE
    min_classes = CLASSIFICATION.min_classes

    def __init__(self, class_names: Sequence[str], attribute: str, error_rate: float, seed: int) -> None:
        self.class_names = list(class_names)
        self.attribute = attribute
        self.error_rate = error_rate
        self.seed = seed

    def parse_reference(self, entry: Mapping[str, object], where: str) -> tuple[str, int] | None:
        """``(source-ref, class index)``; None for a bounding-box reference line (another task's)."""
        if "label" not in entry and "annotations" in entry:
            return None
        return reference_label(entry, self.class_names, where)

    def simulate(self, reference: int, workers: Sequence[str], rng: random.Random) -> list[ClassAnswer]:
        """One answer per worker."""
        return simulate_answers(reference, len(self.class_names), workers, self.error_rate, rng)

    def consolidate(
        self, answers: Sequence[Sequence[ClassAnswer]], references: Sequence[int]
    ) -> list[ConsolidatedClass]:
        """The consolidated label of each object (every object has answers)."""
        labels = consolidate_classes(answers, len(self.class_names), seed=self.seed).labels
        return [label for label in labels if label is not None]

    def answer_content(self, answer: ClassAnswer, reference: int) -> dict[str, Any]:
        """A worker's ``answerContent``."""
        return output.classification_answer_content(self.class_names, answer.label)

    def human_content(self, label: Any, job_name: str, creation_date: str) -> dict[str, Any]:
        """``{<attr>: class, <attr>-metadata: {...}}`` of a consolidated human label."""
        return output.classification_content(
            self.attribute,
            self.class_names,
            label.label,
            label.confidence,
            job_name,
            creation_date,
            human=True,
        )

    def failure_metadata(self, reason: str, job_name: str, creation_date: str) -> dict[str, Any]:
        """The metadata of an object that could not be labeled."""
        return output.failure_metadata(CLASSIFICATION.task_type, reason, job_name, creation_date)

    def prediction(self, answer: Any, image_size: tuple[int, int, int]) -> Prediction:
        """A :class:`Prediction` from the inference handlers' JSON answer (``[p0, p1, ...]`` or
        ``{"prediction": [...]}``)."""
        if isinstance(answer, dict):
            answer = answer.get("prediction")
        if isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list):
            answer = answer[0]
        if (
            not isinstance(answer, list)
            or len(answer) != len(self.class_names)
            or not all(isinstance(p, int | float) and not isinstance(p, bool) for p in answer)
        ):
            raise ValueError(
                f"the model's answer is not {len(self.class_names)} class probabilities: {str(answer)[:200]}"
            )
        best = max(range(len(answer)), key=answer.__getitem__)
        return Prediction(best, float(answer[best]))

    def agrees(self, prediction: Prediction, human: Any) -> bool:
        """Whether the machine label equals the consolidated human label."""
        return bool(prediction.value == human.label)

    def machine_content(
        self, prediction: Prediction, image_size: tuple[int, int, int], job_name: str, creation_date: str
    ) -> dict[str, Any]:
        """``{<attr>, <attr>-metadata}`` of a machine label (``human-annotated: "no"``)."""
        return output.classification_content(
            self.attribute,
            self.class_names,
            prediction.value,
            prediction.confidence,
            job_name,
            creation_date,
            human=False,
        )


@dataclass(frozen=True)
class HumanBoxes:
    """A consolidated bounding-box label: the image size and the merged boxes."""

    reference: BoxReference
    boxes: tuple[ConsolidatedBox, ...]


class DetectionTask:
    """Bounding boxes (``PRE-BoundingBox``)."""

    kind = "detection"
    algorithm = DETECTION.algorithm
    pre_human_task_lambda = DETECTION.pre_human_task_lambda
    label_type = DETECTION_TYPE
    min_classes = DETECTION.min_classes

    def __init__(self, class_names: Sequence[str], attribute: str, noise: BoxNoise) -> None:
        self.class_names = list(class_names)
        self.attribute = attribute
        self.noise = noise

    def parse_reference(self, entry: Mapping[str, object], where: str) -> tuple[str, BoxReference] | None:
        """``(source-ref, BoxReference)``; None for a classification reference line (another task's)."""
        if "annotations" not in entry and "label" in entry:
            return None
        return reference_boxes(entry, len(self.class_names), where)

    def simulate(
        self, reference: BoxReference, workers: Sequence[str], rng: random.Random
    ) -> list[BoxAnswer]:
        """One answer (a tuple of boxes) per worker."""
        return simulate_box_answers(reference, len(self.class_names), workers, self.noise, rng)

    def consolidate(
        self, answers: Sequence[Sequence[BoxAnswer]], references: Sequence[BoxReference]
    ) -> list[Any]:
        """The merged boxes of each image (:class:`HumanBoxes`)."""
        result = consolidate_boxes(answers, len(self.class_names))
        return [
            HumanBoxes(reference, tuple(boxes))
            for reference, boxes in zip(references, result.images, strict=True)
        ]

    def answer_content(self, answer: BoxAnswer, reference: BoxReference) -> dict[str, Any]:
        """A worker's ``answerContent``: its boxes (class names as labels) and the image's size."""
        return output.detection_answer_content(
            self.class_names, answer.boxes, reference.width, reference.height
        )

    def _content(
        self,
        width: int,
        height: int,
        depth: int,
        boxes: Sequence[tuple[Box, float]],
        job_name: str,
        creation_date: str,
        human: bool,
    ) -> dict[str, Any]:
        return output.detection_content(
            self.attribute,
            self.class_names,
            (width, height, depth),
            boxes,
            job_name,
            creation_date,
            human=human,
        )

    def human_content(self, label: Any, job_name: str, creation_date: str) -> dict[str, Any]:
        """``{<attr>: {"image_size", "annotations"}, <attr>-metadata: {"objects", "class-map", ...}}``."""
        reference = label.reference
        boxes = [(item.box, item.confidence) for item in label.boxes]
        return self._content(
            reference.width, reference.height, reference.depth, boxes, job_name, creation_date, True
        )

    def failure_metadata(self, reason: str, job_name: str, creation_date: str) -> dict[str, Any]:
        """The metadata of an image that could not be labeled."""
        return output.failure_metadata(DETECTION.task_type, reason, job_name, creation_date)

    def prediction(self, answer: Any, image_size: tuple[int, int, int]) -> Prediction:
        """A :class:`Prediction` from the built-in's answer ``{"prediction": [[class_id, score, xmin, ymin,
        xmax, ymax], ...]}`` (coordinates relative to the image, 0..1)."""
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
            if not 0 <= index < len(self.class_names):
                raise ValueError(f"the model answered class {index}; the job has {len(self.class_names)}")
            box = Box(index, xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height)
            scored.append((clip_box(box, width, height), score))
        scored.sort(key=lambda item: (item[0].top, item[0].left, item[0].class_id))
        return Prediction(tuple(scored), certainty)

    def agrees(self, prediction: Prediction, human: Any) -> bool:
        """Every human box matched by a machine box of its class at IoU >= 0.5, and no machine box left."""
        predicted = [box for box, _ in prediction.value]
        truth = [item.box for item in human.boxes]
        if len(predicted) != len(truth):
            return False
        matches = match_boxes(predicted, truth)
        return len(matches) == len(truth) and all(
            predicted[i].class_id == truth[j].class_id for i, j, _ in matches
        )

    def machine_content(
        self, prediction: Prediction, image_size: tuple[int, int, int], job_name: str, creation_date: str
    ) -> dict[str, Any]:
        """The machine label in Ground Truth's format, one confidence (the box's score) per box."""
        width, height, depth = image_size
        return self._content(width, height, depth, prediction.value, job_name, creation_date, False)


LabelingTask = ClassificationTask | DetectionTask
