"""The built-in algorithms' SageMaker ``MetricDefinitions``, by task type: their one home.

SageMaker turns a training job's log lines into metrics with ``MetricDefinitions`` (each ``Regex``
captures the value in group 1) and reports a built-in algorithm's definitions in DescribeTrainingJob's
``AlgorithmSpecification.MetricDefinitions``; the state machine sets none, as a built-in brings its own.
The names are the built-ins' metrics (``validation:accuracy`` and ``validation:mAP`` are their tuning
objectives). Who reads these tables:

- the local SageMaker (``local/sagemaker/algorithms.py``) reports them for its stand-ins of the built-ins
  (``python -m training.train``, ``python -m training.detection.train``), as SageMaker does, and computes
  ``FinalMetricDataList`` with them;
- the report function parses a training job's log with the job's own definitions and falls back to
  these when DescribeTrainingJob names none (``report.curves.default_definitions``).

``training/`` writes the lines but imports nothing of ours (its code is copied into each model
artifact): ``tests/training/test_training_job.py`` and ``test_detection_job.py`` parse a real job's log
with these tables, so a change of either side that breaks the other fails there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from gtpipe_shared.tasks import TaskType, task_spec

VALIDATION_ACCURACY: Final = "validation:accuracy"
"""The image-classification algorithm's accuracy on the validation channel, its tuning objective
(https://docs.aws.amazon.com/sagemaker/latest/dg/IC-tuning.html, "Metrics Computed by the Image
Classification Algorithm")."""

# A number as Python's repr prints it, including nan/inf so a diverged run still parses.
_NUMBER: Final = r"([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan|inf))"

CLASSIFICATION_METRIC_DEFINITIONS: Final[list[dict[str, str]]] = [
    {"Name": "train:accuracy", "Regex": r"Epoch\[[0-9]+\] Train-accuracy=" + _NUMBER},
    {"Name": "validation:accuracy", "Regex": r"Epoch\[[0-9]+\] Validation-accuracy=" + _NUMBER},
    {"Name": "train:loss", "Regex": r"Epoch\[[0-9]+\] Train-loss=" + _NUMBER},
    {"Name": "validation:loss", "Regex": r"Epoch\[[0-9]+\] Validation-loss=" + _NUMBER},
    {"Name": "train:top_k_accuracy", "Regex": r"Epoch\[[0-9]+\] Train-top_k_accuracy_[0-9]+=" + _NUMBER},
    {
        "Name": "validation:top_k_accuracy",
        "Regex": r"Epoch\[[0-9]+\] Validation-top_k_accuracy_[0-9]+=" + _NUMBER,
    },
]
"""The image-classification algorithm's per-epoch lines (``Epoch[3] Validation-accuracy=0.912000``)."""

# "#quality_metric: host=algo-1, epoch=3, validation mAP <score>=(0.81)"; training lines may name the batch,
# with or without a comma ("epoch=3, batch=20 train ..."), and the local detector leaves it out.
_QUALITY: Final = r"#quality_metric: host=\S+, epoch=[0-9]+, (?:batch=[0-9]+,? )?"

DETECTION_METRIC_DEFINITIONS: Final[list[dict[str, str]]] = [
    {"Name": "validation:mAP", "Regex": _QUALITY + r"validation mAP <score>=\(" + _NUMBER + r"\)"},
    {"Name": "train:cross_entropy", "Regex": _QUALITY + r"train cross_entropy <loss>=\(" + _NUMBER + r"\)"},
    {"Name": "train:smooth_l1", "Regex": _QUALITY + r"train smooth_l1 <loss>=\(" + _NUMBER + r"\)"},
]
"""The object-detection algorithm's quality-metric lines, the built-in's and the local detector's
(``train:cross_entropy`` is its centre-heatmap focal loss, ``train:smooth_l1`` its box-regression loss)."""

METRIC_DEFINITIONS: Final[dict[TaskType, list[dict[str, str]]]] = {
    TaskType.IMAGE_CLASSIFICATION: CLASSIFICATION_METRIC_DEFINITIONS,
    TaskType.OBJECT_DETECTION: DETECTION_METRIC_DEFINITIONS,
}
"""The built-in algorithm's definitions of each task type."""


def metric_definitions(task_type: str) -> list[dict[str, str]]:
    """The built-in algorithm's definitions for ``task_type``; UnknownTaskType when it is not registered."""
    return METRIC_DEFINITIONS[task_spec(task_type).task_type]


def final_metric(describe: Mapping[str, Any], name: str) -> float | None:
    """The value of metric ``name`` in a DescribeTrainingJob answer's ``FinalMetricDataList`` (one point per
    metric: its last value), or None when the job reported none (the list is absent or lacks the name) or a
    value that is not a finite number. The list is optional in the answer ("Required: No",
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTrainingJob.html)."""
    for metric in describe.get("FinalMetricDataList") or []:
        if not isinstance(metric, Mapping) or metric.get("MetricName") != name:
            continue
        value = metric.get("Value")
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        return None
    return None
