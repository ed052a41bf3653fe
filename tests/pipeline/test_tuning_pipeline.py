"""A run with gtpipe:tuning through the real definition (harness of tests/pipeline/harness.py: scripted
SageMaker outcomes, the local SageMaker's tuning jobs, the real start_run and notify handlers on moto)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from local.sagemaker import Job, fail, succeed
from tests.pipeline.harness import Pipeline, augmented_manifest
from tests.pipeline.harness import pipeline as pipeline  # fixture
from tests.pipeline.harness import pipeline_config as pipeline_config  # fixture

TUNING = {
    "objective_metric": "validation:accuracy",
    "objective_type": "Maximize",
    "parameter_ranges": {
        "ContinuousParameterRanges": [
            {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.5", "ScalingType": "Logarithmic"}
        ]
    },
    "max_jobs": 3,
    "max_parallel_jobs": 1,
    "early_stopping": "Off",
    "strategy": "Random",
    "random_seed": 1,
}


def accuracy_of(job: Job) -> dict[str, Any]:
    """Scripted trial outputs: accuracy peaks at learning rate 0.01."""
    rate = float(job.request["HyperParameters"]["learning_rate"])
    accuracy = max(0.0, 1.0 - abs(math.log10(rate) + 2.0) / 3.0)
    return {"FinalMetricDataList": [{"MetricName": "validation:accuracy", "Value": accuracy, "Timestamp": 0}]}


def with_tuning(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """PIPELINE_CONFIG with a tuning section, as a stack with gtpipe:tuning deploys it."""
    import os

    config = json.loads(os.environ["PIPELINE_CONFIG"])
    config["tuning"] = TUNING
    # The static hyperparameters leave the tuned one out (infra/config_tuning.py training_for_tuning).
    config["training"]["hyperparameters"].pop("learning_rate", None)
    monkeypatch.setenv("PIPELINE_CONFIG", json.dumps(config))


def test_the_best_trial_s_model_is_created_and_the_run_succeeds(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack with tuning and trials whose accuracy depends on the learning rate
    with_tuning(pipeline, monkeypatch)
    pipeline.runner.set_default("training", succeed(outputs=accuracy_of))
    # When an augmented manifest is dropped
    run_id = pipeline.drop("incoming/tuned.manifest", augmented_manifest())["run_id"]
    described, entered = pipeline.wait(run_id, timeout=60)
    # Then the run tuned (three trials) and succeeded
    assert described["status"] == "SUCCEEDED", described
    split = entered.index("Split")
    assert entered[split : split + 5] == [
        "Split",
        "ChooseTraining",
        "Tune",
        "DescribeBestTrainingJob",
        "CreateModel",
    ]
    assert "Train" not in entered
    trials = pipeline.sagemaker.jobs("training")
    assert len(trials) == 3
    assert all("learning_rate" in job.request["HyperParameters"] for job in trials)
    # and CreateModel used the best trial's artifacts
    best = max(trials, key=lambda job: accuracy_of(job)["FinalMetricDataList"][0]["Value"])
    (create_model,) = [
        request for operation, request in pipeline.sagemaker.calls if operation == "CreateModel"
    ]
    assert create_model["PrimaryContainer"]["ModelDataUrl"].endswith(
        f"/models/{best.name}/output/model.tar.gz"
    )


def test_a_tuning_job_without_a_successful_trial_fails_the_run_at_training(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given every trial fails
    with_tuning(pipeline, monkeypatch)
    pipeline.runner.set_default("training", fail("AlgorithmError: diverged"))
    # When a manifest is dropped
    run_id = pipeline.drop("incoming/diverged.manifest", augmented_manifest())["run_id"]
    described, entered = pipeline.wait(run_id, timeout=60)
    # Then Tune failed into FailedTraining and the ledger names the training step and the tuning job's reason
    assert described["status"] == "FAILED"
    assert entered[entered.index("Tune") : entered.index("Tune") + 2] == ["Tune", "FailedTraining"]
    run = pipeline.ledger(run_id)
    assert run["status"] == "FAILED"
    assert run["failure"]["step"] == "training" and run["failure"]["error"] == "States.TaskFailed"
    assert "No training job reported the objective metric validation:accuracy" in run["failure"]["cause"]


def test_with_warm_start_the_second_run_tunes_from_the_first_run_s_tuning_job(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gtpipe_shared.tuning_ledger import tuning_job_name

    # Given a stack with tuning and warmStart, and a first run of the label set that tuned and succeeded
    with_tuning(pipeline, monkeypatch)
    import os

    config = json.loads(os.environ["PIPELINE_CONFIG"])
    config["tuning"]["warm_start"] = True
    monkeypatch.setenv("PIPELINE_CONFIG", json.dumps(config))
    pipeline.runner.set_default("training", succeed(outputs=accuracy_of))
    first = pipeline.drop("incoming/first.manifest", augmented_manifest())["run_id"]
    described, entered = pipeline.wait(first, timeout=60)
    assert described["status"] == "SUCCEEDED", described
    assert "Tune" in entered and "TuneWarmStart" not in entered
    # When a second manifest of the same label set is dropped
    second = pipeline.drop("incoming/second.manifest", augmented_manifest()[:-1])["run_id"]
    described, entered = pipeline.wait(second, timeout=60)
    # Then it warm-starts from the first run's tuning job (which the local SageMaker checked) and succeeds
    assert described["status"] == "SUCCEEDED", described
    split = entered.index("Split")
    assert entered[split : split + 4] == [
        "Split",
        "ChooseTraining",
        "TuneWarmStart",
        "DescribeBestTrainingJob",
    ]
    (request,) = [
        r
        for operation, r in pipeline.sagemaker.calls
        if operation == "CreateHyperParameterTuningJob" and "WarmStartConfig" in r
    ]
    assert request["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": tuning_job_name(first)}],
        "WarmStartType": "TransferLearning",
    }
    assert pipeline.ledger(second)["tuning_parent_job_name"] == tuning_job_name(first)
    # and its first trial started from the parent's best learning rate
    parent = pipeline.sagemaker.describe_hyper_parameter_tuning_job(
        {"HyperParameterTuningJobName": tuning_job_name(first)}
    )
    best_rate = parent["BestTrainingJob"]["TunedHyperParameters"]["learning_rate"]
    trials = sorted(
        (job for job in pipeline.sagemaker.jobs("training") if job.name.startswith(tuning_job_name(second))),
        key=lambda job: job.name,
    )
    assert trials[0].request["HyperParameters"]["learning_rate"] == best_rate
