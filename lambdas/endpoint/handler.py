"""endpoint: create/update the serving endpoint and report back to the state machine.

Three entry shapes:

1. ``{"action": "deploy", "task_token", ...}`` (Lambda task with ``.waitForTaskToken``): store the token,
   then CreateEndpoint, or UpdateEndpoint with a blue/green deployment that rolls back automatically on
   the configured CloudWatch alarms. SageMaker tasks cannot wait for a token themselves, and polling
   DescribeEndpoint from the state machine costs a transition every few seconds for up to an hour.
2. An EventBridge "SageMaker Endpoint State Change" event: answer the stored token (success on
   InService, failure on Failed, heartbeat while Creating/Updating/...). Events are at least once and may
   be late: events without a token, or older than the token, are ignored.
3. ``{"action": "verify", ...}``: confirm the endpoint serves the expected config (a blue/green rollback
   ends InService on the *old* config, which would otherwise go unnoticed) and (re)apply auto scaling,
   which has to be removed before an update and re-registered after it.
4. ``{"action": "cleanup", ...}`` (after FailedDeployment/FailedVerification): roll back what the failed
   run created, as CloudFormation rolls back a failed stack. An endpoint created by this run (created after
   the execution started) never served a published model, yet bills per instance-hour while it exists
   (https://aws.amazon.com/sagemaker/pricing/): it is deleted. An endpoint that existed before the run
   serves the published model (a blue/green update that failed or rolled back keeps the old fleet) and is
   kept. One that cannot be deleted yet (still Creating after a deployment timeout; DeleteEndpoint needs a
   settled endpoint) is reported as left running with its instance type and count, so the ledger and the
   notification say what is still billing. Endpoint configurations and models have no charge and stay
   for diagnosis (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpoint.html).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from gtpipe_shared.aws import client, error_code, table
from gtpipe_shared.config import ConfigError, json_list_env, require_env
from gtpipe_shared.events import SageMakerStateChange, is_eventbridge_event, parse_sagemaker_state_change
from gtpipe_shared.payload import parse_payload
from pydantic import BaseModel, ConfigDict, Field

logger = Logger()
tracer = Tracer()
metrics = Metrics()

SAGEMAKER_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
BUSY_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
HEARTBEAT_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})
FAILED_STATUSES = frozenset({"Failed", "UpdateRollbackFailed"})
TOKEN_GONE_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


# A token younger than this belongs to a deployment that is starting or finishing right now.
TOKEN_STALE_SECONDS = 60


class EndpointBusy(Exception):
    """The endpoint is being created, updated or deleted; retry later (the state machine retries this)."""


class EndpointRolledBack(Exception):
    """The endpoint serves another endpoint config than the one deployed (blue/green rollback)."""


class EndpointNotReady(Exception):
    """The endpoint is not InService when it should be."""


class InvalidRequest(ValueError):
    """The payload is not one of the accepted shapes."""


class DeployRequest(BaseModel):
    """``action: deploy`` payload."""

    model_config = ConfigDict(extra="ignore")

    action: str
    task_token: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    endpoint_name: str = Field(pattern=SAGEMAKER_NAME)
    endpoint_config_name: str = Field(pattern=SAGEMAKER_NAME)
    variant_name: str = "AllTraffic"


class VerifyRequest(BaseModel):
    """``action: verify`` payload."""

    model_config = ConfigDict(extra="ignore")

    action: str
    run_id: str = Field(min_length=1)
    endpoint_name: str = Field(pattern=SAGEMAKER_NAME)
    endpoint_config_name: str = Field(pattern=SAGEMAKER_NAME)
    variant_name: str = "AllTraffic"
    min_capacity: int = Field(default=1, ge=1)
    max_capacity: int = Field(default=1, ge=1)
    target_invocations_per_instance: float = Field(default=100.0, gt=0)
    scale_in_cooldown: int = Field(default=300, ge=0)
    scale_out_cooldown: int = Field(default=60, ge=0)


class CleanupRequest(BaseModel):
    """``action: cleanup`` payload: the failed run's endpoint and when the run's execution started."""

    model_config = ConfigDict(extra="ignore")

    action: str
    run_id: str = Field(min_length=1)
    endpoint_name: str = Field(pattern=SAGEMAKER_NAME)
    run_started_at: datetime.datetime


def _validated(model: type[BaseModel], event: dict[str, Any]) -> Any:
    return parse_payload(model, event, InvalidRequest, f"{event.get('action')} payload")


def token_id(endpoint_name: str) -> str:
    """Task-token table key for an endpoint."""
    return f"endpoint#{endpoint_name}"


def deployment_config(alarm_names: list[str], termination_wait: int) -> dict[str, Any]:
    """Blue/green, all-at-once traffic shift; roll back automatically when an alarm fires."""
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
            "TerminationWaitInSeconds": termination_wait,
        }
    }
    if alarm_names:
        # The API requires 1-10 alarms when AutoRollbackConfiguration is present.
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarm_names[:10]]}
    return config


def describe_endpoint(name: str) -> dict[str, Any] | None:
    """DescribeEndpoint, or None when the endpoint does not exist."""
    try:
        return dict(client("sagemaker").describe_endpoint(EndpointName=name))
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if error_code(exc) in ("ValidationException", "ValidationError") and "Could not find" in message:
            return None
        raise


def _deregister_scaling(endpoint_name: str, variant_name: str) -> None:
    # An endpoint with a scalable target refuses updates that change the variant's instances; verify
    # registers it again after the update. Deregistering also removes the target's scaling policies.
    scaling = client("application-autoscaling")
    resource_id = f"endpoint/{endpoint_name}/variant/{variant_name}"
    targets = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource_id], ScalableDimension=SCALABLE_DIMENSION
    ).get("ScalableTargets", [])
    if not targets:
        return
    try:
        scaling.deregister_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=resource_id, ScalableDimension=SCALABLE_DIMENSION
        )
    except ClientError as exc:
        if error_code(exc) not in ("ObjectNotFoundException", "ValidationException"):
            raise


def _in_progress_conflict(exc: ClientError) -> bool:
    message = str(exc.response.get("Error", {}).get("Message", "")).lower()
    return error_code(exc) in ("ValidationException", "ResourceInUse") and (
        "in-progress" in message or "in progress" in message or "cannot update" in message
    )


def _token_gone(exc: ClientError) -> bool:
    return error_code(exc) in TOKEN_GONE_ERRORS


def _send_success(token: str, output: dict[str, Any]) -> bool:
    try:
        client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output))
    except ClientError as exc:
        if _token_gone(exc):
            logger.info("task token no longer valid", extra={"error": error_code(exc)})
            return False
        raise
    return True


@tracer.capture_method
def deploy(request: DeployRequest) -> dict[str, Any]:
    """Store the task token and start CreateEndpoint/UpdateEndpoint (the answer comes from events)."""
    tokens = table(require_env("TASK_TOKEN_TABLE"))
    alarms = json_list_env("ENDPOINT_ALARM_NAMES")
    termination_wait = int(os.environ.get("TERMINATION_WAIT_SECONDS", "300"))
    ttl = int(os.environ.get("TASK_TOKEN_TTL_SECONDS", str(3 * 86400)))
    endpoint = describe_endpoint(request.endpoint_name)
    status = endpoint.get("EndpointStatus") if endpoint else None
    if status in BUSY_STATUSES:
        # Checked before storing the token so the running deployment keeps its own token.
        raise EndpointBusy(f"endpoint {request.endpoint_name} is {status}; retry when it settles")
    sagemaker = client("sagemaker")
    if endpoint is not None and status in FAILED_STATUSES:
        # A failed endpoint cannot be updated: delete it; the retry (EndpointBusy) creates it anew.
        sagemaker.delete_endpoint(EndpointName=request.endpoint_name)
        raise EndpointBusy(f"endpoint {request.endpoint_name} was {status}; deleting it before re-creating")
    if (
        endpoint is not None
        and status == "InService"
        and endpoint.get("EndpointConfigName") == request.endpoint_config_name
    ):
        # Already serving this config (a retried deploy): answer the token now, nothing to wait for.
        output = {
            "endpoint_name": request.endpoint_name,
            "endpoint_status": status,
            "endpoint_config_name": request.endpoint_config_name,
        }
        _send_success(request.task_token, output)
        return {**output, "action": "none"}
    # Store the token before starting the change, so no state-change event can arrive without it. Only one
    # deployment may wait on the endpoint: a fresh token of another run means its change is about to start
    # (or its InService event is being processed), so this run retries; a stale one was left by a run that
    # ended without its event (timeout) and is replaced.
    now = time.time()
    try:
        tokens.put_item(
            Item={
                "id": token_id(request.endpoint_name),
                "task_token": request.task_token,
                "run_id": request.run_id,
                "endpoint_config_name": request.endpoint_config_name,
                "created_at": int(now),
                "expiration": int(now) + ttl,
            },
            ConditionExpression="attribute_not_exists(id) OR run_id = :run OR created_at < :stale",
            ExpressionAttributeValues={":run": request.run_id, ":stale": int(now) - TOKEN_STALE_SECONDS},
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        raise EndpointBusy(
            f"another deployment to {request.endpoint_name} is waiting for its endpoint event; retrying"
        ) from exc
    try:
        if endpoint is None:
            sagemaker.create_endpoint(
                EndpointName=request.endpoint_name, EndpointConfigName=request.endpoint_config_name
            )
            action = "create"
        else:
            _deregister_scaling(request.endpoint_name, request.variant_name)
            sagemaker.update_endpoint(
                EndpointName=request.endpoint_name,
                EndpointConfigName=request.endpoint_config_name,
                DeploymentConfig=deployment_config(alarms, termination_wait),
            )
            action = "update"
    except Exception as exc:
        # The call failed, so no state-change event will answer this token: the task fails right here.
        # Delete only our own token; another deployment may have replaced it meanwhile.
        with contextlib.suppress(ClientError):
            tokens.delete_item(
                Key={"id": token_id(request.endpoint_name)},
                ConditionExpression="task_token = :mine",
                ExpressionAttributeValues={":mine": request.task_token},
            )
        if isinstance(exc, ClientError) and _in_progress_conflict(exc):
            # Another change started between DescribeEndpoint and our call.
            raise EndpointBusy(
                f"endpoint {request.endpoint_name} is being changed; retry when it settles"
            ) from exc
        raise
    metrics.add_metric(name="EndpointDeployments", unit=MetricUnit.Count, value=1)
    logger.info("endpoint deployment started", extra={"action": action, "endpoint": request.endpoint_name})
    return {
        "endpoint_name": request.endpoint_name,
        "endpoint_config_name": request.endpoint_config_name,
        "action": action,
    }


@tracer.capture_method
def on_state_change(change: SageMakerStateChange) -> dict[str, Any]:
    """Answer the stored task token for an endpoint state change."""
    if change.kind != "endpoint":
        return {"ignored": True, "reason": f"not an endpoint event ({change.kind})"}
    tokens = table(require_env("TASK_TOKEN_TABLE"))
    key = {"id": token_id(change.name)}
    item = tokens.get_item(Key=key, ConsistentRead=True).get("Item")
    if not item:
        logger.info(
            "no task token for endpoint event", extra={"endpoint": change.name, "status": change.status}
        )
        return {"ignored": True, "reason": "no task token"}
    if change.time.timestamp() < int(item.get("created_at", 0)):
        # Emitted before this deployment started (late event of an earlier one).
        return {"ignored": True, "reason": "event older than the deployment"}
    token = str(item["task_token"])
    status = change.status
    try:
        if status == "InService":
            output = {
                "endpoint_name": change.name,
                "endpoint_status": status,
                "endpoint_config_name": change.endpoint_config_name
                or str(item.get("endpoint_config_name", "")),
            }
            client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output))
            tokens.delete_item(Key=key)
            return {"answered": "success", **output}
        if status in FAILED_STATUSES:
            cause = change.failure_reason or f"endpoint {change.name} is {status}"
            client("stepfunctions").send_task_failure(
                taskToken=token, error="EndpointFailed", cause=cause[:32768]
            )
            tokens.delete_item(Key=key)
            metrics.add_metric(name="EndpointFailures", unit=MetricUnit.Count, value=1)
            return {"answered": "failure", "endpoint_name": change.name, "cause": cause}
        if status in HEARTBEAT_STATUSES:
            client("stepfunctions").send_task_heartbeat(taskToken=token)
            return {"answered": "heartbeat", "endpoint_name": change.name, "endpoint_status": status}
    except ClientError as exc:
        if _token_gone(exc):
            tokens.delete_item(Key=key)
            return {"ignored": True, "reason": f"task token gone ({error_code(exc)})"}
        raise
    return {"ignored": True, "reason": f"status {status} needs no answer"}


@tracer.capture_method
def verify(request: VerifyRequest) -> dict[str, Any]:
    """Check the deployed config and (re)apply target-tracking auto scaling."""
    endpoint = describe_endpoint(request.endpoint_name)
    if endpoint is None:
        raise EndpointNotReady(f"endpoint {request.endpoint_name} does not exist")
    status = endpoint.get("EndpointStatus")
    config_name = endpoint.get("EndpointConfigName")
    if config_name != request.endpoint_config_name:
        raise EndpointRolledBack(
            f"endpoint {request.endpoint_name} serves {config_name}, not {request.endpoint_config_name}: "
            "the deployment was rolled back"
        )
    if status != "InService":
        raise EndpointNotReady(f"endpoint {request.endpoint_name} is {status}, expected InService")
    if request.max_capacity < request.min_capacity:
        raise InvalidRequest("max_capacity must be >= min_capacity")
    resource_id = f"endpoint/{request.endpoint_name}/variant/{request.variant_name}"
    scaling = client("application-autoscaling")
    scaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=request.min_capacity,
        MaxCapacity=request.max_capacity,
    )
    scaling.put_scaling_policy(
        PolicyName=f"{request.endpoint_name}-{request.variant_name}-invocations",
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension=SCALABLE_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(request.target_invocations_per_instance),
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": request.scale_in_cooldown,
            "ScaleOutCooldown": request.scale_out_cooldown,
        },
    )
    return {
        "endpoint_name": request.endpoint_name,
        "endpoint_config_name": config_name,
        "endpoint_status": status,
    }


def _fleet(endpoint: dict[str, Any]) -> dict[str, Any]:
    """Instance type and count of each variant the endpoint runs now (what it bills for)."""
    variants = [
        {
            "variant_name": variant.get("VariantName"),
            "instance_type": _variant_instance_type(endpoint, str(variant.get("VariantName"))),
            "instance_count": variant.get("CurrentInstanceCount", variant.get("DesiredInstanceCount")),
        }
        for variant in endpoint.get("ProductionVariants") or []
    ]
    return {"variants": variants} if variants else {}


def _variant_instance_type(endpoint: dict[str, Any], variant_name: str) -> str | None:
    config = client("sagemaker").describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    for variant in config.get("ProductionVariants") or []:
        if variant.get("VariantName") == variant_name:
            return str(variant.get("InstanceType")) if variant.get("InstanceType") else None
    return None


@tracer.capture_method
def cleanup(request: CleanupRequest) -> dict[str, Any]:
    """Delete the endpoint a failed run created; report it when it cannot be deleted yet (see docstring)."""
    name = request.endpoint_name
    endpoint = describe_endpoint(name)
    if endpoint is None:
        return {"endpoint_name": name, "action": "none", "reason": "no endpoint exists"}
    status = str(endpoint.get("EndpointStatus"))
    created = endpoint.get("CreationTime")
    started = request.run_started_at
    if started.tzinfo is None:
        started = started.replace(tzinfo=datetime.UTC)
    if not isinstance(created, datetime.datetime) or created < started:
        # Existed before this run: it serves the published model (or nothing this run may remove).
        return {"endpoint_name": name, "action": "kept", "reason": "the endpoint existed before this run"}
    if status == "Deleting":
        return {"endpoint_name": name, "action": "deleted", "endpoint_status": status}
    if status in BUSY_STATUSES:
        logger.warning("endpoint left running", extra={"endpoint": name, "status": status})
        metrics.add_metric(name="EndpointsLeftRunning", unit=MetricUnit.Count, value=1)
        return {
            "endpoint_name": name,
            "action": "left-running",
            "endpoint_status": status,
            "reason": f"the endpoint is {status} and cannot be deleted until it settles: delete it with "
            f"`aws sagemaker delete-endpoint --endpoint-name {name}`; it bills per instance-hour until then",
            **_fleet(endpoint),
        }
    client("sagemaker").delete_endpoint(EndpointName=name)
    metrics.add_metric(name="EndpointsDeletedAfterFailure", unit=MetricUnit.Count, value=1)
    logger.info("deleted the endpoint the failed run created", extra={"endpoint": name, "status": status})
    return {"endpoint_name": name, "action": "deleted", "endpoint_status": status}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Dispatch on the payload shape (see module docstring)."""
    if is_eventbridge_event(event):
        change = parse_sagemaker_state_change(event)
        logger.append_keys(endpoint=change.name, status=change.status)
        return on_state_change(change)
    if not isinstance(event, dict):
        raise InvalidRequest("payload must be a JSON object")
    action = event.get("action")
    if isinstance(event.get("run_id"), str):
        logger.set_correlation_id(event["run_id"])
        logger.append_keys(run_id=event["run_id"])
    try:
        if action == "deploy":
            return deploy(_validated(DeployRequest, event))
        if action == "verify":
            return verify(_validated(VerifyRequest, event))
        if action == "cleanup":
            return cleanup(_validated(CleanupRequest, event))
    except ConfigError:
        logger.exception("configuration error")
        raise
    raise InvalidRequest(
        f"unknown action {action!r} (expected deploy, verify, cleanup or an EventBridge event)"
    )
