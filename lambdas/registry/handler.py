"""registry: every model that passes the quality gate becomes a model package; manual approval waits here.

Three entry shapes:

1. ``{"action": "register", "run_id", "approval", "state"}`` (RegisterModel, after QualityGate): create the
   label set's model package group when it does not exist yet, then the run's model package
   (``gtpipe_shared.model_registry.create_package_request``; ``ClientToken`` = run id, so a retry returns the
   same version), Approved with ``approval: auto`` and PendingManualApproval with ``manual``. The package is
   recorded in the run's ledger item (``model_package``). Returns ``{package_arn, group_name,
   approval_status}``.
2. ``{"action": "wait", "task_token", "run_id", "package_arn"}`` (WaitForApproval, ``.waitForTaskToken``):
   store the token under ``package#<arn>`` in the task-token table, then read the package once, so a decision
   taken before the token was stored is not lost.
3. An EventBridge "SageMaker Model Package State Change" event (the stack's rule matches its groups):
   Approved answers the stored token with success (the run deploys), Rejected with the error
   ``ModelRejected`` and the ApprovalDescription as its cause (the run ends in FailedApproval, nothing is
   deployed). Events are at least once: an event without a stored token is ignored.
4. ``{"action": "prepare_rollback", "run_id", "package_arn"}`` (PrepareRollback, the first state of a
   rollback execution that ``gtpipe deploy --package ARN`` starts): record the rollback in the ledger, refuse
   (``RollbackRefused``, the run ends FAILED at step ``rollback``) a package that is not Approved, not in this
   stack's groups or of another label set than the serving endpoint, and answer the execution state the
   deployment states (CreateRollbackModel, CreateEndpointConfig ... ReleaseEndpoint) read: see
   ``registry/rollback.py`` and README "Model registry and approval".
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from gtpipe_shared import ledger
from gtpipe_shared.aws import client, error_code, table
from gtpipe_shared.config import require_env
from gtpipe_shared.events import is_eventbridge_event
from gtpipe_shared.model_registry import (
    APPROVED,
    REJECTED,
    RegistryError,
    create_package_request,
    group_name,
    parse_package_state_change,
    token_id,
)
from gtpipe_shared.payload import parse_payload, payload_action
from pydantic import BaseModel, ConfigDict, Field

from registry.rollback import PrepareRollbackRequest, prepare_rollback

logger = Logger()
tracer = Tracer()

TOKEN_GONE_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
REJECTED_ERROR = "ModelRejected"


class InvalidRequest(ValueError):
    """The payload is not one of the accepted shapes."""


class RegisterRequest(BaseModel):
    """``action: register`` payload."""

    model_config = ConfigDict(extra="ignore")

    action: str
    run_id: str = Field(min_length=1)
    approval: str = Field(pattern=r"^(auto|manual)$")
    state: dict[str, Any]


class WaitRequest(BaseModel):
    """``action: wait`` payload."""

    model_config = ConfigDict(extra="ignore")

    action: str
    task_token: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    package_arn: str = Field(pattern=r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:[0-9]{12}:model-package/\S+$")


def _class_names(state: dict[str, Any]) -> list[str]:
    names = (state.get("split") or {}).get("class_names") or []
    if not isinstance(names, list) or not names:
        raise RegistryError("the run's state has no split.class_names: the label set is unknown")
    return [str(name) for name in names]


def _ensure_group(sagemaker: Any, name: str, task_type: str, class_names: list[str]) -> None:
    """Create the label set's group unless it exists (two runs may race: the loser's create fails)."""
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=name)
        return
    except ClientError as exc:
        # A missing group is a ValidationException on AWS ("does not exist"); ResourceNotFound is accepted too.
        if error_code(exc) not in ("ValidationException", "ResourceNotFound"):
            raise
    description = f"gtpipe {task_type}: {json.dumps(class_names, ensure_ascii=False)}"[:1024]
    try:
        sagemaker.create_model_package_group(
            ModelPackageGroupName=name, ModelPackageGroupDescription=description
        )
    except ClientError as exc:
        if "already exists" not in str(exc):
            raise


def _record(run_id: str, package: dict[str, Any]) -> None:
    """``model_package`` on the run's ledger item (never creates an item)."""
    runs = table(require_env("RUNS_TABLE"))
    try:
        runs.update_item(
            Key={"run_id": run_id},
            UpdateExpression="SET model_package = :p, updated_at = :now",
            ConditionExpression="attribute_exists(run_id)",
            ExpressionAttributeValues=ledger.to_dynamo({":p": package, ":now": ledger.now_iso()}),
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        logger.warning("run not in the ledger; package not recorded", extra={"run_id": run_id})


def _record_decision(run_id: str, status: str, description: str) -> None:
    """The decision on the run's recorded ``model_package`` (nothing when the run has none)."""
    runs = table(require_env("RUNS_TABLE"))
    try:
        runs.update_item(
            Key={"run_id": run_id},
            UpdateExpression="SET model_package.approval_status = :s, model_package.approval_description = :d, "
            "updated_at = :now",
            ConditionExpression="attribute_exists(model_package)",
            ExpressionAttributeValues={":s": status, ":d": description, ":now": ledger.now_iso()},
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        logger.warning("run has no recorded package; decision not recorded", extra={"run_id": run_id})


@tracer.capture_method
def register(request: RegisterRequest) -> dict[str, Any]:
    """Group on demand, then the run's package; recorded in the ledger."""
    state = request.state
    task_type = str((state.get("config") or {}).get("task_type") or "")
    if not task_type:
        raise RegistryError("the run's state has no config.task_type")
    class_names = _class_names(state)
    group = group_name(require_env("MODEL_PACKAGE_GROUP_PREFIX"), task_type, class_names)
    package_request = create_package_request(state, group, request.approval)
    sagemaker = client("sagemaker")
    _ensure_group(sagemaker, group, task_type, class_names)
    arn = str(sagemaker.create_model_package(**package_request)["ModelPackageArn"])
    status = package_request["ModelApprovalStatus"]
    _record(request.run_id, {"arn": arn, "group": group, "approval_status": status})
    return {"package_arn": arn, "group_name": group, "approval_status": status}


def _answer(token: str, status: str, arn: str, description: str) -> str:
    """Answer a waiting run for a decided package; ``gone`` when the token is no longer valid."""
    sfn = client("stepfunctions")
    try:
        if status == APPROVED:
            output = {"package_arn": arn, "approval_status": status, "approval_description": description}
            sfn.send_task_success(taskToken=token, output=json.dumps(output))
            return "success"
        reason = description or "no reason given"
        sfn.send_task_failure(
            taskToken=token, error=REJECTED_ERROR, cause=f"model package {arn} was rejected: {reason}"[:32768]
        )
        return "failure"
    except ClientError as exc:
        if error_code(exc) in TOKEN_GONE_ERRORS:
            return "gone"
        raise


def _decide(arn: str, status: str, description: str) -> dict[str, Any]:
    """Answer the token stored for ``arn`` when ``status`` is a decision; drop the token once answered."""
    if status not in (APPROVED, REJECTED):
        return {"ignored": True, "reason": f"status {status} is no decision"}
    tokens = table(require_env("TASK_TOKEN_TABLE"))
    key = {"id": token_id(arn)}
    item = tokens.get_item(Key=key, ConsistentRead=True).get("Item")
    if not item or "task_token" not in item:
        return {"ignored": True, "reason": "no run waits for this package"}
    answered = _answer(str(item["task_token"]), status, arn, description)
    tokens.delete_item(Key=key)
    run_id = str(item.get("run_id", ""))
    if run_id:
        _record_decision(run_id, status, description)
    return {"answered": answered, "package_arn": arn, "approval_status": status, "run_id": run_id}


@tracer.capture_method
def wait(request: WaitRequest) -> dict[str, Any]:
    """Store the token, then answer at once if the package was decided before it was stored."""
    tokens = table(require_env("TASK_TOKEN_TABLE"))
    ttl = int(os.environ.get("TASK_TOKEN_TTL_SECONDS", str(366 * 86400)))
    now = int(time.time())
    tokens.put_item(
        Item={
            "id": token_id(request.package_arn),
            "task_token": request.task_token,
            "run_id": request.run_id,
            "package_arn": request.package_arn,
            "created_at": now,
            "expiration": now + ttl,
        }
    )
    package = client("sagemaker").describe_model_package(ModelPackageName=request.package_arn)
    status = str(package.get("ModelApprovalStatus", ""))
    if status in (APPROVED, REJECTED):
        return _decide(request.package_arn, status, str(package.get("ApprovalDescription") or ""))
    return {"waiting": True, "package_arn": request.package_arn}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Dispatch on the payload shape (see module docstring)."""
    if is_eventbridge_event(event):
        change = parse_package_state_change(event)
        logger.append_keys(package_arn=change.arn, approval_status=change.approval_status)
        return _decide(change.arn, change.approval_status, change.approval_description)
    action = payload_action(event, logger, InvalidRequest, "payload")
    if action == "register":
        return register(parse_payload(RegisterRequest, event, InvalidRequest, "register payload"))
    if action == "wait":
        return wait(parse_payload(WaitRequest, event, InvalidRequest, "wait payload"))
    if action == "prepare_rollback":
        return prepare_rollback(
            parse_payload(PrepareRollbackRequest, event, InvalidRequest, "prepare_rollback payload")
        )
    raise InvalidRequest(
        f"unknown action {action!r} (expected register, wait, prepare_rollback or an EventBridge event)"
    )
