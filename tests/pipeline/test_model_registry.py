"""The model registry in the executed definition: a package per model that passed the gate, manual approval.

The registry function is the real handler on the harness's local SageMaker, whose model package state-change
events reach it as the stack's rule delivers them (tests/pipeline/registry_support.py); ``gtpipe approve`` and
``gtpipe reject`` are the CLI's own function.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from gtpipe_shared.model_registry import group_name

from gtpipe_cli.errors import CliError, Exit
from gtpipe_cli.registry_commands import decide
from tests.pipeline.harness import REGION, RUNS_TABLE, Pipeline, augmented_manifest
from tests.pipeline.harness import pipeline as pipeline  # fixture
from tests.pipeline.harness import pipeline_config as pipeline_config  # fixture
from tests.pipeline.registry_support import GROUP_PREFIX, LocalSageMakerClient


def entered_states(pipeline: Pipeline, run_id: str) -> list[str]:
    arn = f"{pipeline.state_machine_arn.replace(':stateMachine:', ':execution:')}:{run_id}"
    history = pipeline.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]


def wait_for_state(pipeline: Pipeline, run_id: str, state: str, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while state not in (entered := entered_states(pipeline, run_id)):
        assert time.monotonic() < deadline, f"{state} not entered: {entered}"
        time.sleep(0.02)
    return entered


def package(pipeline: Pipeline, run_id: str) -> dict[str, Any]:
    arn = pipeline.ledger(run_id)["model_package"]["arn"]
    return dict(pipeline.sagemaker.describe_model_package({"ModelPackageName": arn}))


def deploy_calls(pipeline: Pipeline) -> list[dict[str, Any]]:
    return [event for event in pipeline.doubles.called("endpoint") if event["action"] == "deploy"]


def cli_decide(pipeline: Pipeline, run_id: str, status: str, reason: str | None) -> str:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    return decide(LocalSageMakerClient(pipeline.sagemaker), dynamodb, RUNS_TABLE, run_id, status, reason)


def test_auto_approval_registers_an_approved_package_with_the_runs_facts_and_deploys(
    pipeline: Pipeline,
) -> None:
    # Given gtpipe:approval auto (the default) and a labeled manifest
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    run_id = started["run_id"]
    described, entered = pipeline.wait(run_id)
    # Then the run registers its model and deploys it without waiting
    assert described["status"] == "SUCCEEDED"
    gate = entered.index("QualityGate")
    assert entered[gate : gate + 6] == [
        "QualityGate",
        "FindChampion",
        "HasChampion",
        "RegisterModel",
        "ChooseApproval",
        "CreateEndpointConfig",
    ]
    assert pipeline.ledger("@serving")["source_run_id"] == run_id
    # and the package is Approved, in the group of the run's label set, with the run's facts
    registered = package(pipeline, run_id)
    classes = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert registered["ModelPackageGroupName"] == group_name(GROUP_PREFIX, "image-classification", classes)
    assert registered["ModelApprovalStatus"] == "Approved"
    ledger_item = pipeline.ledger(run_id)
    assert ledger_item["model_package"]["approval_status"] == "Approved"
    metadata = registered["CustomerMetadataProperties"]
    assert metadata["gtpipe:run-id"] == run_id
    assert metadata["gtpipe:manifest-version"] == ledger_item["input_version_id"]
    assert metadata["gtpipe:metric-name"] == "accuracy"
    assert float(metadata["gtpipe:metric-value"]) == pytest.approx(0.93)
    assert "gtpipe:split-validation-ratio" in metadata
    statistics = registered["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["S3Uri"].endswith("metrics.json")
    container = registered["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"].endswith("model.tar.gz")


def test_runs_of_one_label_set_are_versions_of_one_group(pipeline: Pipeline) -> None:
    # Given two runs of the same label set
    first = pipeline.drop("incoming/first.manifest", augmented_manifest())["run_id"]
    assert pipeline.wait(first)[0]["status"] == "SUCCEEDED"
    second = pipeline.drop("incoming/second.manifest", augmented_manifest())["run_id"]
    assert pipeline.wait(second)[0]["status"] == "SUCCEEDED"
    # Then their packages are versions 1 and 2 of one group
    one, two = package(pipeline, first), package(pipeline, second)
    assert one["ModelPackageGroupName"] == two["ModelPackageGroupName"]
    assert (one["ModelPackageVersion"], two["ModelPackageVersion"]) == (1, 2)


def test_manual_approval_waits_until_gtpipe_approve_then_deploys(pipeline: Pipeline) -> None:
    # Given gtpipe:approval manual
    pipeline.configure_registry(approval="manual")
    run_id = pipeline.drop("incoming/labeled.manifest", augmented_manifest())["run_id"]
    # When the model passed the gate
    wait_for_state(pipeline, run_id, "WaitForApproval")
    # Then the run waits with a pending package and has deployed nothing
    assert (
        pipeline.sfn.describe_execution(
            executionArn=f"{pipeline.state_machine_arn.replace(':stateMachine:', ':execution:')}:{run_id}"
        )["status"]
        == "RUNNING"
    )
    assert package(pipeline, run_id)["ModelApprovalStatus"] == "PendingManualApproval"
    assert deploy_calls(pipeline) == []
    assert pipeline.ledger("@serving") == {}
    # When someone runs gtpipe approve RUN
    arn = cli_decide(pipeline, run_id, "Approved", "checked the confusion matrix")
    # Then the run deploys that model
    described, entered = pipeline.wait(run_id)
    assert described["status"] == "SUCCEEDED", entered
    assert entered[entered.index("WaitForApproval") + 1] == "CreateEndpointConfig"
    assert pipeline.ledger("@serving")["source_run_id"] == run_id
    recorded = pipeline.ledger(run_id)["model_package"]
    assert recorded["arn"] == arn and recorded["approval_status"] == "Approved"
    assert recorded["approval_description"] == "checked the confusion matrix"


def test_manual_rejection_by_gtpipe_reject_fails_the_run_with_the_reason_and_deploys_nothing(
    pipeline: Pipeline,
) -> None:
    # Given a run waiting for approval
    pipeline.configure_registry(approval="manual")
    run_id = pipeline.drop("incoming/labeled.manifest", augmented_manifest())["run_id"]
    wait_for_state(pipeline, run_id, "WaitForApproval")
    # When someone runs gtpipe reject RUN --reason
    cli_decide(pipeline, run_id, "Rejected", "dogs labeled as cats")
    # Then the run fails at step approval with the reason, notified, and nothing is deployed
    described, entered = pipeline.wait(run_id)
    assert described["status"] == "FAILED"
    assert entered[entered.index("WaitForApproval") :][:2] == ["WaitForApproval", "FailedApproval"]
    failure = pipeline.ledger(run_id)["failure"]
    assert (failure["step"], failure["error"]) == ("approval", "ModelRejected")
    assert "dogs labeled as cats" in failure["cause"]
    assert [(n["status"], n["step"]) for n in pipeline.notifications()] == [("FAILED", "approval")]
    assert deploy_calls(pipeline) == []
    assert not [call for call in pipeline.sagemaker.calls if call[0] == "CreateEndpointConfig"]
    assert pipeline.ledger("@serving") == {}


def test_no_decision_within_the_approval_timeout_fails_the_run(pipeline: Pipeline) -> None:
    # Given manual approval with a one-second timeout (the heartbeat of WaitForApproval) and nobody deciding
    pipeline.configure_registry(approval="manual", timeout_seconds=1)
    run_id = pipeline.drop("incoming/labeled.manifest", augmented_manifest())["run_id"]
    # Then the run fails at step approval, having deployed nothing
    described, entered = pipeline.wait(run_id)
    assert described["status"] == "FAILED"
    assert "FailedApproval" in entered
    # States.Timeout: "ran longer than TimeoutSeconds, or failed to send a heartbeat for longer than
    # HeartbeatSeconds" (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)
    assert pipeline.ledger(run_id)["failure"]["error"] == "States.Timeout"
    assert deploy_calls(pipeline) == []


def test_gtpipe_approve_refuses_unknown_runs_runs_without_a_package_and_decided_packages(
    pipeline: Pipeline,
) -> None:
    # Given no such run / When approving / Then exit 3
    with pytest.raises(CliError) as unknown:
        cli_decide(pipeline, "nope-0123456789abcdef", "Approved", None)
    assert unknown.value.code == Exit.UNKNOWN_RUN
    # Given a run whose package was approved automatically / When rejecting it / Then exit 1, nothing changes
    run_id = pipeline.drop("incoming/labeled.manifest", augmented_manifest())["run_id"]
    assert pipeline.wait(run_id)[0]["status"] == "SUCCEEDED"
    with pytest.raises(CliError) as decided:
        cli_decide(pipeline, run_id, "Rejected", "too late")
    assert decided.value.code == Exit.RUN_FAILED and "Approved already" in decided.value.message
    assert package(pipeline, run_id)["ModelApprovalStatus"] == "Approved"
    # and a reason longer than UpdateModelPackage allows is a usage error
    with pytest.raises(CliError) as long_reason:
        cli_decide(pipeline, run_id, "Approved", "x" * 1025)
    assert long_reason.value.code == Exit.USAGE
