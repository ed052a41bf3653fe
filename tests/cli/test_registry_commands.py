"""``gtpipe approve``/``reject``/``deploy`` arguments, and ``gtpipe follow`` saying a run waits for approval (the commands
themselves run in tests/pipeline/test_model_registry.py and tests/local_cloud/test_approval_end_to_end.py)."""

from __future__ import annotations

from pathlib import Path

from gtpipe_cli.errors import Exit
from gtpipe_cli.progress import RunProgress
from gtpipe_cli.registry_commands import rollback_run_id
from tests.cli.conftest import gtpipe

RUN_ID = "pets-0123456789abcdef"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/gtpipe-models-0123/1"


def test_a_pending_package_is_shown_with_the_commands_that_decide_it() -> None:
    # Given a run waiting for approval of its package
    run = {"run_id": RUN_ID, "model_package": {"arn": ARN, "approval_status": "PendingManualApproval"}}
    progress = RunProgress(RUN_ID, "RUNNING", "RUNNING", "WaitForApproval", run=run)
    # Then its progress line names the package and how to decide it
    assert progress.jobs() == f"package={ARN} awaits approval: gtpipe approve|reject {RUN_ID}"


def test_an_approved_package_adds_nothing() -> None:
    run = {"run_id": RUN_ID, "model_package": {"arn": ARN, "approval_status": "Approved"}}
    assert RunProgress(RUN_ID, "RUNNING", "RUNNING", "DeployEndpoint", run=run).jobs() == ""


def test_reject_needs_a_reason(tmp_path: Path) -> None:
    # Given no --reason / When rejecting / Then a usage error naming it, before any target is resolved
    result = gtpipe("reject", RUN_ID, "--local", "--state-dir", str(tmp_path))
    assert result.code == Exit.USAGE
    assert "--reason" in result.err


def test_approve_reaches_the_target(tmp_path: Path) -> None:
    # No outputs.json there: the error proves the arguments parsed and the target was resolved
    result = gtpipe("approve", RUN_ID, "--local", "--state-dir", str(tmp_path))
    assert result.code == Exit.INPUT_MISSING


def test_deploy_needs_a_package(tmp_path: Path) -> None:
    # Given no --package / When deploying / Then a usage error naming it, before any target is resolved
    result = gtpipe("deploy", "--local", "--state-dir", str(tmp_path))
    assert result.code == Exit.USAGE
    assert "--package" in result.err


def test_deploy_reaches_the_target(tmp_path: Path) -> None:
    # No outputs.json there: the error proves the arguments parsed and the target was resolved
    result = gtpipe("deploy", "--package", ARN, "--local", "--state-dir", str(tmp_path))
    assert result.code == Exit.INPUT_MISSING


def test_a_rollback_run_id_names_the_version_and_fits_sagemakers_names() -> None:
    # Given a package version / Then its rollback's id carries the version, and the model and endpoint config
    # names the state machine derives from it ("<run>-model-N", "<run>-epc-N") stay within 63 characters
    run_id = rollback_run_id(ARN.rsplit("/", 1)[0] + "/123456")
    assert run_id.startswith("rollback-v123456-")
    assert len(f"{run_id}-model-99") <= 63
    assert rollback_run_id(ARN) != rollback_run_id(ARN)
