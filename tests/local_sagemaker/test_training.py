"""Training jobs: the real local algorithm in a subprocess, SageMaker's statuses, artifacts and events."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from local.sagemaker import TRAINING_JOB_STATE_CHANGE, SageMakerServiceError

from .conftest import BUCKET, IMAGE, TINY_HYPERPARAMETERS, Cloud, training_request


@pytest.fixture
def channels(cloud: Cloud, digits):
    """(train, validation) augmented manifests of 40 + 20 digits in S3."""
    return (
        cloud.augmented_manifest(digits[:40], "splits/run/train.manifest"),
        cloud.augmented_manifest(digits[40:60], "splits/run/validation.manifest"),
    )


def test_training_job_completes_with_model_artifact_metrics_and_ordered_events(cloud: Cloud, channels):
    # Given two augmented-manifest channels in S3
    train_uri, validation_uri = channels
    # When a training job for the built-in image-classification image runs
    arn = cloud.backend.create_training_job(training_request("digits-train-0", train_uri, validation_uri))[
        "TrainingJobArn"
    ]
    described = cloud.backend.wait_for_job("training", "digits-train-0", timeout=90)
    # Then it completed and model.tar.gz (the model directory at the archive root) is where SageMaker puts it
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["SecondaryStatus"] == "Completed"
    artifact = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{BUCKET}/models/digits-train-0/output/model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(cloud.read(artifact))) as tar:
        names = set(tar.getnames())
    assert {"model.pt", "classes.json", "model-config.json", "code/inference.py"} <= names
    assert "models/digits-train-0/output/output.tar.gz" in cloud.keys("models/digits-train-0/")
    # And the metrics come from the log through the algorithm's metric regexes
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert {"train:accuracy", "validation:accuracy", "train:loss", "validation:loss"} <= set(metrics)
    assert 0.0 <= metrics["validation:accuracy"] <= 1.0
    assert described["BillableTimeInSeconds"] >= 1
    assert described["TrainingTimeInSeconds"] == described["BillableTimeInSeconds"]
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert described["AlgorithmSpecification"]["MetricDefinitions"][0]["Name"] == "train:accuracy"
    assert "Epoch[0] Validation-accuracy=" in cloud.backend.training_log("digits-train-0").read_text()
    # And one event per status change was emitted, in order, mirroring DescribeTrainingJob
    events = cloud.events_of(TRAINING_JOB_STATE_CHANGE)
    assert [(e[1]["TrainingJobStatus"], e[1]["SecondaryStatus"]) for e in events] == [
        ("InProgress", "Starting"),
        ("InProgress", "Downloading"),
        ("InProgress", "Training"),
        ("InProgress", "Uploading"),
        ("Completed", "Completed"),
    ]
    last = events[-1]
    assert last[2] == [arn]
    assert last[1]["TrainingJobName"] == "digits-train-0"
    assert last[1]["TrainingJobArn"] == arn
    assert last[1]["Tags"] == {"gtpipe:run-id": "demo-0123456789abcdef"}
    assert last[1]["ModelArtifacts"] == {"S3ModelArtifacts": artifact}
    assert isinstance(last[1]["TrainingEndTime"], int)  # epoch milliseconds, as in SageMaker's events
    json.dumps(last[1])  # JSON-safe for EventBridge


def test_bad_hyperparameter_fails_with_the_algorithms_failure_file(cloud: Cloud, channels):
    # Given a hyperparameter the algorithm rejects
    hyperparameters = {**TINY_HYPERPARAMETERS, "num_training_samples": "40", "epochs": "zero"}
    request = training_request("digits-train-bad", *channels, hyperparameters=hyperparameters)
    # When the job runs
    cloud.backend.create_training_job(request)
    described = cloud.backend.wait_for_job("training", "digits-train-bad", timeout=60)
    # Then it failed with the reason the algorithm wrote to /opt/ml/output/failure, and no model
    assert described["TrainingJobStatus"] == "Failed"
    assert described["SecondaryStatus"] == "Failed"
    assert described["FailureReason"].startswith(
        "ClientError: hyperparameter epochs='zero' is not an integer"
    )
    assert "ModelArtifacts" not in described
    assert cloud.keys("models/digits-train-bad/") == []
    statuses = [e[1]["TrainingJobStatus"] for e in cloud.events_of(TRAINING_JOB_STATE_CHANGE)]
    assert statuses[-1] == "Failed"
    assert cloud.events_of(TRAINING_JOB_STATE_CHANGE)[-1][1]["FailureReason"] == described["FailureReason"]


def test_max_runtime_kills_the_process_and_stops_the_job(cloud: Cloud, channels):
    # Given a job allowed one second (importing torch alone takes longer)
    request = training_request("digits-train-slow", *channels, max_runtime=1)
    # When it runs
    cloud.backend.create_training_job(request)
    described = cloud.backend.wait_for_job("training", "digits-train-slow", timeout=30)
    # Then SageMaker's outcome: Stopped with secondary status MaxRuntimeExceeded, no model
    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert "MaxRuntimeExceeded" in described["FailureReason"]
    assert "ModelArtifacts" not in described
    assert described["TrainingTimeInSeconds"] < 15


def test_stop_training_job_stops_the_process(cloud: Cloud, channels):
    # Given a running job
    cloud.backend.create_training_job(training_request("digits-train-stop", *channels))
    # When it is stopped
    cloud.backend.stop_training_job({"TrainingJobName": "digits-train-stop"})
    stopping = cloud.backend.describe_training_job({"TrainingJobName": "digits-train-stop"})
    described = cloud.backend.wait_for_job("training", "digits-train-stop", timeout=30)
    # Then it passes through Stopping and ends Stopped; stopping again is refused
    assert stopping["TrainingJobStatus"] in ("Stopping", "Stopped")
    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "Stopped"
    with pytest.raises(SageMakerServiceError) as raised:
        cloud.backend.stop_training_job({"TrainingJobName": "digits-train-stop"})
    assert raised.value.code == "ValidationException"


def test_unsupported_image_fails_clearly_and_job_names_are_unique(cloud: Cloud, channels):
    # Given the built-in semantic-segmentation image, which has no local implementation
    image = IMAGE.replace("image-classification", "semantic-segmentation")
    cloud.backend.create_training_job(training_request("segmenter-0", *channels, image=image))
    # When it runs
    described = cloud.backend.wait_for_job("training", "segmenter-0", timeout=10)
    # Then it fails saying so
    assert described["TrainingJobStatus"] == "Failed"
    assert (
        "semantic-segmentation algorithm is not supported by the local SageMaker"
        in described["FailureReason"]
    )
    # And a second job with the same name is refused like on AWS
    with pytest.raises(SageMakerServiceError) as raised:
        cloud.backend.create_training_job(training_request("segmenter-0", *channels, image=image))
    assert raised.value.code == "ResourceInUse"


def test_invalid_requests_are_rejected_with_validation_exception(cloud: Cloud, channels):
    # Given a request with a name SageMaker's pattern refuses
    request = training_request("bad_name!", *channels)
    # When / Then
    with pytest.raises(SageMakerServiceError) as raised:
        cloud.backend.create_training_job(request)
    assert raised.value.code == "ValidationException"
    with pytest.raises(SageMakerServiceError) as missing:
        cloud.backend.describe_training_job({"TrainingJobName": "never-created"})
    # (an unknown job is a ValidationException on AWS, not the modeled ResourceNotFound: aws/aws-sdk#165)
    assert missing.value.code == "ValidationException"
    assert str(missing.value) == "ValidationException: Requested resource not found."


def test_missing_channel_data_fails_the_download(cloud: Cloud, digits):
    # Given a manifest whose image was never uploaded
    train_uri = cloud.put(
        "splits/missing/train.manifest",
        json.dumps(
            {"source-ref": f"s3://{BUCKET}/images/nowhere.png", "category": 1, "category-metadata": {}}
        ),
    )
    # When training starts
    cloud.backend.create_training_job(training_request("digits-train-missing", train_uri, train_uri))
    described = cloud.backend.wait_for_job("training", "digits-train-missing", timeout=20)
    # Then the job fails while downloading, naming the object
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("ClientError: Data download failed")
    assert "nowhere.png" in described["FailureReason"]
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]][-2:] == ["Downloading", "Failed"]


def _with_model_channel(request: dict, model_uri: str) -> dict:
    # The incremental-training channel as the built-ins document it: ChannelName "model", ContentType
    # application/x-sagemaker-model, File mode, the earlier model.tar.gz
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html, "Incremental training").
    model_channel = {
        "ChannelName": "model",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": model_uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "ContentType": "application/x-sagemaker-model",
        "InputMode": "File",
    }
    return {**request, "InputDataConfig": [*request["InputDataConfig"], model_channel]}


def test_model_channel_starts_the_job_from_the_earlier_model(cloud: Cloud, channels, model_tar):
    # Given an earlier model.tar.gz in S3 and a job of the same hyperparameters naming it as channel "model"
    model_uri = cloud.put("models/earlier/output/model.tar.gz", model_tar.read_bytes())
    request = _with_model_channel(training_request("digits-train-warm", *channels), model_uri)
    # When the job runs
    cloud.backend.create_training_job(request)
    described = cloud.backend.wait_for_job("training", "digits-train-warm", timeout=90)
    # Then it completed, having initialised from the channel's model
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    log = cloud.backend.training_log("digits-train-warm").read_text()
    assert "Initialising from the model channel (incremental training); re-initialised: none" in log


def test_model_channel_of_another_class_count_fails_the_job(cloud: Cloud, channels, model_tar):
    # Given an earlier model of 10 classes and a job for 12
    model_uri = cloud.put("models/earlier/output/model.tar.gz", model_tar.read_bytes())
    hyperparameters = {**TINY_HYPERPARAMETERS, "num_training_samples": "40", "num_classes": "12"}
    request = training_request("digits-train-mismatch", *channels, hyperparameters=hyperparameters)
    # When the job runs with the earlier model as channel "model"
    cloud.backend.create_training_job(_with_model_channel(request, model_uri))
    described = cloud.backend.wait_for_job("training", "digits-train-mismatch", timeout=90)
    # Then it failed with a ClientError naming the difference, and left no model
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith(
        "ClientError: the 'model' channel's model was trained with num_classes=10 but this job has "
        "num_classes=12"
    )
    assert cloud.keys("models/digits-train-mismatch/") == []
