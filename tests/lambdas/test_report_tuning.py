"""The report's hyperparameter tuning part: the tuning job's trials, listed page by page, the best marked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gtpipe_shared.pricing import LabelingPrices
from report.gather import Gatherer
from report.gather_base import Clients, Settings
from report.model import TUNING
from report.tuning import tuning_html

STATE = {
    "config": {"tuning": {"objective_metric": "validation:accuracy", "objective_type": "Maximize"}},
    "training": {"job_name": "tune-002-bbbb"},
    "tuning_job": {"job_name": "tune", "best_training_job": "tune-002-bbbb"},
}


def summary(number: int, status: str, rate: str, value: float | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "TrainingJobName": f"tune-00{number}-{'abcd'[number - 1] * 4}",
        "TrainingJobStatus": status,
        "CreationTime": datetime(2026, 1, 1, 0, number, tzinfo=UTC),
        "TunedHyperParameters": {"learning_rate": rate},
    }
    if value is not None:
        item["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "MetricName": "validation:accuracy",
            "Value": value,
        }
    return item


class PagedSageMaker:
    """ListTrainingJobsForHyperParameterTuningJob in pages of two, newest first (order must not matter)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.items = [
            summary(3, "Failed", "0.9", None),
            summary(2, "Completed", "0.01", 0.92),
            summary(1, "Completed", "0.0001", 0.31),
        ]

    def list_training_jobs_for_hyper_parameter_tuning_job(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        start = int(params.get("NextToken", 0))
        page: dict[str, Any] = {"TrainingJobSummaries": self.items[start : start + 2]}
        if start + 2 < len(self.items):
            page["NextToken"] = str(start + 2)
        return page


def gather(state: dict[str, Any], sagemaker: Any) -> Any:
    gatherer = Gatherer(
        "r", "succeeded", state, Settings("b", LabelingPrices()), Clients(None, sagemaker, None, None)
    )
    gatherer._guard(TUNING, "the tuning job's trials", gatherer._tuning)
    return gatherer.data


def test_the_trials_are_listed_oldest_first_with_the_run_s_model_marked_best() -> None:
    # Given a run whose model came from trial 2 of its tuning job / When the report gathers the tuning part
    sagemaker = PagedSageMaker()
    data = gather(STATE, sagemaker)
    # Then every page was read and the three trials are there, oldest first, trial 2 marked best
    assert [call.get("NextToken") for call in sagemaker.calls] == [None, "2"]
    tuning = data.tuning
    assert tuning is not None and tuning.job_name == "tune"
    assert [t.name for t in tuning.trials] == ["tune-001-aaaa", "tune-002-bbbb", "tune-003-cccc"]
    assert [t.objective for t in tuning.trials] == [0.31, 0.92, None]
    assert tuning.best is not None and tuning.best.name == "tune-002-bbbb"
    # and the page's table shows each trial's learning rate, status and accuracy, the best one marked
    page = tuning_html(tuning)
    assert "3 trials" in page and "<th>learning_rate</th>" in page and "<th>validation:accuracy</th>" in page
    assert "tune-002-bbbb <strong>(best)</strong>" in page and "0.9200" in page and "Failed" in page


def test_a_run_without_tuning_has_no_tuning_part() -> None:
    # Given a run that trained one job / Then the part is absent, nothing is called and nothing is missing
    data = gather({"training": {"job_name": "run-train-0"}}, sagemaker=None)
    assert data.tuning is None and TUNING not in data.unavailable
    assert tuning_html(None) == ""


def test_a_listing_that_fails_is_reported_missing_not_raised() -> None:
    class Denied:
        def list_training_jobs_for_hyper_parameter_tuning_job(self, **params: Any) -> dict[str, Any]:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "List")

    data = gather(STATE, Denied())
    assert data.tuning is None and "AccessDeniedException" in data.unavailable[TUNING]
