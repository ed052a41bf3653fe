"""endpoint: deploy (create vs blue/green update), state-change callbacks, verify (rollback detection)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from endpoint import handler
from gtpipe_shared.aws import client

from tests.lambdas.conftest import ACCOUNT, REGION, Cloud, FakeContext, load_event

ENDPOINT = "gtpipe-endpoint"
NEW_CONFIG = "demo-0123456789abcdef-epc-0"
OLD_CONFIG = "older-0123456789abcdef-epc-0"
TOKEN = load_event("endpoint_deploy_payload.json")["task_token"]


def described(status: str, config: str = OLD_CONFIG) -> dict[str, Any]:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    return {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": now,
        "LastModifiedTime": now,
    }


@pytest.fixture
def sagemaker(cloud: Cloud) -> Iterator[Stubber]:
    stubber = Stubber(client("sagemaker"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def sfn(cloud: Cloud) -> Iterator[Stubber]:
    stubber = Stubber(client("stepfunctions"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def not_found(stubber: Stubber) -> None:
    stubber.add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message=f'Could not find endpoint "arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}".',
        expected_params={"EndpointName": ENDPOINT},
    )


def token_item(cloud: Cloud) -> dict[str, Any] | None:
    return cloud.tokens().get_item(Key={"id": f"endpoint#{ENDPOINT}"}).get("Item")


def assert_lock_held_without_token(cloud: Cloud, run_id: str) -> None:
    item = token_item(cloud)
    assert item is not None and item["run_id"] == run_id
    assert "task_token" not in item


def store_token(cloud: Cloud, created_at: int = 0) -> None:
    cloud.tokens().put_item(
        Item={
            "id": f"endpoint#{ENDPOINT}",
            "task_token": TOKEN,
            "run_id": "r",
            "endpoint_config_name": NEW_CONFIG,
            "created_at": created_at,
            "expiration": 2_000_000_000,
        }
    )


def test_deploy_creates_missing_endpoint(cloud: Cloud, sagemaker: Stubber, context: FakeContext) -> None:
    not_found(sagemaker)
    sagemaker.add_response(
        "create_endpoint",
        {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"},
        {"EndpointName": ENDPOINT, "EndpointConfigName": NEW_CONFIG},
    )
    answer = handler.lambda_handler(load_event("endpoint_deploy_payload.json"), context)
    assert answer["action"] == "create"
    item = token_item(cloud)
    assert item is not None
    assert item["task_token"] == TOKEN and item["endpoint_config_name"] == NEW_CONFIG
    assert item["run_id"] == "demo-0123456789abcdef" and item["expiration"] > item["created_at"]


def test_deploy_updates_existing_endpoint_blue_green(
    cloud: Cloud, sagemaker: Stubber, context: FakeContext
) -> None:
    sagemaker.add_response("describe_endpoint", described("InService"), {"EndpointName": ENDPOINT})
    sagemaker.add_response(
        "update_endpoint",
        {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"},
        {
            "EndpointName": ENDPOINT,
            "EndpointConfigName": NEW_CONFIG,
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                    "TerminationWaitInSeconds": 300,
                },
                "AutoRollbackConfiguration": {
                    "Alarms": [{"AlarmName": "gtpipe-endpoint-5xx"}, {"AlarmName": "gtpipe-endpoint-latency"}]
                },
            },
        },
    )
    answer = handler.lambda_handler(load_event("endpoint_deploy_payload.json"), context)
    assert answer["action"] == "update"
    assert token_item(cloud) is not None


@pytest.mark.parametrize("status", ["Updating", "Creating", "SystemUpdating", "RollingBack"])
def test_deploy_while_busy_is_retryable(
    cloud: Cloud, sagemaker: Stubber, context: FakeContext, status: str
) -> None:
    store_token(cloud, created_at=5)  # the running deployment's token must survive
    sagemaker.add_response("describe_endpoint", described(status), {"EndpointName": ENDPOINT})
    with pytest.raises(handler.EndpointBusy, match=status):
        handler.lambda_handler(load_event("endpoint_deploy_payload.json"), context)
    assert token_item(cloud)["created_at"] == 5


def test_deploy_replaces_failed_endpoint(cloud: Cloud, sagemaker: Stubber, context: FakeContext) -> None:
    sagemaker.add_response("describe_endpoint", described("Failed"), {"EndpointName": ENDPOINT})
    sagemaker.add_response("delete_endpoint", {}, {"EndpointName": ENDPOINT})
    with pytest.raises(handler.EndpointBusy, match="deleting it"):
        handler.lambda_handler(load_event("endpoint_deploy_payload.json"), context)
    assert token_item(cloud) is None


def test_deploy_of_current_config_answers_at_once(
    cloud: Cloud, sagemaker: Stubber, sfn: Stubber, context: FakeContext
) -> None:
    sagemaker.add_response(
        "describe_endpoint", described("InService", NEW_CONFIG), {"EndpointName": ENDPOINT}
    )
    sfn.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": ANY})
    answer = handler.lambda_handler(load_event("endpoint_deploy_payload.json"), context)
    assert answer["action"] == "none"
    # the token was answered; the run keeps the endpoint lock until it has verified and published
    assert_lock_held_without_token(cloud, "demo-0123456789abcdef")


def test_failed_create_call_drops_the_token(cloud: Cloud, sagemaker: Stubber, context: FakeContext) -> None:
    not_found(sagemaker)
    sagemaker.add_client_error(
        "create_endpoint", service_error_code="ValidationException", service_message="no config"
    )
    with pytest.raises(Exception, match="no config"):
        handler.lambda_handler(load_event("endpoint_deploy_payload.json"), context)
    assert token_item(cloud) is None


def test_in_service_event_sends_success(cloud: Cloud, sfn: Stubber, context: FakeContext) -> None:
    store_token(cloud)
    expected_output = {
        "endpoint_name": ENDPOINT,
        "endpoint_status": "InService",
        "endpoint_config_name": NEW_CONFIG,
    }
    sfn.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": json.dumps(expected_output)})
    answer = handler.lambda_handler(load_event("sagemaker_endpoint_in_service.json"), context)
    assert answer["answered"] == "success"
    # the token is answered once; the lock stays with the run until it has verified and published
    assert_lock_held_without_token(cloud, "r")


def test_failed_event_sends_failure(cloud: Cloud, sfn: Stubber, context: FakeContext) -> None:
    store_token(cloud)
    reason = load_event("sagemaker_endpoint_failed.json")["detail"]["FailureReason"]
    sfn.add_response(
        "send_task_failure", {}, {"taskToken": TOKEN, "error": "EndpointFailed", "cause": reason}
    )
    answer = handler.lambda_handler(load_event("sagemaker_endpoint_failed.json"), context)
    assert answer["answered"] == "failure"
    # the failed run's cleanup releases the lock
    assert_lock_held_without_token(cloud, "r")


def test_updating_event_sends_heartbeat(cloud: Cloud, sfn: Stubber, context: FakeContext) -> None:
    store_token(cloud)
    sfn.add_response("send_task_heartbeat", {}, {"taskToken": TOKEN})
    answer = handler.lambda_handler(load_event("sagemaker_endpoint_updating.json"), context)
    assert answer["answered"] == "heartbeat"
    assert token_item(cloud) is not None


def test_event_without_token_is_ignored(cloud: Cloud, sfn: Stubber, context: FakeContext) -> None:
    answer = handler.lambda_handler(load_event("sagemaker_endpoint_in_service.json"), context)
    assert answer == {"ignored": True, "reason": "no task token"}


def test_event_older_than_the_deployment_is_ignored(cloud: Cloud, sfn: Stubber, context: FakeContext) -> None:
    store_token(cloud, created_at=int(datetime(2026, 11, 23, 11, 0, tzinfo=UTC).timestamp()))
    answer = handler.lambda_handler(load_event("sagemaker_endpoint_failed.json"), context)
    assert answer["reason"] == "event older than the deployment"
    assert token_item(cloud) is not None


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken"])
def test_expired_token_is_dropped(cloud: Cloud, sfn: Stubber, context: FakeContext, code: str) -> None:
    store_token(cloud)
    sfn.add_client_error("send_task_success", service_error_code=code, service_message="gone")
    answer = handler.lambda_handler(load_event("sagemaker_endpoint_in_service.json"), context)
    assert answer["ignored"] is True and code in answer["reason"]
    assert_lock_held_without_token(cloud, "r")
    # and a second event finds no token to answer (the stubber has no second answer queued)
    again = handler.lambda_handler(load_event("sagemaker_endpoint_in_service.json"), context)
    assert again == {"ignored": True, "reason": "no task token"}


def test_verify_detects_rollback(cloud: Cloud, sagemaker: Stubber, context: FakeContext) -> None:
    sagemaker.add_response(
        "describe_endpoint", described("InService", OLD_CONFIG), {"EndpointName": ENDPOINT}
    )
    with pytest.raises(handler.EndpointRolledBack, match="rolled back"):
        handler.lambda_handler(load_event("endpoint_verify_payload.json"), context)


def test_verify_applies_autoscaling(cloud: Cloud, sagemaker: Stubber, context: FakeContext) -> None:
    sagemaker.add_response(
        "describe_endpoint", described("InService", NEW_CONFIG), {"EndpointName": ENDPOINT}
    )
    answer = handler.lambda_handler(load_event("endpoint_verify_payload.json"), context)
    assert answer == {
        "endpoint_name": ENDPOINT,
        "endpoint_config_name": NEW_CONFIG,
        "endpoint_status": "InService",
    }
    scaling = boto3.client("application-autoscaling", region_name=REGION)
    targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        (f"endpoint/{ENDPOINT}/variant/AllTraffic", 1, 3)
    ]
    policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    config = policies[0]["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 100.0
    assert (
        config["PredefinedMetricSpecification"]["PredefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )


def test_verify_requires_in_service(cloud: Cloud, sagemaker: Stubber, context: FakeContext) -> None:
    sagemaker.add_response("describe_endpoint", described("Updating", NEW_CONFIG), {"EndpointName": ENDPOINT})
    with pytest.raises(handler.EndpointNotReady, match="Updating"):
        handler.lambda_handler(load_event("endpoint_verify_payload.json"), context)


def test_bad_payloads_are_named(cloud: Cloud, context: FakeContext) -> None:
    with pytest.raises(handler.InvalidRequest, match="unknown action"):
        handler.lambda_handler({"action": "explode"}, context)
    payload = load_event("endpoint_deploy_payload.json")
    payload["endpoint_name"] = "bad_name!"
    with pytest.raises(handler.InvalidRequest, match="endpoint_name"):
        handler.lambda_handler(payload, context)


def test_update_deregisters_autoscaling_first(cloud: Cloud, sagemaker: Stubber, context: FakeContext) -> None:
    scaling = boto3.client("application-autoscaling", region_name=REGION)
    scaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{ENDPOINT}/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=2,
    )
    sagemaker.add_response("describe_endpoint", described("InService"), {"EndpointName": ENDPOINT})
    sagemaker.add_response(
        "update_endpoint", {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"}
    )
    handler.lambda_handler(load_event("endpoint_deploy_payload.json"), context)
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


def test_update_racing_another_change_is_retryable(
    cloud: Cloud, sagemaker: Stubber, context: FakeContext
) -> None:
    sagemaker.add_response("describe_endpoint", described("InService"), {"EndpointName": ENDPOINT})
    sagemaker.add_client_error(
        "update_endpoint",
        service_error_code="ValidationException",
        service_message=f'Cannot update in-progress endpoint "arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}".',
    )
    with pytest.raises(handler.EndpointBusy):
        handler.lambda_handler(load_event("endpoint_deploy_payload.json"), context)
    assert token_item(cloud) is None


def other_runs_token(cloud: Cloud, created_at: int) -> None:
    cloud.tokens().put_item(
        Item={
            "id": f"endpoint#{ENDPOINT}",
            "task_token": "another-run-token",
            "run_id": "other-0123456789abcdef",
            "endpoint_config_name": "other-0123456789abcdef-epc-0",
            "created_at": created_at,
            "expiration": 2_000_000_000,
        }
    )


def test_deploy_waits_while_another_run_holds_a_fresh_token(
    cloud: Cloud, sagemaker: Stubber, context: FakeContext
) -> None:
    # Given another run stored its token a moment ago and is about to change the endpoint
    other_runs_token(cloud, created_at=int(time.time()))
    sagemaker.add_response("describe_endpoint", described("InService"), {"EndpointName": ENDPOINT})
    # When this run deploys
    with pytest.raises(handler.EndpointBusy, match="another deployment"):
        handler.lambda_handler(load_event("endpoint_deploy_payload.json"), context)
    # Then the other run's token is untouched and no update was started (the stubber has none queued)
    item = token_item(cloud)
    assert item is not None and item["task_token"] == "another-run-token"


def test_deploy_replaces_a_stale_token_of_a_run_that_ended(
    cloud: Cloud, sagemaker: Stubber, context: FakeContext
) -> None:
    other_runs_token(cloud, created_at=int(time.time()) - 3600)
    sagemaker.add_response("describe_endpoint", described("InService"), {"EndpointName": ENDPOINT})
    sagemaker.add_response(
        "update_endpoint",
        {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"},
        None,
    )
    answer = handler.lambda_handler(load_event("endpoint_deploy_payload.json"), context)
    assert answer["action"] == "update"
    item = token_item(cloud)
    assert item is not None and item["task_token"] == TOKEN


EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:gtpipe-pipeline:other-0123456789abcdef"


def other_runs_lock(cloud: Cloud, created_at: int) -> None:
    """Another run's lock whose token was answered already (it is between DeployEndpoint and Publish)."""
    cloud.tokens().put_item(
        Item={
            "id": f"endpoint#{ENDPOINT}",
            "run_id": "other-0123456789abcdef",
            "execution_arn": EXECUTION_ARN,
            "endpoint_config_name": "other-0123456789abcdef-epc-0",
            "created_at": created_at,
            "answered_at": created_at + 300,
            "expiration": 2_000_000_000,
        }
    )


def deploy_payload() -> dict[str, Any]:
    return {**load_event("endpoint_deploy_payload.json"), "execution_arn": f"{EXECUTION_ARN}-this"}


def test_deploy_waits_until_the_holder_has_verified_and_published(
    cloud: Cloud, sagemaker: Stubber, sfn: Stubber, context: FakeContext
) -> None:
    # Given another run's deployment went InService an hour ago, and its execution is still verifying
    other_runs_lock(cloud, created_at=int(time.time()) - 3600)
    sagemaker.add_response(
        "describe_endpoint",
        described("InService", "other-0123456789abcdef-epc-0"),
        {"EndpointName": ENDPOINT},
    )
    sfn.add_response(
        "describe_execution",
        {
            "executionArn": EXECUTION_ARN,
            "stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:gtpipe-pipeline",
            "status": "RUNNING",
            "startDate": datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        },
        {"executionArn": EXECUTION_ARN},
    )
    # When this run deploys
    with pytest.raises(handler.EndpointBusy, match="holds the endpoint until it has verified and published"):
        handler.lambda_handler(deploy_payload(), context)
    # Then no update was started (none is queued on the stubber) and the lock is still the other run's
    item = token_item(cloud)
    assert item is not None and item["run_id"] == "other-0123456789abcdef"


@pytest.mark.parametrize("ended", ["SUCCEEDED", "ABORTED", "TIMED_OUT", "gone"])
def test_deploy_takes_over_the_lock_of_an_execution_that_ended(
    cloud: Cloud, sagemaker: Stubber, sfn: Stubber, context: FakeContext, ended: str
) -> None:
    # Given a lock whose execution ended without releasing it (stopped, timed out, or deleted)
    other_runs_lock(cloud, created_at=int(time.time()) - 60)
    sagemaker.add_response("describe_endpoint", described("InService"), {"EndpointName": ENDPOINT})
    if ended == "gone":
        sfn.add_client_error("describe_execution", service_error_code="ExecutionDoesNotExist")
    else:
        sfn.add_response(
            "describe_execution",
            {
                "executionArn": EXECUTION_ARN,
                "stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:gtpipe-pipeline",
                "status": ended,
                "startDate": datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
            },
            {"executionArn": EXECUTION_ARN},
        )
    sagemaker.add_response(
        "update_endpoint", {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"}, None
    )
    # When this run deploys
    answer = handler.lambda_handler(deploy_payload(), context)
    # Then it updates the endpoint and holds the lock with its own token and execution
    assert answer["action"] == "update"
    item = token_item(cloud)
    assert item is not None and item["run_id"] == "demo-0123456789abcdef" and item["task_token"] == TOKEN
    assert item["execution_arn"] == f"{EXECUTION_ARN}-this"


def test_release_frees_the_lock_only_for_its_holder(cloud: Cloud, context: FakeContext) -> None:
    # Given another run holds the lock
    other_runs_lock(cloud, created_at=int(time.time()))
    release = {"action": "release", "run_id": "demo-0123456789abcdef", "endpoint_name": ENDPOINT}
    # When a run that does not hold it releases, nothing changes
    assert handler.lambda_handler(release, context) == {"endpoint_name": ENDPOINT, "released": False}
    assert token_item(cloud) is not None
    # When the holder releases, the next deployment may start
    mine = {**release, "run_id": "other-0123456789abcdef"}
    assert handler.lambda_handler(mine, context) == {"endpoint_name": ENDPOINT, "released": True}
    assert token_item(cloud) is None


def test_cleanup_keeps_an_endpoint_another_run_created_during_this_run(
    cloud: Cloud, sagemaker: Stubber, context: FakeContext
) -> None:
    # Given this run started before another run created the endpoint, which serves the other run's config
    other_runs_lock(cloud, created_at=int(time.time()))
    sagemaker.add_response(
        "describe_endpoint",
        described("InService", "other-0123456789abcdef-epc-0"),
        {"EndpointName": ENDPOINT},
    )
    # When this run fails and cleans up
    answer = handler.lambda_handler(
        {
            "action": "cleanup",
            "run_id": "demo-0123456789abcdef",
            "endpoint_name": ENDPOINT,
            "endpoint_config_name": NEW_CONFIG,
            "run_started_at": "2026-11-23T09:00:00Z",
        },
        context,
    )
    # Then the endpoint is kept (no DeleteEndpoint is queued on the stubber) and the other run keeps its lock
    assert answer["action"] == "kept" and "other-0123456789abcdef-epc-0" in answer["reason"]
    assert answer["lock_released"] is False
    item = token_item(cloud)
    assert item is not None and item["run_id"] == "other-0123456789abcdef"
