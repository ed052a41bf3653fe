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

**A model's labels, their confidence and agreement** (automated data labeling) are
:mod:`gtpipe_shared.model_labels`'s rules (one home, shared with the builtin labeling service's loop).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gtpipe_shared import labeling_output as output
from gtpipe_shared.auto_labeling import Prediction
from gtpipe_shared.consolidation import (
    Box,
    BoxAnswer,
    ClassAnswer,
    ConsolidatedBox,
    ConsolidatedClass,
    consolidate_boxes,
    consolidate_classes,
)
from gtpipe_shared.model_labels import boxes_agree, classification_prediction, detection_prediction
from gtpipe_shared.tasks import TASKS, TaskType

from .box_workforce import BoxNoise, BoxReference, reference_boxes, simulate_box_answers
from .workforce import reference_label, simulate_answers

CLASSIFICATION = TASKS[TaskType.IMAGE_CLASSIFICATION]
DETECTION = TASKS[TaskType.OBJECT_DETECTION]
CLASSIFICATION_TYPE = CLASSIFICATION.label_type
DETECTION_TYPE = DETECTION.label_type


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
        return classification_prediction(answer, len(self.class_names))

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
        return detection_prediction(answer, image_size, len(self.class_names))

    def agrees(self, prediction: Prediction, human: Any) -> bool:
        """Every human box matched by a machine box of its class at IoU >= 0.5, and no machine box left."""
        return boxes_agree(prediction, [item.box for item in human.boxes])

    def machine_content(
        self, prediction: Prediction, image_size: tuple[int, int, int], job_name: str, creation_date: str
    ) -> dict[str, Any]:
        """The machine label in Ground Truth's format, one confidence (the box's score) per box."""
        width, height, depth = image_size
        return self._content(width, height, depth, prediction.value, job_name, creation_date, False)


LabelingTask = ClassificationTask | DetectionTask
