"""The Step Functions interpreter of local.sfn driving the backend: createTrainingJob.sync, createModel."""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import Any

from gtpipe_shared.metric_definitions import CLASSIFICATION_METRIC_DEFINITIONS as METRIC_DEFINITIONS

from local.sagemaker import Algorithm, install_sagemaker_api
from local.sfn import LambdaRegistry, install

from .conftest import ACCOUNT, REGION, ROLE, TINY_HYPERPARAMETERS, Cloud, training_request

SFN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sfn"


def definition(parameters: dict[str, Any]) -> dict[str, Any]:
    """Train (.sync) -> CreateModel, with the pipeline's ResultSelectors (no Catch: a failed job fails the
    execution with the task's own error and cause)."""
    return {
        "StartAt": "Train",
        "States": {
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": parameters,
                "ResultSelector": {
                    "job_name.$": "$.TrainingJobName",
                    "model_artifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
                    "image.$": "$.AlgorithmSpecification.TrainingImage",
                },
                "ResultPath": "$.training",
                "Next": "CreateModel",
            },
            "CreateModel": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createModel",
                "Parameters": {
                    "ModelName.$": "States.Format('{}-model', $.training.job_name)",
                    "PrimaryContainer": {
                        "Image.$": "$.training.image",
                        "ModelDataUrl.$": "$.training.model_artifacts",
                    },
                    "ExecutionRoleArn": ROLE,
                },
                "ResultSelector": {"model_arn.$": "$.ModelArn"},
                "ResultPath": "$.model",
                "End": True,
            },
        },
    }


def run(cloud: Cloud, parameters: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
    sfn = cloud.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="train", definition=json.dumps(definition(parameters)), roleArn=SFN_ROLE
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return dict(described)
        assert time.monotonic() < deadline, "execution did not finish"
        time.sleep(0.1)


# The real algorithm is exercised by test_training.py; here a torch-free stand-in keeps the run short.
FAKE_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fake-trainer:1"
FAKE_ALGORITHM = Algorithm(
    name="fake-trainer",
    training_module="tests.local_sagemaker.fake_algorithm",
    metric_definitions=tuple(METRIC_DEFINITIONS),
)


def test_create_training_job_sync_trains_then_creates_the_model(cloud: Cloud, digits):
    # Given the interpreter routed to the backend, channels in S3, and a quick algorithm image
    cloud.backend.algorithms["fake-trainer"] = FAKE_ALGORITHM
    train_uri = cloud.augmented_manifest(digits[:30], "splits/sfn/train.manifest")
    validation_uri = cloud.augmented_manifest(digits[30:40], "splits/sfn/validation.manifest")
    hyperparameters = {**TINY_HYPERPARAMETERS, "num_training_samples": "30"}
    parameters = training_request(
        "sfn-train-0", train_uri, validation_uri, hyperparameters=hyperparameters, image=FAKE_IMAGE
    )
    with install(LambdaRegistry(), cloud.backend, poll_interval=0.1), install_sagemaker_api(cloud.backend):
        # When an execution runs Train (.sync) and CreateModel
        described = run(cloud, parameters)
        # Then it succeeded with the job's artifact, and the model exists for boto3 clients too
        assert described["status"] == "SUCCEEDED", described
        output = json.loads(described["output"])
        assert output["training"] == {
            "job_name": "sfn-train-0",
            "model_artifacts": "s3://demo-bucket/models/sfn-train-0/output/model.tar.gz",
            "image": FAKE_IMAGE,
        }
        model = cloud.client("sagemaker").describe_model(ModelName="sfn-train-0-model")
        assert model["ModelArn"] == output["model"]["model_arn"]
        job = cloud.client("sagemaker").describe_training_job(TrainingJobName="sfn-train-0")
        assert {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]} == {
            "train:accuracy": 0.5,
            "validation:accuracy": 0.25,
        }
    # And the algorithm saw SageMaker's layout: the manifest plus every image of each channel
    with tarfile.open(fileobj=io.BytesIO(cloud.read(output["training"]["model_artifacts"]))) as archive:
        seen = json.loads(archive.extractfile("model.json").read())  # type: ignore[union-attr]
    assert seen["channels"] == {
        "train": {"manifests": ["train.manifest"], "images": 30},
        "validation": {"manifests": ["validation.manifest"], "images": 10},
    }
    assert seen["hyperparameters"] == hyperparameters


def test_a_failed_training_job_fails_the_task_with_its_reason(cloud: Cloud, digits):
    # Given a training job that the algorithm will reject
    uri = cloud.augmented_manifest(digits[:10], "splits/sfn-bad/train.manifest")
    hyperparameters = {**TINY_HYPERPARAMETERS, "num_training_samples": "10", "optimizer": "nope"}
    parameters = training_request("sfn-train-bad", uri, uri, hyperparameters=hyperparameters)
    with install(LambdaRegistry(), cloud.backend, poll_interval=0.1):
        # When the execution runs
        described = run(cloud, parameters, timeout=60)
    # Then the .sync task failed with States.TaskFailed, the Describe response (and reason) as cause
    assert described["status"] == "FAILED"
    assert described["error"] == "States.TaskFailed"
    cause = json.loads(described["cause"])
    assert cause["TrainingJobStatus"] == "Failed"
    assert cause["FailureReason"].startswith("ClientError: hyperparameter optimizer='nope'")
