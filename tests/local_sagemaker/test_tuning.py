"""The local SageMaker's hyperparameter tuning jobs: trials as training jobs, the best by the objective,
Describe/List answers shaped as SageMaker's, limits and refusals (scripted runner: no processes)."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from local.sagemaker import Job, LocalSageMaker, SageMakerServiceError, ScriptedJobRunner, fail, succeed
from local.sagemaker.tuning_search import TrialResult, best_trial, sample_trials

from .conftest import ACCOUNT, IMAGE, REGION, ROLE

STATIC = {"num_classes": "10", "num_training_samples": "100", "epochs": "2"}


def accuracy_of(job: Job) -> dict[str, Any]:
    """Scripted outputs: validation accuracy peaks at learning_rate 0.01 (1.0) and falls with log distance."""
    rate = float(job.request["HyperParameters"]["learning_rate"])
    accuracy = max(0.0, 1.0 - abs(math.log10(rate) + 2.0) / 3.0)
    return {"FinalMetricDataList": [{"MetricName": "validation:accuracy", "Value": accuracy, "Timestamp": 0}]}


def tuning_request(name: str = "tune-digits", **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "RandomSeed": 7,
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {
                        "Name": "learning_rate",
                        "MinValue": "0.0001",
                        "MaxValue": "0.5",
                        "ScalingType": "Logarithmic",
                    }
                ],
                "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}],
            },
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            "RoleArn": ROLE,
            "StaticHyperParameters": dict(STATIC),
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/train/"}},
                }
            ],
            "OutputDataConfig": {"S3OutputPath": "s3://b/models/"},
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
        "Tags": [{"Key": "gtpipe:run-id", "Value": "run-1"}],
    }
    request.update(overrides)
    return request


def wait(service: LocalSageMaker, name: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = service.describe_hyper_parameter_tuning_job({"HyperParameterTuningJobName": name})
        if response["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            return response
        assert time.monotonic() < deadline, response["HyperParameterTuningJobStatus"]
        time.sleep(0.02)


class CountingRunner(ScriptedJobRunner):
    """Records how many training jobs were still running when each one started."""

    def __init__(self, service: list[LocalSageMaker]) -> None:
        super().__init__()
        self.service = service
        self.running_at_start: list[int] = []

    def start(self, job: Job) -> None:
        running = [j for j in self.service[0].jobs("training") if not j.terminal]
        self.running_at_start.append(len(running))
        super().start(job)


def test_trials_run_as_training_jobs_and_the_best_objective_wins() -> None:
    # Given a tuning job of 5 trials, 2 at a time, whose scripted accuracy peaks at learning rate 0.01
    holder: list[LocalSageMaker] = []
    runner = CountingRunner(holder)
    runner.set_default("training", succeed(after_polls=2, outputs=accuracy_of))
    with LocalSageMaker(runner=runner, region=REGION, account_id=ACCOUNT) as service:
        holder.append(service)
        # When it runs to its end
        arn = service.create_hyper_parameter_tuning_job(tuning_request())["HyperParameterTuningJobArn"]
        response = wait(service, "tune-digits")
        trials = service.list_training_jobs_for_hyper_parameter_tuning_job(
            {
                "HyperParameterTuningJobName": "tune-digits",
                "SortBy": "FinalObjectiveMetricValue",
                "SortOrder": "Descending",
            }
        )["TrainingJobSummaries"]
        first = service.describe_training_job({"TrainingJobName": trials[0]["TrainingJobName"]})

    # Then it completed with five trials, never more than two at once
    assert arn.endswith(":hyper-parameter-tuning-job/tune-digits")
    assert response["HyperParameterTuningJobStatus"] == "Completed"
    assert response["TrainingJobStatusCounters"] == {
        "Completed": 5,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert response["ObjectiveStatusCounters"] == {"Succeeded": 5, "Pending": 0, "Failed": 0}
    assert len(runner.running_at_start) == 5 and max(runner.running_at_start) <= 1
    # and the best training job is the trial with the highest accuracy, first in the descending list
    values = [t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for t in trials]
    assert values == sorted(values, reverse=True) and len(set(values)) == 5
    best = response["BestTrainingJob"]
    assert best["TrainingJobName"] == trials[0]["TrainingJobName"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == values[0]
    assert best["TrainingJobName"].startswith("tune-digits-") and len(best["TrainingJobName"].split("-")) == 4
    # and each trial is the definition's training job with the static, tuned and objective hyperparameters
    assert first["TuningJobArn"] == arn
    assert first["HyperParameters"] == {
        **STATIC,
        **best["TunedHyperParameters"],
        "_tuning_objective_metric": "validation:accuracy",
    }
    assert set(best["TunedHyperParameters"]) == {"learning_rate", "optimizer"}


def test_the_same_seed_gives_the_same_trials() -> None:
    # Given two tuning jobs with the same ranges and RandomSeed / Then their trials' values are the same
    ranges = tuning_request()["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert sample_trials(ranges, 6, 7) == sample_trials(ranges, 6, 7)
    assert sample_trials(ranges, 6, 7) != sample_trials(ranges, 6, 8)
    # and the log-scaled values stay within the range
    rates = [float(t["learning_rate"]) for t in sample_trials(ranges, 50, 1)]
    assert all(0.0001 <= r <= 0.5 for r in rates)
    assert min(rates) < 0.001 and max(rates) > 0.05  # log scale reaches both ends


def test_minimize_picks_the_lowest_and_ties_go_to_the_earlier_trial() -> None:
    results = [
        TrialResult("a", "Completed", 0.5),
        TrialResult("b", "Completed", 0.2),
        TrialResult("c", "Completed", 0.2),
    ]
    assert best_trial(results, "Minimize") == results[1]
    assert best_trial(results, "Maximize") == results[0]
    assert best_trial([TrialResult("x", "Failed", None)], "Maximize") is None


def test_all_trials_failing_fails_the_tuning_job_without_a_best_job() -> None:
    # Given every trial fails
    runner = ScriptedJobRunner().set_default("training", fail("AlgorithmError: diverged"))
    with LocalSageMaker(runner=runner, region=REGION, account_id=ACCOUNT) as service:
        service.create_hyper_parameter_tuning_job(tuning_request())
        response = wait(service, "tune-digits")
        summaries = service.list_training_jobs_for_hyper_parameter_tuning_job(
            {"HyperParameterTuningJobName": "tune-digits", "MaxResults": 2}
        )
    # Then the tuning job fails, naming the objective, with no best training job
    assert response["HyperParameterTuningJobStatus"] == "Failed"
    assert "validation:accuracy" in response["FailureReason"]
    assert "BestTrainingJob" not in response
    assert response["TrainingJobStatusCounters"]["NonRetryableError"] == 5
    # and the list pages with MaxResults, each trial naming its failure
    assert len(summaries["TrainingJobSummaries"]) == 2 and summaries["NextToken"] == "2"
    assert summaries["TrainingJobSummaries"][0]["FailureReason"] == "AlgorithmError: diverged"


def test_stop_stops_the_running_trials() -> None:
    # Given trials that would run for a long time
    runner = ScriptedJobRunner().set_default("training", succeed(after_polls=10_000))
    with LocalSageMaker(runner=runner, region=REGION, account_id=ACCOUNT) as service:
        service.create_hyper_parameter_tuning_job(tuning_request())
        deadline = time.monotonic() + 10
        while len(service.jobs("training")) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # When the tuning job is stopped
        service.stop_hyper_parameter_tuning_job({"HyperParameterTuningJobName": "tune-digits"})
        response = wait(service, "tune-digits")
        statuses = {job.status for job in service.jobs("training")}
    # Then it ends Stopped and so do its trials; no further trial started
    assert response["HyperParameterTuningJobStatus"] == "Stopped"
    assert statuses == {"Stopped"} and len(service.jobs("training")) == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r["TrainingJobDefinition"]["StaticHyperParameters"].update(learning_rate="0.1"),
            "both static and tuned",
        ),
        (
            lambda r: r["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"].update(
                MetricName="validation:mAP"
            ),
            "not a metric of the algorithm",
        ),
        (lambda r: r["HyperParameterTuningJobConfig"].update(Strategy="Hyperband"), "not supported"),
        (
            lambda r: r.update(
                WarmStartConfig={
                    "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "p"}],
                    "WarmStartType": "TransferLearning",
                }
            ),
            "WarmStartConfig",
        ),
        (
            lambda r: r["HyperParameterTuningJobConfig"]["ResourceLimits"].update(MaxParallelTrainingJobs=0),
            "MaxParallelTrainingJobs",
        ),
        (lambda r: r.update(HyperParameterTuningJobName="x" * 33), "hyperParameterTuningJobName"),
    ],
)
def test_requests_sagemaker_refuses_are_validation_errors(change: Any, message: str) -> None:
    # Given a request SageMaker (or its model) refuses / When created / Then ValidationException naming it
    request = tuning_request()
    change(request)
    with LocalSageMaker(runner=ScriptedJobRunner(), region=REGION, account_id=ACCOUNT) as service:
        with pytest.raises(SageMakerServiceError) as error:
            service.create_hyper_parameter_tuning_job(request)
        assert not service.jobs("training")
    assert error.value.code == "ValidationException" and message in error.value.message


def test_names_are_unique_and_unknown_jobs_are_not_found() -> None:
    with LocalSageMaker(runner=ScriptedJobRunner(), region=REGION, account_id=ACCOUNT) as service:
        service.create_hyper_parameter_tuning_job(tuning_request())
        with pytest.raises(SageMakerServiceError) as duplicate:
            service.create_hyper_parameter_tuning_job(tuning_request())
        with pytest.raises(SageMakerServiceError) as missing:
            service.describe_hyper_parameter_tuning_job({"HyperParameterTuningJobName": "nope"})
        wait(service, "tune-digits")
    assert duplicate.value.code == "ResourceInUse" and missing.value.code == "ResourceNotFound"
