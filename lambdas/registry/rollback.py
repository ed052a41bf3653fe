"""registry ``prepare_rollback``: the first state of a rollback execution (``gtpipe deploy --package ARN``).

A rollback is an execution of the pipeline state machine whose input is ``{"run_id": "rollback-...",
"rollback": {"package_arn": ARN}}``. ChooseLabeling sends it to PrepareRollback (this action), then
CreateRollbackModel, then the states every run deploys with (CreateEndpointConfig, DeployEndpoint with the
endpoint lock and the blue/green deployment config, VerifyEndpoint, Publish, ReleaseEndpoint) and
RecordSuccess / RecordFailure. This action:

1. records the rollback in the runs ledger (a run item with ``manifest_kind: rollback`` and ``rollback``:
   the package, the run that registered it, what served before), so RecordSuccess / RecordFailure end it
   and notify as they end any run;
2. refuses (``RollbackRefused``: the execution ends FAILED at step ``rollback``, nothing deployed) a package
   outside this stack's groups (checked from the ARN before any call: the function's role may describe only
   this stack's packages), not ``Approved``, or of another label set than ``@serving``
   (``gtpipe_shared.model_registry.rollback_refusal``, the rule ``gtpipe deploy`` checks first too);
3. answers the execution's new state: ``config`` (task type and the stack's endpoint settings, from
   ``DEPLOY_CONFIG``), ``training`` (the package's container image and model data, which CreateRollbackModel
   makes a model of, and its ``gtpipe:architecture``, which Publish records in ``@serving``), ``split.class_names`` (the serving label set's), ``evaluation`` (the package's run's
   metrics), ``registry`` (the package, and ``source_run_id``: Publish writes it into ``@serving``) and
   ``report`` (skipped: the package's run has its report).

DescribeModelPackage answers ``ModelPackageGroupName``, ``ModelApprovalStatus``, ``InferenceSpecification``
(``Containers``: ``Image``, ``ModelDataUrl``) and ``CustomerMetadataProperties``
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeModelPackage.html,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ModelPackage.html). The rollback's model is made
from the package's container (image + model data) rather than with ``PrimaryContainer.ModelPackageName``: the
state machine's CreateModel grant and the SageMaker role's model-data read stay the ones runs use, and the
model is the one the package's run served.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from gtpipe_shared import ledger
from gtpipe_shared.aws import client, error_code, table
from gtpipe_shared.config import ConfigError, EndpointConfig, require_env
from gtpipe_shared.ledger_store import get_run, put_new_run
from gtpipe_shared.model_registry import (
    RegistryError,
    package_architecture,
    package_container,
    package_group_of_arn,
    package_run_id,
    rollback_refusal,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = Logger(child=True)

ROLLBACK_KIND = "rollback"
REPORT_SKIPPED = "a rollback deploys an earlier run's model: that run's report stands"


class RollbackRefused(Exception):
    """The package may not be deployed by a rollback; the message says why (the execution's failure cause)."""


class PrepareRollbackRequest(BaseModel):
    """``action: prepare_rollback`` payload."""

    model_config = ConfigDict(extra="ignore")

    action: str
    run_id: str = Field(min_length=1, max_length=80)
    package_arn: str = Field(min_length=1, max_length=2048)


def deploy_config() -> dict[str, Any]:
    """``DEPLOY_CONFIG``: ``{"task_type", "endpoint"}`` as the execution input's ``config`` has them."""
    try:
        raw = json.loads(require_env("DEPLOY_CONFIG"))
        endpoint = EndpointConfig.model_validate(raw["endpoint"]).model_dump(mode="json", exclude_none=True)
        return {"task_type": str(raw["task_type"]), "endpoint": endpoint}
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise ConfigError(f"DEPLOY_CONFIG is invalid: {exc}") from exc


def _serving(runs: Any) -> dict[str, Any] | None:
    return get_run(runs, ledger.SERVING_RUN_ID)


def _record_start(runs: Any, request: PrepareRollbackRequest, serving: dict[str, Any] | None) -> None:
    """The rollback's run item (RUNNING); a retried prepare finds it there and goes on."""
    replaced = {
        k: serving[k]
        for k in ("source_run_id", "endpoint_config_name", "model_name", "model_package_arn")
        if serving and serving.get(k)
    }
    try:
        group = package_group_of_arn(request.package_arn)
    except RegistryError:
        group = "-"
    item = ledger.new_run_item(
        request.run_id,
        status=ledger.RUNNING,
        input_bucket=group,
        input_key=request.package_arn,
        input_version_id=None,
        manifest_kind=ROLLBACK_KIND,
        task_type=str(serving.get("task_type")) if serving and serving.get("task_type") else None,
        now=ledger.now_iso(),
        extra={"rollback": {"package_arn": request.package_arn, "replaced": replaced}},
    )
    put_new_run(runs, item)


def _describe(arn: str) -> dict[str, Any]:
    try:
        return dict(client("sagemaker").describe_model_package(ModelPackageName=arn))
    except ClientError as exc:
        if error_code(exc) in ("ValidationException", "ResourceNotFound"):
            raise RollbackRefused(f"model package {arn} does not exist") from exc
        raise


def _evaluation(runs: Any, source_run_id: str | None, package: dict[str, Any]) -> dict[str, Any]:
    """The package's run's metrics (its ledger item), else the metric its package metadata names."""
    source = get_run(runs, source_run_id) if source_run_id else None
    if source and isinstance(source.get("metrics"), dict) and source["metrics"]:
        return dict(source["metrics"])
    metadata = package.get("CustomerMetadataProperties") or {}
    evaluation: dict[str, Any] = {}
    if metadata.get("gtpipe:metric-name"):
        evaluation["metric_name"] = metadata["gtpipe:metric-name"]
    with contextlib.suppress(KeyError, ValueError):
        evaluation["metric_value"] = float(metadata["gtpipe:metric-value"])
    return evaluation


def prepare_rollback(request: PrepareRollbackRequest) -> dict[str, Any]:
    """Record, check and answer the rollback execution's state (module docstring)."""
    runs = table(require_env("RUNS_TABLE"))
    prefix = require_env("MODEL_PACKAGE_GROUP_PREFIX")
    config = deploy_config()
    serving = _serving(runs)
    _record_start(runs, request, serving)
    try:
        group = package_group_of_arn(request.package_arn)
    except RegistryError as exc:
        raise RollbackRefused(str(exc)) from exc
    if not group.startswith(prefix):
        raise RollbackRefused(
            f"model package {request.package_arn} is in group {group!r}, not one of this stack's groups ({prefix}*)"
        )
    package = _describe(request.package_arn)
    refusal = rollback_refusal(package, prefix, serving)
    if refusal:
        raise RollbackRefused(refusal)
    assert serving is not None  # rollback_refusal refuses when nothing serves
    try:
        image, model_data = package_container(package)
    except RegistryError as exc:
        raise RollbackRefused(str(exc)) from exc
    source_run_id = package_run_id(package)
    runs.update_item(
        Key={"run_id": request.run_id},
        UpdateExpression="SET #r.source_run_id = :s, updated_at = :now",
        ExpressionAttributeNames={"#r": "rollback"},
        ExpressionAttributeValues={":s": source_run_id or "-", ":now": ledger.now_iso()},
    )
    logger.info(
        "rollback prepared",
        extra={"package_arn": request.package_arn, "source_run_id": source_run_id, "group": group},
    )
    return {
        "run_id": request.run_id,
        "rollback": {"package_arn": request.package_arn, "source_run_id": source_run_id},
        "config": config,
        # The package's network (gtpipe_shared.incremental): Publish records it in @serving for warm starts.
        "training": {
            "image": image,
            "model_artifacts": model_data,
            "architecture": package_architecture(package),
        },
        "split": {"class_names": [str(name) for name in serving["class_names"]]},
        "evaluation": _evaluation(runs, source_run_id, package),
        "registry": {
            "package_arn": request.package_arn,
            "group_name": group,
            "approval_status": str(package.get("ModelApprovalStatus")),
            "source_run_id": source_run_id or request.run_id,
        },
        "report": {"skipped": REPORT_SKIPPED},
    }
