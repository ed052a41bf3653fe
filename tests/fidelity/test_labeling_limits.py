"""Finding 12: Ground Truth's limits, checked at synth with errors naming the key and the limit.

At least 2 label categories for image classification (API_CreateLabelingJob), at most 10 labels for
bounding-box jobs (API_DescribeLabelingJob), TaskTitle 1-128 and TaskDescription 1-255 characters
(API_HumanTaskConfig): https://docs.aws.amazon.com/sagemaker/latest/APIReference/.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, StackConfig
from tests.infra.conftest import project_context


def build(**overrides: Any) -> StackConfig:
    return StackConfig.from_context(project_context(**overrides).get)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"labelCategories": ["cat"]},
            r"gtpipe:labelCategories: image-classification needs at least 2 label categories; got 1",
        ),
        (
            {"taskType": "object-detection", "labelCategories": [f"c{i}" for i in range(11)]},
            r"gtpipe:labelCategories: Ground Truth bounding-box labeling jobs allow at most 10 labels; got 11",
        ),
        ({"labeling": {"taskTitle": "t" * 129}}, r"gtpipe:labeling.taskTitle must be at most 128 characters"),
        (
            {"labeling": {"taskDescription": "d" * 256}},
            r"gtpipe:labeling.taskDescription must be at most 255 characters",
        ),
    ],
)
def test_ground_truth_limits_fail_synth(overrides: dict[str, Any], message: str) -> None:
    # Given a configuration Ground Truth's CreateLabelingJob would refuse
    # When it is validated at synth / Then the error names the key and the limit
    with pytest.raises(ConfigError, match=message):
        build(**overrides)


def test_values_at_the_limits_are_accepted() -> None:
    config = build(labeling={"taskTitle": "t" * 128, "taskDescription": "d" * 255})
    assert len(config.labeling.task_title) == 128
    detection = build(taskType="object-detection", labelCategories=[f"c{i}" for i in range(10)])
    assert len(detection.label_categories) == 10


def test_the_builtin_backend_is_not_bound_by_the_bounding_box_label_limit() -> None:
    categories = [f"c{i}" for i in range(11)]
    config = build(taskType="object-detection", labelCategories=categories, labelingBackend="builtin")
    assert len(config.label_categories) == 11
