"""The task registry: the task types gtpipe runs and, per type, everything that differs between them.

Every place that behaves differently per task type reads a :class:`TaskSpec` (``task_spec(value)``)
instead of comparing task-type strings, so adding a task type is adding one spec here and the code its
flags select. A task type is never assumed: a payload, ledger item or configuration without one, or with
one not in :data:`TASKS`, is refused with :class:`UnknownTaskType` naming the known types.

==========================  ====================================  ====================================
field                       ``image-classification``              ``object-detection``
==========================  ====================================  ====================================
``title``                   ``Image classification``              ``Bounding boxes``
``label_type``              ``groundtruth/image-classification``  ``groundtruth/object-detection``
``boxes``                   False: a label is a class id          True: ``{"image_size", "annotations"}``
``pre_human_task_lambda``   ``PRE-ImageMultiClass``               ``PRE-BoundingBox``
``consolidation_lambda``    ``ACS-ImageMultiClass``               ``ACS-BoundingBox``
``algorithm``               ``image-classification``              ``object-detection``
``metric_name``             ``accuracy``                          ``map_50``
``min_classes``             2                                     1
==========================  ====================================  ====================================

Importable by the Lambda functions, ``infra`` and ``local`` (it imports only :mod:`gtpipe_shared.aws_limits`). ``training``
does not import it (the training container ships only the ``training`` package): its algorithms name
themselves, and ``tests/lambdas/test_shared_tasks.py`` keeps those names equal to ``algorithm`` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gtpipe_shared.aws_limits import MIN_CLASSIFICATION_LABELS


class TaskType(StrEnum):
    """A task type, as configured (``gtpipe:taskType``) and as carried in payloads and ledger items."""

    IMAGE_CLASSIFICATION = "image-classification"
    OBJECT_DETECTION = "object-detection"


@dataclass(frozen=True)
class TaskSpec:
    """What one task type fixes, for every component (see the module docstring's table)."""

    task_type: TaskType
    title: str
    """How people see the task type (the labeling app's job list, ``GET /app/tasks.json`` of ``labeling_web``)."""
    label_type: str
    """The ``type`` Ground Truth writes in a label's ``-metadata`` (augmented manifests)."""
    boxes: bool
    """True when a label is a bounding-box object (``image_size`` and ``annotations``, each box with a
    ``class_id``), False when it is one integer class id."""
    pre_human_task_lambda: str
    """The name of Ground Truth's pre-annotation Lambda function (PreHumanTaskLambdaArn)."""
    consolidation_lambda: str
    """The name of Ground Truth's annotation-consolidation Lambda function."""
    algorithm: str
    """The built-in SageMaker algorithm: its ECR repository name (image ``<account>.dkr.ecr...
    /<algorithm>:1``) and the suffix of its labeling-job algorithm specification ARN."""
    metric_name: str
    """The evaluate step's gate metric (``metric_name`` of its answer; compared with quality_threshold)."""
    min_classes: int
    """The fewest label categories (configuration) and labeled classes (split) the task can train on."""

    @property
    def value(self) -> str:
        """The task type's string (``image-classification``)."""
        return self.task_type.value


TASKS: dict[TaskType, TaskSpec] = {
    TaskType.IMAGE_CLASSIFICATION: TaskSpec(
        task_type=TaskType.IMAGE_CLASSIFICATION,
        title="Image classification",
        label_type="groundtruth/image-classification",
        boxes=False,
        pre_human_task_lambda="PRE-ImageMultiClass",
        consolidation_lambda="ACS-ImageMultiClass",
        algorithm="image-classification",
        metric_name="accuracy",
        min_classes=MIN_CLASSIFICATION_LABELS,
    ),
    TaskType.OBJECT_DETECTION: TaskSpec(
        task_type=TaskType.OBJECT_DETECTION,
        title="Bounding boxes",
        label_type="groundtruth/object-detection",
        boxes=True,
        pre_human_task_lambda="PRE-BoundingBox",
        consolidation_lambda="ACS-BoundingBox",
        algorithm="object-detection",
        metric_name="map_50",
        min_classes=1,
    ),
}
"""Every task type's spec, in :class:`TaskType` order."""

TASK_TYPES: tuple[str, ...] = tuple(task.value for task in TaskType)
"""The task types' strings, in registry order."""

BY_LABEL_TYPE: dict[str, TaskSpec] = {spec.label_type: spec for spec in TASKS.values()}
"""Specs by the Ground Truth label ``type`` of their labels."""


class UnknownTaskType(ValueError):
    """A task type that is missing or not in the registry; the message lists the known ones."""

    def __init__(self, value: Any) -> None:
        known = ", ".join(TASK_TYPES)
        problem = "no task_type given" if value is None or value == "" else f"unsupported task_type {value!r}"
        super().__init__(f"{problem} (known: {known})")
        self.value = value


def task_spec(value: Any) -> TaskSpec:
    """The spec of task type ``value`` (a :class:`TaskType` or its string); :class:`UnknownTaskType` for
    anything else, None and the empty string included (no task type is assumed)."""
    try:
        return TASKS[TaskType(value)]
    except ValueError:
        raise UnknownTaskType(value) from None
