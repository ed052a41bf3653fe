"""EventBridge event parsing."""

from __future__ import annotations

import copy

import pytest
from gtpipe_shared.events import (
    EventError,
    is_eventbridge_event,
    iso_time,
    normalize_status,
    parse_s3_object_created,
    parse_sagemaker_state_change,
)

from tests.lambdas.conftest import load_event


def test_s3_object_created() -> None:
    event = parse_s3_object_created(load_event("s3_object_created_manifest.json"))
    assert event.bucket == "gtpipe-data-bucket"
    assert event.key == "incoming/demo.manifest"
    assert event.version_id == "IYV3p45BhZA4tcT7JqFHVpGDpPbcJNU7"
    assert event.etag == "b1946ac92492d2347c6235b4d2611184"
    assert event.size == 5576
    assert event.time.tzinfo is not None


def test_s3_event_problems_are_named() -> None:
    event = load_event("s3_object_created_manifest.json")
    broken = copy.deepcopy(event)
    del broken["detail"]["object"]["key"]
    with pytest.raises(EventError, match=r"detail\.object\.key is missing"):
        parse_s3_object_created(broken)
    other = copy.deepcopy(event)
    other["detail-type"] = "Object Deleted"
    with pytest.raises(EventError, match="Object Created"):
        parse_s3_object_created(other)
    with pytest.raises(EventError, match="not an EventBridge event"):
        parse_s3_object_created({"detail": {}})
    with pytest.raises(EventError):
        parse_s3_object_created("nope")


def test_training_job_failed() -> None:
    change = parse_sagemaker_state_change(load_event("sagemaker_training_job_failed.json"))
    assert change.kind == "training"
    assert change.name == "demo-0123456789abcdef-train-0"
    assert change.status == "Failed"
    assert change.secondary_status == "Failed"
    assert "num_classes is required" in (change.failure_reason or "")


def test_endpoint_status_is_normalized_to_api_spelling() -> None:
    change = parse_sagemaker_state_change(load_event("sagemaker_endpoint_in_service.json"))
    assert (change.kind, change.name, change.status) == ("endpoint", "gtpipe-endpoint", "InService")
    assert change.endpoint_config_name == "demo-0123456789abcdef-epc-0"
    assert normalize_status("UPDATE_ROLLBACK_FAILED") == "UpdateRollbackFailed"
    assert normalize_status("Completed") == "Completed"


def test_labeling_job_name_from_resources() -> None:
    change = parse_sagemaker_state_change(load_event("sagemaker_labeling_job_completed.json"))
    assert change.kind == "labeling"
    assert change.name == "demo-0123456789abcdef-label-0"
    assert change.status == "Completed"


def test_model_and_endpoint_config_events_default_status() -> None:
    event = load_event("sagemaker_training_job_failed.json")
    event["detail-type"] = "SageMaker Model State Change"
    event["detail"] = {"ModelName": "demo-0123456789abcdef-model-0"}
    change = parse_sagemaker_state_change(event)
    assert (change.kind, change.status) == ("model", "Created")
    event["detail-type"] = "SageMaker Endpoint Config State Change"
    event["detail"] = {"EndpointConfigName": "demo-0123456789abcdef-epc-0"}
    assert parse_sagemaker_state_change(event).kind == "endpoint-config"


def test_sagemaker_event_problems_are_named() -> None:
    event = load_event("sagemaker_training_job_failed.json")
    del event["detail"]["TrainingJobStatus"]
    with pytest.raises(EventError, match="TrainingJobStatus is missing"):
        parse_sagemaker_state_change(event)
    event["detail-type"] = "EC2 Instance State-change Notification"
    with pytest.raises(EventError, match="not a SageMaker state-change event"):
        parse_sagemaker_state_change(event)


def test_iso_time_variants() -> None:
    assert iso_time(1763893800000) == "2025-11-23T10:30:00.000000Z"
    assert iso_time(1763893800) == "2025-11-23T10:30:00.000000Z"
    assert iso_time("2025-11-23T10:30:00Z") == "2025-11-23T10:30:00.000000Z"
    assert iso_time("yesterday") is None and iso_time(None) is None and iso_time(True) is None


def test_is_eventbridge_event() -> None:
    assert is_eventbridge_event(load_event("sagemaker_endpoint_in_service.json"))
    assert not is_eventbridge_event({"action": "deploy"})
