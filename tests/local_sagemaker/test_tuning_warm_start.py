"""The local SageMaker's warm-start tuning jobs: AWS's rules refused as SageMaker refuses them, and the parents'
best trial seeding the new job's first trial (scripted runner: no processes)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from local.sagemaker import LocalSageMaker, SageMakerServiceError, ScriptedJobRunner, succeed
from local.sagemaker.tuning_warm_start import ParentJob, best_parent_values, check_warm_start, seed_trials

from .conftest import ACCOUNT, REGION
from .test_tuning import accuracy_of, tuning_request, wait


def warm(name: str, *parents: str, **overrides: Any) -> dict[str, Any]:
    request = tuning_request(name, **overrides)
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": p} for p in parents],
        "WarmStartType": "TransferLearning",
    }
    return request


def service_with_parent() -> LocalSageMaker:
    runner = ScriptedJobRunner()
    runner.set_default("training", succeed(after_polls=1, outputs=accuracy_of))
    return LocalSageMaker(runner=runner, region=REGION, account_id=ACCOUNT)


def test_a_warm_start_job_starts_from_its_parents_best_trial() -> None:
    with service_with_parent() as service:
        # Given a completed parent tuning job
        service.create_hyper_parameter_tuning_job(tuning_request("parent"))
        parent = wait(service, "parent")
        best = parent["BestTrainingJob"]["TunedHyperParameters"]
        # When a warm start job with another seed (other random trials) names it
        request = warm("child", "parent")
        request["HyperParameterTuningJobConfig"]["RandomSeed"] = 8
        service.create_hyper_parameter_tuning_job(request)
        child = wait(service, "child")
        trials = service.list_training_jobs_for_hyper_parameter_tuning_job(
            {"HyperParameterTuningJobName": "child", "SortBy": "CreationTime"}
        )["TrainingJobSummaries"]
    # Then it completes and its first trial runs the parent's best values; its own trials only are listed
    assert child["HyperParameterTuningJobStatus"] == "Completed"
    assert trials[0]["TunedHyperParameters"] == best
    assert all(t["TuningJobName"] == "child" for t in trials) and len(trials) == 5


def refusal(service: LocalSageMaker, request: dict[str, Any]) -> str:
    with pytest.raises(SageMakerServiceError) as error:
        service.create_hyper_parameter_tuning_job(request)
    assert error.value.code == "ValidationException"
    return error.value.message


def test_warm_start_requests_sagemaker_refuses_are_validation_errors() -> None:
    with service_with_parent() as service:
        # Given a parent still in progress: refused (a parent must be in a terminal state)
        service.create_hyper_parameter_tuning_job(tuning_request("parent"))
        assert "a parent must be Completed, Stopped or Failed" in refusal(service, warm("c1", "parent"))
        wait(service, "parent")
        # Given an unknown parent, or one named twice
        assert "which does not exist" in refusal(service, warm("c2", "nope"))
        assert "more than once" in refusal(service, warm("c3", "parent", "parent"))
        # Given one more static hyperparameter than the parent had
        extra = warm("c5", "parent")
        extra["TrainingJobDefinition"]["StaticHyperParameters"]["momentum"] = "0.9"
        assert "the total must stay the same" in refusal(service, extra)
        # Given a tuned hyperparameter whose type changed (categorical -> integer)
        retyped = warm("c6", "parent")
        ranges = retyped["HyperParameterTuningJobConfig"]["ParameterRanges"]
        ranges.pop("CategoricalParameterRanges")
        ranges["IntegerParameterRanges"] = [{"Name": "optimizer", "MinValue": "1", "MaxValue": "2"}]
        assert "type must not change" in refusal(service, retyped)
        # Given parents' trials plus the new limit above 500
        many = warm("c7", "parent")
        many["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 496
        assert "at most 500" in refusal(service, many)
        # Then nothing of the refused jobs ran (the parent's 5 trials only)
        assert len(service.jobs("training")) == 5


def test_more_than_five_parents_and_another_objective_are_refused() -> None:
    # Given parents that each satisfy every other rule (pure check, no service)
    base = tuning_request("child")
    parent = ParentJob("p", "Completed", copy.deepcopy(base), [])
    six = warm("child", *[f"p{i}" for i in range(6)])
    with pytest.raises(ValueError, match="1 to 5"):
        check_warm_start(six, {f"p{i}": parent for i in range(6)})
    # When the parent's objective differs / Then refused naming both metrics
    other = copy.deepcopy(base)
    other["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = (
        "validation:loss"
    )
    with pytest.raises(ValueError, match="validation:accuracy differs from parent p's validation:loss"):
        check_warm_start(warm("child", "p"), {"p": ParentJob("p", "Completed", other, [])})
    # And five Completed parents with the same objective pass
    check_warm_start(warm("child", *[f"p{i}" for i in range(5)]), {f"p{i}": parent for i in range(5)})


def test_the_best_parent_values_seed_only_ranges_that_still_contain_them() -> None:
    ranges = tuning_request()["HyperParameterTuningJobConfig"]["ParameterRanges"]
    parent = ParentJob(
        "p",
        "Completed",
        tuning_request(),
        [
            ({"learning_rate": "0.01", "optimizer": "adam"}, "Completed", 0.9),
            ({"learning_rate": "0.2", "optimizer": "sgd"}, "Completed", 0.4),
            ({"learning_rate": "0.3", "optimizer": "sgd"}, "Failed", None),
        ],
    )
    # Given the best parent trial (0.9) / When the new ranges still hold its values / Then both are kept
    assert best_parent_values([parent], ranges, "Maximize") == {"learning_rate": "0.01", "optimizer": "adam"}
    assert best_parent_values([parent], ranges, "Minimize") == {"learning_rate": "0.2", "optimizer": "sgd"}
    # When the new learning-rate range no longer contains 0.01 / Then only the optimizer is carried over
    narrow = copy.deepcopy(ranges)
    narrow["ContinuousParameterRanges"][0]["MinValue"] = "0.05"
    assert best_parent_values([parent], narrow, "Maximize") == {"optimizer": "adam"}
    # And seeding changes the first trial only
    sampled = [{"learning_rate": "0.1", "optimizer": "sgd"}, {"learning_rate": "0.2", "optimizer": "sgd"}]
    assert seed_trials(sampled, {"optimizer": "adam"}) == [
        {"learning_rate": "0.1", "optimizer": "adam"},
        {"learning_rate": "0.2", "optimizer": "sgd"},
    ]
    assert best_parent_values([ParentJob("q", "Failed", tuning_request(), [])], ranges, "Maximize") == {}
