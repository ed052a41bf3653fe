"""gtpipe_shared.metric_definitions.final_metric: one metric of DescribeTrainingJob's FinalMetricDataList
(label-error finding's accuracy before and after the fix reads validation:accuracy with it)."""

from __future__ import annotations

from typing import Any

import pytest
from gtpipe_shared.metric_definitions import VALIDATION_ACCURACY, final_metric


def described(*metrics: tuple[str, Any]) -> dict[str, Any]:
    return {"FinalMetricDataList": [{"MetricName": name, "Value": value} for name, value in metrics]}


def test_the_named_metric_s_value_is_read_among_the_others() -> None:
    # Given a job that reported train and validation accuracy / Then validation:accuracy is its own value
    job = described(("train:accuracy", 0.99), (VALIDATION_ACCURACY, 0.93))
    assert final_metric(job, VALIDATION_ACCURACY) == pytest.approx(0.93)
    assert final_metric(described((VALIDATION_ACCURACY, 1)), VALIDATION_ACCURACY) == 1.0


@pytest.mark.parametrize(
    "describe",
    [
        {},  # no metrics reported: SageMaker leaves the list out
        {"FinalMetricDataList": []},
        described(("train:accuracy", 0.99)),
        described((VALIDATION_ACCURACY, float("nan"))),  # a diverged run
        described((VALIDATION_ACCURACY, "0.9")),
        described((VALIDATION_ACCURACY, True)),
        {"FinalMetricDataList": ["validation:accuracy"]},
    ],
)
def test_a_missing_or_unusable_value_reads_as_unknown(describe: dict[str, Any]) -> None:
    # Given a job without a usable validation:accuracy / Then it reads None, never a made-up number
    assert final_metric(describe, VALIDATION_ACCURACY) is None
