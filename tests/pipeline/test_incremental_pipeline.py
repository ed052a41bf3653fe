"""Warm start of a feedback run through the real definition (harness of tests/pipeline/harness.py: scripted
SageMaker outcomes, the real start_run and notify handlers and the split's real warm-start decision on moto):
ChooseTraining sends a run whose split found a compatible serving model to TrainIncremental, whose training
job has the 'model' channel of the serving model's artifact."""

from __future__ import annotations

from typing import Any

import pytest

from local.sagemaker import fail
from tests.pipeline.harness import Pipeline, augmented_manifest
from tests.pipeline.harness import pipeline as pipeline  # fixture
from tests.pipeline.harness import pipeline_config as pipeline_config  # fixture

CUMULATIVE = {
    "cumulative": True,
    "base": {"train_version_id": "v1", "validation_version_id": "v1"},
    "version": {"train_version_id": "v2", "validation_version_id": "v2"},
}


def training_requests(pipeline: Pipeline, run_id: str) -> list[dict[str, Any]]:
    return [
        request
        for operation, request in pipeline.sagemaker.calls
        if operation == "CreateTrainingJob" and request["TrainingJobName"].startswith(run_id)
    ]


@pytest.fixture
def first_serves(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> str:
    """Warm start on (the split's WARM_START), and a first run of the label set that deployed its model."""
    monkeypatch.setenv("WARM_START", "on")
    first = pipeline.drop("incoming/first.manifest", augmented_manifest())["run_id"]
    described, entered = pipeline.wait(first, timeout=60)
    assert described["status"] == "SUCCEEDED" and "Train" in entered and "TrainIncremental" not in entered
    return first


def test_a_feedback_run_trains_incrementally_from_the_serving_model(
    pipeline: Pipeline, first_serves: str
) -> None:
    # Given the first run serves (Publish recorded its artifact, image and network in @serving)
    [first_request] = training_requests(pipeline, first_serves)
    artifact = pipeline.ledger("@serving")["serving_model"]["model_artifacts"]
    assert artifact.startswith(first_request["OutputDataConfig"]["S3OutputPath"])
    # When a feedback run of the same label set (its split adds to the dataset) is dropped
    pipeline.doubles.dataset = CUMULATIVE
    second = pipeline.drop("incoming/second.manifest", augmented_manifest())["run_id"]
    described, entered = pipeline.wait(second, timeout=60)
    # Then it went through TrainIncremental and succeeded
    assert described["status"] == "SUCCEEDED", described
    split = entered.index("Split")
    assert entered[split : split + 5] == [
        "Split",
        "ChooseTraining",
        "TrainIncremental",
        "ChooseLabelErrors",  # a warm-started run keeps its model (no label-error finding)
        "CreateModel",
    ]
    # and its training job is the first run's request plus the model channel of the serving model's artifact
    [request] = training_requests(pipeline, second)
    *data, model = request["InputDataConfig"]
    assert [c["ChannelName"] for c in data] == [c["ChannelName"] for c in first_request["InputDataConfig"]]
    assert model == {
        "ChannelName": "model",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": artifact,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "ContentType": "application/x-sagemaker-model",
        "InputMode": "File",
        "CompressionType": "None",
    }
    # and the run's ledger item says which model it started from and which dataset version it trained on
    item = pipeline.ledger(second)
    assert item["warm_start"]["source_run_id"] == first_serves and item["warm_start"]["model_uri"] == artifact
    assert item["dataset"]["version"] == CUMULATIVE["version"]


def test_another_network_trains_from_scratch_and_a_failed_incremental_job_fails_at_training(
    pipeline: Pipeline, first_serves: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import os

    # Given the first run serves / When a feedback run's training asks for another num_layers
    pipeline.doubles.dataset = CUMULATIVE
    config = json.loads(os.environ["PIPELINE_CONFIG"])
    config["training"]["hyperparameters"]["num_layers"] = "50"
    monkeypatch.setenv("PIPELINE_CONFIG", json.dumps(config))
    second = pipeline.drop("incoming/second.manifest", augmented_manifest())["run_id"]
    described, entered = pipeline.wait(second, timeout=60)
    # Then it trains from scratch (Train, no model channel), and its ledger item says why
    assert described["status"] == "SUCCEEDED" and "Train" in entered and "TrainIncremental" not in entered
    [request] = training_requests(pipeline, second)
    assert "model" not in [c["ChannelName"] for c in request["InputDataConfig"]]
    assert "num_layers" in pipeline.ledger(second)["warm_start"]["reason"]
    # When the next feedback run (compatible with the second run's model, which now serves) has its
    # incremental job fail (SageMaker refuses the model)
    assert pipeline.ledger("@serving")["source_run_id"] == second
    pipeline.runner.script("training", fail("ClientError: the 'model' channel's model differs"))
    third = pipeline.drop("incoming/third.manifest", augmented_manifest())["run_id"]
    described, entered = pipeline.wait(third, timeout=60)
    # Then the run fails at training, as a failed Train does
    assert described["status"] == "FAILED"
    assert entered[entered.index("TrainIncremental") + 1] == "FailedTraining"
    assert pipeline.ledger(third)["failure"]["step"] == "training"
