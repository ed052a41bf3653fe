"""The model registry commands: ``gtpipe approve RUN``, ``gtpipe reject RUN --reason TEXT`` and
``gtpipe deploy --package ARN`` (a rollback: README "Model registry and approval").

Both set the run's model package's ``ModelApprovalStatus`` with UpdateModelPackage (``ApprovalDescription`` is
the reason), as the SageMaker console does. SageMaker then announces the change ("SageMaker Model Package
State Change"), and the stack's registry function answers the run waiting in WaitForApproval: Approved deploys
the model, Rejected ends the run in FailedApproval with the reason (README "Model registry").
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TextIO

from botocore.exceptions import ClientError
from gtpipe_shared.ledger import SERVING_RUN_ID
from gtpipe_shared.model_registry import (
    APPROVED,
    PENDING,
    REJECTED,
    ROLLBACK_RUN_PREFIX,
    RegistryError,
    group_prefix,
    package_group_of_arn,
    package_run_id,
    rollback_refusal,
)

from gtpipe_cli.errors import CliError, Exit
from gtpipe_cli.progress import get_run
from gtpipe_cli.target import Target

# UpdateModelPackage's ApprovalDescription: at most 1024 characters
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html).
MAX_REASON = 1024


def registry_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Add ``approve`` and ``reject`` with ``command(name, help)`` (main's subcommand factory)."""
    sub = command(
        "approve", "approve a run's model package (gtpipe:approval manual): the waiting run deploys it"
    )
    sub.add_argument("run", help="run id (see gtpipe runs)")
    sub.add_argument("--reason", help="why (stored as the package's ApprovalDescription)")
    sub = command("reject", "reject a run's model package: the waiting run ends FAILED at step approval")
    sub.add_argument("run", help="run id (see gtpipe runs)")
    sub.add_argument("--reason", required=True, help="why (stored as ApprovalDescription; the run's failure)")
    registry_deploy_command(command)


def decide(sagemaker: Any, dynamodb: Any, table: str, run_id: str, status: str, reason: str | None) -> str:
    """Set the approval ``status`` of ``run_id``'s model package; returns the package ARN.

    CliError when the run is unknown (exit 3), has no package yet (exit 4), the reason is too long (64), or the
    package was decided already the other way (exit 1: a decided run has moved on; approve a newer run, or
    register again).
    """
    if reason is not None and not 0 < len(reason) <= MAX_REASON:
        raise CliError(f"--reason must have 1 to {MAX_REASON} characters, got {len(reason)}", Exit.USAGE)
    run = get_run(dynamodb, table, run_id)
    if run is None:
        raise CliError(f"run {run_id} is not in the runs ledger {table}", Exit.UNKNOWN_RUN)
    arn = str((run.get("model_package") or {}).get("arn") or "")
    if not arn:
        raise CliError(
            f"run {run_id} ({run.get('status')}) has no model package: a model is registered once it passes "
            "the quality gate",
            Exit.NOT_YET,
        )
    current = str(sagemaker.describe_model_package(ModelPackageName=arn).get("ModelApprovalStatus", ""))
    if current not in (PENDING, status):
        raise CliError(f"model package {arn} of run {run_id} is {current} already", Exit.RUN_FAILED)
    request: dict[str, Any] = {"ModelPackageArn": arn, "ModelApprovalStatus": status}
    if reason:
        request["ApprovalDescription"] = reason
    sagemaker.update_model_package(**request)
    return arn


def _decide_command(status: str) -> Callable[[argparse.Namespace, Target, TextIO], int]:
    def run(args: argparse.Namespace, target: Target, out: TextIO) -> int:
        arn = decide(
            target.client("sagemaker"),
            target.client("dynamodb"),
            target.runs_table,
            args.run,
            status,
            args.reason,
        )
        out.write(f"{status} {arn} (run {args.run})\n")
        return Exit.OK

    return run


cmd_approve = _decide_command(APPROVED)
cmd_reject = _decide_command(REJECTED)
REGISTRY_COMMANDS = {"approve": cmd_approve, "reject": cmd_reject}


# --- gtpipe deploy --package ARN: roll the endpoint back (or forward) to an approved version -------------

DEPLOY_POLL_SECONDS = 2.0


def registry_deploy_command(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Add ``deploy --package ARN [--timeout S] [--no-wait]``."""
    sub = command(
        "deploy",
        "deploy an approved model package version to the endpoint (blue/green, as runs deploy): a rollback",
    )
    sub.add_argument(
        "--package", required=True, help="the model package version's ARN (see gtpipe runs --json)"
    )
    sub.add_argument(
        "--timeout", type=float, default=7200.0, help="seconds to wait for the deployment (7200)"
    )
    sub.add_argument("--no-wait", action="store_true", help="start the rollback and print its id")


def stack_group_prefix(state_machine_arn: str) -> str:
    """This stack's model package group prefix, from its state machine's name (``<prefix>-pipeline``)."""
    name = state_machine_arn.rsplit(":", 1)[-1]
    return group_prefix(name.removesuffix("-pipeline"))


def check_deployable(sagemaker: Any, dynamodb: Any, table: str, arn: str, prefix: str) -> dict[str, Any]:
    """DescribeModelPackage's answer for ``arn`` when a rollback may deploy it (the rule the server checks
    again: ``rollback_refusal``); CliError otherwise: 64 not a package ARN, 8 refused, 3 unknown package."""
    try:
        group = package_group_of_arn(arn)
    except RegistryError as exc:
        raise CliError(str(exc), Exit.USAGE) from exc
    if not group.startswith(prefix):
        raise CliError(
            f"model package {arn} is in group {group!r}, not one of this stack's groups ({prefix}*)",
            Exit.DEPLOY_REFUSED,
        )
    try:
        package = dict(sagemaker.describe_model_package(ModelPackageName=arn))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
            raise CliError(f"model package {arn} does not exist", Exit.UNKNOWN_RUN) from exc
        raise
    refusal = rollback_refusal(package, prefix, get_run(dynamodb, table, SERVING_RUN_ID))
    if refusal:
        raise CliError(refusal, Exit.DEPLOY_REFUSED)
    return package


def rollback_run_id(arn: str) -> str:
    """A new rollback's execution name: ``rollback-v<version>-<12 random hex digits>`` (fits SageMaker's
    63-character model and endpoint config names with their ``-model-N`` / ``-epc-N`` suffixes)."""
    version = arn.rsplit("/", 1)[-1]
    return f"{ROLLBACK_RUN_PREFIX}v{version}-{uuid.uuid4().hex[:12]}"


def _wait(sfn: Any, execution_arn: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        execution = dict(sfn.describe_execution(executionArn=execution_arn))
        if execution.get("status") != "RUNNING" or time.monotonic() >= deadline:
            return execution
        time.sleep(DEPLOY_POLL_SECONDS)


def cmd_deploy(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    """``gtpipe deploy --package ARN``: check, start the rollback execution, wait for its outcome."""
    prefix = stack_group_prefix(target.state_machine_arn)
    dynamodb = target.client("dynamodb")
    package = check_deployable(target.client("sagemaker"), dynamodb, target.runs_table, args.package, prefix)
    run_id = rollback_run_id(args.package)
    sfn = target.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=target.state_machine_arn,
        name=run_id,
        input=json.dumps({"run_id": run_id, "rollback": {"package_arn": args.package}}),
    )
    source = package_run_id(package) or "?"
    out.write(f"rollback {run_id}: deploying {args.package} (run {source})\n")
    if args.no_wait:
        return Exit.OK
    execution = _wait(sfn, started["executionArn"], args.timeout)
    status = execution.get("status")
    if status == "RUNNING":
        out.write(f"rollback {run_id} still running after {args.timeout:g} s\n")
        return Exit.NOT_YET
    run = get_run(dynamodb, target.runs_table, run_id) or {}
    if status == "SUCCEEDED" and run.get("status") == "SUCCEEDED":
        serving = get_run(dynamodb, target.runs_table, SERVING_RUN_ID) or {}
        out.write(
            f"rolled back: {serving.get('endpoint_name')} serves {serving.get('model_package_arn')} "
            f"(run {serving.get('source_run_id')}, config {serving.get('endpoint_config_name')})\n"
        )
        return Exit.OK
    failure = run.get("failure") or {}
    raise CliError(
        f"rollback {run_id} {str(status).lower()} at {failure.get('step', '?')}: "
        f"{failure.get('error', execution.get('error', ''))}: {failure.get('cause', execution.get('cause', ''))}",
        Exit.RUN_FAILED,
    )


REGISTRY_COMMANDS["deploy"] = cmd_deploy
