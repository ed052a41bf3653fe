"""``gtpipe deploy --package ARN`` in the executed definition: a rollback execution enters at ChooseLabeling's
first choice, the real registry function prepares it (and refuses what may not be deployed), and the run's own
deployment states deploy the package's model; Publish points ``@serving`` at the package's run.

The CLI's checks (``check_deployable``) are its own functions, against the harness's local SageMaker.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from gtpipe_shared.model_registry import group_name

from gtpipe_cli.errors import CliError, Exit
from gtpipe_cli.registry_commands import check_deployable, rollback_run_id, stack_group_prefix
from tests.pipeline.harness import REGION, RUNS_TABLE, Pipeline, augmented_manifest
from tests.pipeline.harness import pipeline as pipeline  # fixture
from tests.pipeline.harness import pipeline_config as pipeline_config  # fixture
from tests.pipeline.registry_support import GROUP_PREFIX, LocalSageMakerClient

DEPLOY_PATH = [
    "ChooseLabeling",
    "PrepareRollback",
    "CreateRollbackModel",
    "CreateEndpointConfig",
    "DeployEndpoint",
    "VerifyEndpoint",
    "Publish",
    "ReleaseEndpoint",
    "ChooseSuccessReport",
    "RecordSuccess",
    "Deployed",
]


def start_rollback(pipeline: Pipeline, arn: str) -> str:
    run_id = rollback_run_id(arn)
    pipeline.sfn.start_execution(
        stateMachineArn=pipeline.state_machine_arn,
        name=run_id,
        input=json.dumps({"run_id": run_id, "rollback": {"package_arn": arn}}),
    )
    return run_id


def two_runs(pipeline: Pipeline) -> tuple[str, str]:
    first = pipeline.drop("incoming/first.manifest", augmented_manifest())["run_id"]
    assert pipeline.wait(first)[0]["status"] == "SUCCEEDED"
    second = pipeline.drop("incoming/second.manifest", augmented_manifest())["run_id"]
    assert pipeline.wait(second)[0]["status"] == "SUCCEEDED"
    return first, second


def package_arn(pipeline: Pipeline, run_id: str) -> str:
    return str(pipeline.ledger(run_id)["model_package"]["arn"])


def cli_check(pipeline: Pipeline, arn: str) -> dict[str, Any]:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    sagemaker = LocalSageMakerClient(pipeline.sagemaker)
    return check_deployable(sagemaker, dynamodb, RUNS_TABLE, arn, GROUP_PREFIX)


def test_the_stack_group_prefix_comes_from_the_state_machine_name() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:Gtpipe-pipeline"
    assert stack_group_prefix(arn) == GROUP_PREFIX


def test_deploying_the_first_version_rolls_the_endpoint_back_to_its_model(pipeline: Pipeline) -> None:
    # Given two runs of one label set: v1, then v2 serving
    first, second = two_runs(pipeline)
    assert pipeline.ledger("@serving")["source_run_id"] == second
    v1 = package_arn(pipeline, first)
    assert cli_check(pipeline, v1)["ModelApprovalStatus"] == "Approved"
    # When v1 is deployed
    rollback = start_rollback(pipeline, v1)
    described, entered = pipeline.wait(rollback)
    # Then the rollback went through the run's deployment states, with the endpoint lock and blue/green
    assert described["status"] == "SUCCEEDED", described
    assert entered == DEPLOY_PATH
    deploys = [e for e in pipeline.doubles.called("endpoint") if e["action"] == "deploy"]
    assert deploys[-1]["run_id"] == rollback
    assert deploys[-1]["execution_arn"].endswith(f":{rollback}")
    # and the endpoint config it deployed serves a model made from v1's container
    config_name = deploys[-1]["endpoint_config_name"]
    endpoint_config = pipeline.sagemaker.describe_endpoint_config({"EndpointConfigName": config_name})
    model_name = endpoint_config["ProductionVariants"][0]["ModelName"]
    model = pipeline.sagemaker.describe_model({"ModelName": model_name})
    v1_package = pipeline.sagemaker.describe_model_package({"ModelPackageName": v1})
    container = v1_package["InferenceSpecification"]["Containers"][0]
    assert model["PrimaryContainer"]["ModelDataUrl"] == container["ModelDataUrl"]
    # and @serving says v1's run and package serve, deployed by the rollback
    serving = pipeline.ledger("@serving")
    assert serving["source_run_id"] == first
    assert serving["model_package_arn"] == v1
    assert serving["deployed_by_run_id"] == rollback
    assert serving["endpoint_config_name"] == config_name
    # and the ledger records the rollback: what it deployed and what it replaced
    item = pipeline.ledger(rollback)
    assert item["status"] == "SUCCEEDED"
    assert item["manifest_kind"] == "rollback"
    assert item["rollback"]["package_arn"] == v1
    assert item["rollback"]["source_run_id"] == first
    assert item["rollback"]["replaced"]["source_run_id"] == second
    # and it was notified
    notified = [n for n in pipeline.notifications() if n["run_id"] == rollback]
    assert [(n["status"], n["rollback"]["package_arn"]) for n in notified] == [("SUCCEEDED", v1)]


def refused(pipeline: Pipeline, arn: str) -> tuple[CliError, dict[str, Any], list[str]]:
    """The CLI's refusal, and the server's: a rollback execution started anyway ends FAILED at rollback."""
    with pytest.raises(CliError) as cli:
        cli_check(pipeline, arn)
    run_id = start_rollback(pipeline, arn)
    described, entered = pipeline.wait(run_id)
    assert described["status"] == "FAILED"
    assert "CreateRollbackModel" not in entered
    return cli.value, pipeline.ledger(run_id), entered


def test_a_package_that_is_not_approved_is_refused(pipeline: Pipeline) -> None:
    # Given v1 rejected after the fact, v2 serving
    first, second = two_runs(pipeline)
    v1 = package_arn(pipeline, first)
    pipeline.sagemaker.update_model_package({"ModelPackageArn": v1, "ModelApprovalStatus": "Rejected"})
    # When deploying v1 / Then both the CLI and the execution refuse, naming the status; v2 keeps serving
    error, item, _ = refused(pipeline, v1)
    assert error.code == Exit.DEPLOY_REFUSED
    assert "Rejected" in str(error)
    assert item["failure"]["step"] == "rollback"
    assert item["failure"]["error"] == "RollbackRefused"
    assert "Rejected" in item["failure"]["cause"]
    assert pipeline.ledger("@serving")["source_run_id"] == second


def test_a_package_of_another_label_set_is_refused(pipeline: Pipeline) -> None:
    # Given v2 serving and an approved package in this stack's group of another label set
    first, _ = two_runs(pipeline)
    other_group = group_name(GROUP_PREFIX, "image-classification", ["cat", "dog"])
    pipeline.sagemaker.create_model_package_group({"ModelPackageGroupName": other_group})
    v1 = pipeline.sagemaker.describe_model_package({"ModelPackageName": package_arn(pipeline, first)})
    other = pipeline.sagemaker.create_model_package(
        {
            "ModelPackageGroupName": other_group,
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": v1["InferenceSpecification"],
        }
    )["ModelPackageArn"]
    # When deploying it / Then refused, naming the label sets
    error, item, _ = refused(pipeline, other)
    assert error.code == Exit.DEPLOY_REFUSED
    assert "another label set" in str(error)
    assert "another label set" in item["failure"]["cause"]


def test_a_package_of_another_stacks_group_is_refused_before_any_call(pipeline: Pipeline) -> None:
    # Given a package ARN in a group outside this stack's prefix
    two_runs(pipeline)
    foreign = "arn:aws:sagemaker:us-east-1:123456789012:model-package/other-models-0123/1"
    # Then refused by name (the function's role may not even describe it)
    error, item, _ = refused(pipeline, foreign)
    assert error.code == Exit.DEPLOY_REFUSED
    assert "not one of this stack's groups" in item["failure"]["cause"]


def test_a_malformed_arn_is_a_usage_error_and_nothing_serving_is_refused(pipeline: Pipeline) -> None:
    # Given nothing deployed yet
    with pytest.raises(CliError) as malformed:
        cli_check(pipeline, "not-an-arn")
    assert malformed.value.code == Exit.USAGE
    pipeline.sagemaker.create_model_package_group({"ModelPackageGroupName": f"{GROUP_PREFIX}0123"})
    arn = pipeline.sagemaker.create_model_package(
        {
            "ModelPackageGroupName": f"{GROUP_PREFIX}0123",
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {"Containers": [{"Image": "i", "ModelDataUrl": "s3://b/m.tar.gz"}]},
        }
    )["ModelPackageArn"]
    error, item, _ = refused(pipeline, arn)
    assert error.code == Exit.DEPLOY_REFUSED
    assert "nothing is serving" in item["failure"]["cause"]
