"""AWS service limits the typed configuration is checked against at synth (issue 14, findings 8 and 12).

Each rule lives in ``gtpipe_shared.aws_limits`` with the AWS documentation page it comes from, so the
local cloud and the functions apply the same numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gtpipe_shared.aws_limits import (
    IMAGE_CLASSIFICATION_HYPERPARAMETER_DOCS,
    LABEL_CATEGORY_DOCS,
    MAX_BOUNDING_BOX_LABELS,
    MAX_TASK_DESCRIPTION_CHARS,
    MAX_TASK_TITLE_CHARS,
    image_classification_problems,
)
from gtpipe_shared.tasks import TaskType, task_spec
from gtpipe_shared.templates import label_categories_json

__all__ = ["label_categories_json", "service_limit_problems"]

if TYPE_CHECKING:
    from infra.config import StackConfig

PREFIX = "gtpipe:"
HUMAN_TASK_DOCS = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_HumanTaskConfig.html"
BOUNDING_BOX_LIMIT_DOCS = (
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeLabelingJob.html"
)


def service_limit_problems(config: StackConfig) -> list[str]:
    """Every AWS limit ``config`` breaks, each naming the context key, the limit and its source."""
    # Instance types with local NVMe storage are accepted: the state machine definition leaves out the volume
    # key for them, as SageMaker requires (infra/constructs/definition.py; issue 14 finding 11).
    problems = _labeling_problems(config)
    if config.task_type == TaskType.IMAGE_CLASSIFICATION:
        # The built-in image-classification algorithm's documented hyperparameter rules (finding 8).
        problems.extend(
            f"{PREFIX}hyperparameters: {problem} ({IMAGE_CLASSIFICATION_HYPERPARAMETER_DOCS})"
            for problem in image_classification_problems(config.hyperparameters)
        )
    return problems


def _labeling_problems(config: StackConfig) -> list[str]:
    problems: list[str] = []
    count = len(config.label_categories)
    task = task_spec(config.task_type)
    if count < task.min_classes:
        problems.append(
            f"{PREFIX}labelCategories: {task.value} needs at least {task.min_classes} label "
            f"categories; got {count} ({LABEL_CATEGORY_DOCS})"
        )
    if config.labeling_backend == "ground-truth" and task.boxes and count > MAX_BOUNDING_BOX_LABELS:
        problems.append(
            f"{PREFIX}labelCategories: Ground Truth bounding-box labeling jobs allow at most "
            f"{MAX_BOUNDING_BOX_LABELS} labels; got {count} ({BOUNDING_BOX_LIMIT_DOCS})"
        )
    for key, value, limit in (
        ("labeling.taskTitle", config.labeling.task_title, MAX_TASK_TITLE_CHARS),
        ("labeling.taskDescription", config.labeling.task_description, MAX_TASK_DESCRIPTION_CHARS),
    ):
        if len(value) > limit:
            problems.append(
                f"{PREFIX}{key} must be at most {limit} characters (Ground Truth HumanTaskConfig); "
                f"got {len(value)} ({HUMAN_TASK_DOCS})"
            )
    return problems
