"""Finding 14: a failed deployment leaves no endpoint billing unnoticed.

After FailedDeployment/FailedVerification the CleanUpEndpoint state runs the endpoint Lambda's ``cleanup``
(the real handler, against moto's SageMaker): an endpoint this run created never served a published model and
is deleted (as CloudFormation rolls back what a failed stack created); an endpoint that existed before the run
keeps serving the published model; one that cannot be deleted yet is recorded as left running with its fleet,
and the notification says so. SageMaker bills endpoints per instance-hour while they exist
(https://aws.amazon.com/sagemaker/pricing/); DeleteEndpoint stops that
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpoint.html).
"""

from __future__ import annotations

import datetime
from typing import Any

import boto3
import pytest

from tests.pipeline.harness import (
    REGION,
    Pipeline,
    augmented_manifest,
    create_endpoint,
)
from tests.pipeline.harness import pipeline as pipeline  # fixture
from tests.pipeline.harness import pipeline_config as pipeline_config  # fixture

ENDPOINT = "gtpipe-endpoint"


def endpoints() -> list[str]:
    return [
        e["EndpointName"] for e in boto3.client("sagemaker", region_name=REGION).list_endpoints()["Endpoints"]
    ]


def test_an_endpoint_the_failed_run_created_is_deleted_and_the_ledger_says_so(pipeline: Pipeline) -> None:
    # given a deployment that creates the endpoint, then a verification that fails
    pipeline.doubles.endpoint_created = True
    pipeline.doubles.verify_error = "not authorized to perform application-autoscaling:RegisterScalableTarget"
    # when a labeled manifest runs
    run_id = pipeline.drop("incoming/labeled.manifest", augmented_manifest())["run_id"]
    described, entered = pipeline.wait(run_id)
    # then the run fails at verification, and the endpoint it created is rolled back
    assert described["status"] == "FAILED"
    assert entered[-5:] == [
        "FailedVerification",
        "CleanUpEndpoint",
        "ReportOnFailure",
        "RecordFailure",
        "PipelineFailed",
    ]
    assert ENDPOINT not in endpoints()
    run = pipeline.ledger(run_id)
    assert run["failure"]["step"] == "verification"
    assert run["endpoint_cleanup"]["action"] == "deleted"
    (notification,) = pipeline.notifications()
    assert notification["endpoint_cleanup"]["action"] == "deleted"


def test_an_endpoint_that_existed_before_the_run_keeps_serving(pipeline: Pipeline) -> None:
    # given the serving endpoint of an earlier run, and an update that rolls back
    create_endpoint(ENDPOINT, "earlier-run-config")
    pipeline.doubles.endpoint_outcome = ("EndpointFailed", "Update rolled back: invocation errors alarm")
    # when a run fails its deployment
    run_id = pipeline.drop("incoming/labeled.manifest", augmented_manifest())["run_id"]
    described, entered = pipeline.wait(run_id)
    # then the endpoint is kept (it serves the published model) and the ledger says why
    assert described["status"] == "FAILED"
    assert "CleanUpEndpoint" in entered
    assert ENDPOINT in endpoints()
    run = pipeline.ledger(run_id)
    assert run["failure"]["step"] == "deployment"
    assert run["endpoint_cleanup"]["action"] == "kept"


def test_a_failure_before_deployment_has_no_cleanup(pipeline: Pipeline) -> None:
    # given a training job that fails
    from local.sagemaker import fail

    pipeline.runner.script("training", fail("AlgorithmError: out of memory"))
    run_id = pipeline.drop("incoming/labeled.manifest", augmented_manifest())["run_id"]
    described, entered = pipeline.wait(run_id)
    # then no cleanup runs and the ledger records none
    assert described["status"] == "FAILED"
    assert "CleanUpEndpoint" not in entered
    assert "endpoint_cleanup" not in pipeline.ledger(run_id)


def test_an_endpoint_still_creating_is_recorded_as_left_running_with_its_fleet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given an endpoint the run created that is still Creating (a deployment that timed out)
    from endpoint import handler

    started = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    described = {
        "EndpointName": ENDPOINT,
        "EndpointStatus": "Creating",
        "EndpointConfigName": "run-config",
        "CreationTime": started + datetime.timedelta(minutes=30),
        "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentInstanceCount": 2}],
    }
    deleted: list[str] = []

    class SageMaker:
        def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
            assert EndpointConfigName == "run-config"
            return {"ProductionVariants": [{"VariantName": "AllTraffic", "InstanceType": "ml.g5.xlarge"}]}

        def delete_endpoint(self, EndpointName: str) -> None:
            deleted.append(EndpointName)

    monkeypatch.setattr(handler, "describe_endpoint", lambda name: described)
    monkeypatch.setattr(handler, "client", lambda service: SageMaker())
    released: list[tuple[str, str]] = []
    monkeypatch.setattr(handler, "release_lock", lambda name, run_id: released.append((name, run_id)) or True)
    # when the failed run cleans up
    request = handler.CleanupRequest(
        action="cleanup", run_id="r1", endpoint_name=ENDPOINT, run_started_at=started
    )
    answer = handler.cleanup(request)
    # then nothing is deleted yet, and the answer names the fleet that is billing
    assert deleted == []
    assert answer["action"] == "left-running"
    assert answer["variants"] == [
        {"variant_name": "AllTraffic", "instance_type": "ml.g5.xlarge", "instance_count": 2}
    ]
    assert "delete-endpoint --endpoint-name gtpipe-endpoint" in answer["reason"]
    # and the run gives the endpoint lock back
    assert released == [(ENDPOINT, "r1")] and answer["lock_released"] is True
