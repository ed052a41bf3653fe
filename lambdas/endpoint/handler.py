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
4. ``{"action": "cleanup", ...}`` (after FailedDeployment/FailedVerification/FailedPublish): roll back what
   the failed run created, as CloudFormation rolls back a failed stack. An endpoint created by this run
   (created after the execution started, and serving this run's endpoint config: with concurrent runs the
   endpoint may have been created by another run meanwhile) never served a published model, yet bills per
   instance-hour while it exists
   (https://aws.amazon.com/sagemaker/pricing/): it is deleted. An endpoint that existed before the run
   serves the published model (a blue/green update that failed or rolled back keeps the old fleet) and is
   kept. One that cannot be deleted yet (still Creating after a deployment timeout; DeleteEndpoint needs a
   settled endpoint) is reported as left running with its instance type and count, so the ledger and the
   notification say what is still billing. Endpoint configurations and models have no charge and stay
   for diagnosis (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpoint.html).
   Cleanup also releases the endpoint lock (below) when this run holds it.
5. ``{"action": "release", ...}`` (after Publish): release the endpoint lock.

With ``gtpipe:asyncInference`` the InService events also keep the asynchronous endpoint serving the real-time
endpoint's model, and scale it (endpoint/async_mirror.py).

**The endpoint lock.** One item per endpoint in the task-token table (``endpoint#<name>``) is both the
deployment's task token and a lock held by one run from its deploy until it has verified and published (or
cleaned up after a failure). Without it, a second run could start its update while the first run's
VerifyEndpoint or Publish is still to come: the first run would verify against the second run's config and
fail, its cleanup could delete the endpoint the second run serves from, and the two Publish steps could write
``@serving`` in the opposite order of the deployments. Another run's deploy answers ``EndpointBusy`` (retried
by DeployEndpoint) while the holder's execution is RUNNING; the lock of an execution that ended without
releasing it (stopped, timed out) is taken over (DescribeExecution of the stored ``execution_arn``).
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
from gtpipe_shared.aws import client, describe_endpoint, error_code, table
from gtpipe_shared.config import ConfigError, json_list_env, require_env
from gtpipe_shared.endpoint_scaling import (
    NAMESPACE,
    SCALABLE_DIMENSION,
    deregister_target,
    register_target_tracking,
    variant_resource_id,
)
from gtpipe_shared.events import SageMakerStateChange, is_eventbridge_event, parse_sagemaker_state_change
from gtpipe_shared.payload import parse_payload, payload_action
from pydantic import BaseModel, ConfigDict, Field

from endpoint import async_mirror

logger = Logger()
tracer = Tracer()
metrics = Metrics()

SAGEMAKER_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
BUSY_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
HEARTBEAT_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})
FAILED_STATUSES = frozenset({"Failed", "UpdateRollbackFailed"})
TOKEN_GONE_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


# A lock item without an execution ARN (written before the lock existed) younger than this belongs to a
# deployment that is starting or finishing right now; an older one was abandoned.
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
    # ``$$.Execution.Id``: lets a later deploy take over the lock of an execution that ended without releasing.
    execution_arn: str | None = None


class _RunEndpointRequest(BaseModel):
    """The fields every action on a run's endpoint but ``deploy`` starts with (``deploy`` has its task token
    first, so its first-reported missing field stays the token)."""

    model_config = ConfigDict(extra="ignore")

    action: str
    run_id: str = Field(min_length=1)
    endpoint_name: str = Field(pattern=SAGEMAKER_NAME)


class VerifyRequest(_RunEndpointRequest):
    """``action: verify`` payload."""

    endpoint_config_name: str = Field(pattern=SAGEMAKER_NAME)
    variant_name: str = "AllTraffic"
    min_capacity: int = Field(default=1, ge=1)
    max_capacity: int = Field(default=1, ge=1)
    target_invocations_per_instance: float = Field(default=100.0, gt=0)
    scale_in_cooldown: int = Field(default=300, ge=0)
    scale_out_cooldown: int = Field(default=60, ge=0)


class CleanupRequest(_RunEndpointRequest):
    """``action: cleanup`` payload: the failed run's endpoint and when the run's execution started."""

    run_started_at: datetime.datetime
    # The config this run deployed: an endpoint serving another config belongs to another run.
    endpoint_config_name: str | None = None


class ReleaseRequest(_RunEndpointRequest):
    """``action: release`` payload: the run that holds the endpoint lock."""


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


def _deregister_scaling(endpoint_name: str, variant_name: str) -> None:
    # An endpoint with a scalable target refuses updates that change the variant's instances; verify
    # registers it again after the update. Deregistering also removes the target's scaling policies.
    resource_id = variant_resource_id(endpoint_name, variant_name)
    targets = (
        client("application-autoscaling")
        .describe_scalable_targets(
            ServiceNamespace=NAMESPACE, ResourceIds=[resource_id], ScalableDimension=SCALABLE_DIMENSION
        )
        .get("ScalableTargets", [])
    )
    if targets:
        deregister_target(resource_id)


def _in_progress_conflict(exc: ClientError) -> bool:
    message = str(exc.response.get("Error", {}).get("Message", "")).lower()
    return error_code(exc) in ("ValidationException", "ResourceInUse") and (
        "in-progress" in message
        or "in progress" in message
        or "cannot update" in message
        # CreateEndpoint after a wake of the parked endpoint (gtpipe_shared.idle) created it meanwhile.
        or "already existing" in message
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
        # Checked before taking the lock so the running deployment keeps its own token.
        raise EndpointBusy(f"endpoint {request.endpoint_name} is {status}; retry when it settles")
    sagemaker = client("sagemaker")
    if endpoint is not None and status in FAILED_STATUSES:
        # A failed endpoint cannot be updated: delete it; the retry (EndpointBusy) creates it anew.
        sagemaker.delete_endpoint(EndpointName=request.endpoint_name)
        raise EndpointBusy(f"endpoint {request.endpoint_name} was {status}; deleting it before re-creating")
    # Take the lock (and store the token) before starting the change, so no state-change event can arrive
    # without it and no other run changes the endpoint until this run has verified and published.
    _acquire_lock(tokens, request, ttl)
    if (
        endpoint is not None
        and status == "InService"
        and endpoint.get("EndpointConfigName") == request.endpoint_config_name
    ):
        # Already serving this config (a retried deploy): answer the token now, nothing to wait for; the
        # lock stays until the run releases it.
        output = {
            "endpoint_name": request.endpoint_name,
            "endpoint_status": status,
            "endpoint_config_name": request.endpoint_config_name,
        }
        _send_success(request.task_token, output)
        _token_answered(tokens, request.endpoint_name, request.task_token)
        return {**output, "action": "none"}
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
        # The call failed, so no state-change event will answer this token: the task fails right here (or
        # retries, EndpointBusy) and gives the lock back. Delete only our own token; another deployment may
        # have taken the lock over meanwhile.
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


def _acquire_lock(tokens: Any, request: DeployRequest, ttl: int) -> None:
    """Store this deployment's token as the endpoint lock: when no run holds it, this run holds it already, or
    its holder's execution ended without releasing it. Raises EndpointBusy while another run holds it."""
    now = int(time.time())
    item = {
        "id": token_id(request.endpoint_name),
        "task_token": request.task_token,
        "run_id": request.run_id,
        "endpoint_config_name": request.endpoint_config_name,
        "created_at": now,
        "expiration": now + ttl,
    }
    if request.execution_arn:
        item["execution_arn"] = request.execution_arn
    try:
        tokens.put_item(
            Item=item,
            ConditionExpression="attribute_not_exists(id) OR run_id = :run",
            ExpressionAttributeValues={":run": request.run_id},
        )
        return
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
    holder = tokens.get_item(Key={"id": item["id"]}, ConsistentRead=True).get("Item") or {}
    if holder and not _holder_ended(holder, now):
        raise EndpointBusy(
            f"another deployment to {request.endpoint_name} (run {holder.get('run_id')}) holds the endpoint "
            "until it has verified and published; retrying"
        )
    try:
        # Take over exactly the abandoned lock that was read (another run may be taking it over too).
        tokens.put_item(
            Item=item,
            ConditionExpression="attribute_not_exists(id) OR (run_id = :holder AND created_at = :created)",
            ExpressionAttributeValues={
                ":holder": holder.get("run_id", ""),
                ":created": holder.get("created_at", 0),
            },
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        raise EndpointBusy(
            f"another deployment to {request.endpoint_name} took the endpoint; retrying"
        ) from exc
    logger.warning(
        "took over the endpoint lock of an ended run",
        extra={"endpoint": request.endpoint_name, "previous_run_id": holder.get("run_id")},
    )


def _holder_ended(holder: dict[str, Any], now: int) -> bool:
    """Whether the run holding the lock can no longer release it: its execution is not RUNNING (stopped,
    timed out, or gone). A lock without an execution ARN counts as ended after TOKEN_STALE_SECONDS."""
    execution_arn = holder.get("execution_arn")
    if not execution_arn:
        return int(holder.get("created_at", 0)) < now - TOKEN_STALE_SECONDS
    try:
        execution = client("stepfunctions").describe_execution(executionArn=str(execution_arn))
    except ClientError as exc:
        if error_code(exc) == "ExecutionDoesNotExist":
            return True
        raise
    return str(execution.get("status")) != "RUNNING"


def _token_answered(tokens: Any, endpoint_name: str, task_token: str) -> None:
    """Drop the answered (or dead) task token from the lock item; the lock itself stays with its run."""
    with contextlib.suppress(ClientError):
        tokens.update_item(
            Key={"id": token_id(endpoint_name)},
            UpdateExpression="REMOVE task_token SET answered_at = :now",
            ConditionExpression="task_token = :token",
            ExpressionAttributeValues={":token": task_token, ":now": int(time.time())},
        )


def release_lock(endpoint_name: str, run_id: str) -> bool:
    """Release the endpoint lock if ``run_id`` holds it; False when another run (or none) holds it."""
    try:
        table(require_env("TASK_TOKEN_TABLE")).delete_item(
            Key={"id": token_id(endpoint_name)},
            ConditionExpression="run_id = :run",
            ExpressionAttributeValues={":run": run_id},
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        return False
    return True


@tracer.capture_method
def release(request: ReleaseRequest) -> dict[str, Any]:
    """``action: release`` after Publish: the next run's deployment may start."""
    released = release_lock(request.endpoint_name, request.run_id)
    return {"endpoint_name": request.endpoint_name, "released": released}


@tracer.capture_method
def on_state_change(change: SageMakerStateChange) -> dict[str, Any]:
    """Answer the stored task token for an endpoint state change."""
    if change.kind != "endpoint":
        return {"ignored": True, "reason": f"not an endpoint event ({change.kind})"}
    tokens = table(require_env("TASK_TOKEN_TABLE"))
    key = {"id": token_id(change.name)}
    item = tokens.get_item(Key=key, ConsistentRead=True).get("Item")
    if not item or "task_token" not in item:
        # No deployment waits: none holds the lock, or the holder's token was answered already.
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
            _token_answered(tokens, change.name, token)
            return {"answered": "success", **output}
        if status in FAILED_STATUSES:
            cause = change.failure_reason or f"endpoint {change.name} is {status}"
            client("stepfunctions").send_task_failure(
                taskToken=token, error="EndpointFailed", cause=cause[:32768]
            )
            _token_answered(tokens, change.name, token)
            metrics.add_metric(name="EndpointFailures", unit=MetricUnit.Count, value=1)
            return {"answered": "failure", "endpoint_name": change.name, "cause": cause}
        if status in HEARTBEAT_STATUSES:
            client("stepfunctions").send_task_heartbeat(taskToken=token)
            return {"answered": "heartbeat", "endpoint_name": change.name, "endpoint_status": status}
    except ClientError as exc:
        if _token_gone(exc):
            _token_answered(tokens, change.name, token)
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
    register_target_tracking(
        variant_resource_id(request.endpoint_name, request.variant_name),
        min_capacity=request.min_capacity,
        max_capacity=request.max_capacity,
        policy_name=f"{request.endpoint_name}-{request.variant_name}-invocations",
        tracking={
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
    """Delete the endpoint a failed run created, report it when it cannot be deleted yet (see docstring), and
    release the endpoint lock when this run holds it."""
    answer = _clean_up_endpoint(request)
    return {**answer, "lock_released": release_lock(request.endpoint_name, request.run_id)}


def _clean_up_endpoint(request: CleanupRequest) -> dict[str, Any]:
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
    serving = endpoint.get("EndpointConfigName")
    if request.endpoint_config_name and serving != request.endpoint_config_name:
        # Created during this run, by another run (concurrent runs share the endpoint): not ours to delete.
        return {
            "endpoint_name": name,
            "action": "kept",
            "reason": f"the endpoint serves {serving} of another run",
        }
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
        answer = on_state_change(change)
        # The asynchronous endpoint follows the real-time one (endpoint/async_mirror.py); after the token.
        mirrored = async_mirror.on_event(change)
        return {**answer, "async": mirrored} if mirrored is not None else answer
    action = payload_action(event, logger, InvalidRequest, "payload")
    try:
        if action == "deploy":
            return deploy(_validated(DeployRequest, event))
        if action == "verify":
            return verify(_validated(VerifyRequest, event))
        if action == "cleanup":
            return cleanup(_validated(CleanupRequest, event))
        if action == "release":
            return release(_validated(ReleaseRequest, event))
    except ConfigError:
        logger.exception("configuration error")
        raise
    raise InvalidRequest(
        f"unknown action {action!r} (expected deploy, verify, cleanup, release or an EventBridge event)"
    )
