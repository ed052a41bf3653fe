"""The emitted events parse with the pipeline's own Lambda parser; fault-injection knobs work."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from gtpipe_shared.events import parse_sagemaker_state_change

from local.sagemaker import ENDPOINT_STATE_CHANGE, TRAINING_JOB_STATE_CHANGE

from .conftest import ACCOUNT, BUCKET, IMAGE, REGION, Cloud, create_model, endpoint_config, training_request


def envelope(detail_type: str, detail: dict, resources: list[str]) -> dict:
    """What EventBridge delivers to a rule target for an emitted event."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": resources,
        "detail": detail,
    }


def test_events_parse_with_the_pipelines_event_parser(cloud: Cloud, model_tar):
    # Given a training job that fails and an endpoint that goes in service
    image = IMAGE.replace("image-classification", "semantic-segmentation")
    uri = f"s3://{BUCKET}/x.manifest"
    cloud.backend.create_training_job(
        training_request("demo-0123456789abcdef-train-0", uri, uri, image=image)
    )
    cloud.backend.wait_for_job("training", "demo-0123456789abcdef-train-0", timeout=10)
    create_model(cloud, "m", model_tar)
    endpoint_config(cloud, "demo-0123456789abcdef-epc-0", "m")
    cloud.backend.create_endpoint(
        {"EndpointName": "gtpipe-endpoint", "EndpointConfigName": "demo-0123456789abcdef-epc-0"}
    )
    cloud.backend.wait_for_endpoint("gtpipe-endpoint")
    # When the lambdas' parser reads the emitted events
    training = [
        parse_sagemaker_state_change(envelope(*e)) for e in cloud.events_of(TRAINING_JOB_STATE_CHANGE)
    ]
    endpoint = [parse_sagemaker_state_change(envelope(*e)) for e in cloud.events_of(ENDPOINT_STATE_CHANGE)]
    # Then they carry what job_status and endpoint need, in the API's status spelling
    assert [(c.kind, c.status, c.secondary_status) for c in training] == [
        ("training", "InProgress", "Starting"),
        ("training", "Failed", "Failed"),
    ]
    assert training[-1].name == "demo-0123456789abcdef-train-0"
    assert "semantic-segmentation" in (training[-1].failure_reason or "")
    assert training[-1].ended_at is not None
    assert [(c.status, c.endpoint_config_name) for c in endpoint] == [
        ("Creating", "demo-0123456789abcdef-epc-0"),
        ("InService", "demo-0123456789abcdef-epc-0"),
    ]


def test_fail_next_and_drop_next_event(cloud: Cloud, model_tar):
    # Given an injected endpoint failure and a dropped Creating event
    create_model(cloud, "m", model_tar)
    endpoint_config(cloud, "epc", "m")
    cloud.backend.faults.fail_next("endpoint", "InternalServerError: injected")
    cloud.backend.faults.drop_next_event(ENDPOINT_STATE_CHANGE)
    # When the endpoint is created
    cloud.backend.create_endpoint({"EndpointName": "faulty", "EndpointConfigName": "epc"})
    described = cloud.backend.wait_for_endpoint("faulty")
    # Then it failed with the injected reason and only the FAILED event arrived
    assert described["EndpointStatus"] == "Failed"
    assert "InternalServerError: injected" in described["FailureReason"]
    assert [e[1]["EndpointStatus"] for e in cloud.events_of(ENDPOINT_STATE_CHANGE)] == ["FAILED"]
    # And an injected training failure ends the next job without running it
    cloud.backend.faults.fail_next("training", "InternalServerError: capacity")
    uri = f"s3://{BUCKET}/x.manifest"
    cloud.backend.create_training_job(training_request("injected-0", uri, uri))
    failed = cloud.backend.wait_for_job("training", "injected-0", timeout=10)
    assert (failed["TrainingJobStatus"], failed["FailureReason"]) == (
        "Failed",
        "InternalServerError: capacity",
    )


def test_kill_training_after_fails_the_job_like_an_instance_failure(cloud: Cloud, digits):
    # Given a training job whose process will be killed half a second in
    train_uri = cloud.augmented_manifest(digits[:20], "splits/kill/train.manifest")
    cloud.backend.faults.kill_training_after(0.5)
    # When it runs
    cloud.backend.create_training_job(training_request("killed-0", train_uri, train_uri))
    described = cloud.backend.wait_for_job("training", "killed-0", timeout=30)
    # Then it failed during Training with an instance-failure reason
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("InternalServerError: the training instance failed")
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]][-2:] == ["Training", "Failed"]
