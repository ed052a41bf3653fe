"""The model registry commands: ``gtpipe approve RUN`` and ``gtpipe reject RUN --reason TEXT``.

Both set the run's model package's ``ModelApprovalStatus`` with UpdateModelPackage (``ApprovalDescription`` is
the reason), as the SageMaker console does. SageMaker then announces the change ("SageMaker Model Package
State Change"), and the stack's registry function answers the run waiting in WaitForApproval: Approved deploys
the model, Rejected ends the run in FailedApproval with the reason (README "Model registry").
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TextIO

from gtpipe_shared.model_registry import APPROVED, PENDING, REJECTED

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
