"""Issue 14, IAM enforced on the real synthesized template: one permission statement removed from a real role or
queue policy fails the principal's real call with AWS's answer, and the unmodified template allows the same call.

Each test deploys the test assembly twice (edited, then as synthesized; ~10 s each) and acts as the principal
the cheapest way that is still the real path: the deployed function invoked through the local Lambda runtime,
a training job run with the deployed SageMaker role, an S3 upload that EventBridge routes to the deployed rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gtpipe_shared.model_registry import group_name, group_prefix

from local.cloud import LocalCloud
from tests.fidelity.iam_support import finished_training_job
from tests.fidelity.synthesized_cloud import (
    actions,
    deployed,
    edited_assembly,
    function_named,
    pipeline_assembly,
    role_name,
    without_queue_statement,
    without_resource,
    without_role_statement,
)

DENIED = (
    "User: arn:aws:sts::{account}:assumed-role/{role}/{session} is not authorized to perform: {action} on "
    "resource: {resource} because no identity-based policy allows the {action} action"
)


@pytest.fixture(scope="module")
def assembly() -> Path:
    return pipeline_assembly()


def deploy_request() -> str:
    return json.dumps(
        {
            "action": "deploy",
            "task_token": "token-1",
            "run_id": "run-1",
            "endpoint_name": "gtpipe-endpoint",
            "endpoint_config_name": "gtpipe-config-run-1",
        }
    )


def test_the_endpoint_function_without_its_endpoint_statement_cannot_create_the_endpoint(
    assembly: Path, tmp_path: Path
) -> None:
    # Given the synthesized app whose endpoint function role lacks ManageServingEndpoint (CreateEndpoint...)
    edit = without_role_statement(
        "PipelineEndpointFunctionRole", lambda s: s.get("Sid") == "ManageServingEndpoint"
    )
    edited = edited_assembly(assembly, tmp_path / "edited", edit)
    with deployed(edited, tmp_path / "denied") as cloud:
        spec = function_named(cloud, "PipelineEndpointFunction")
        # When the deployed function is invoked to deploy the endpoint
        response = cloud.registry.invoke(spec.name, deploy_request())
        # Then SageMaker refuses CreateEndpoint for the function's role with AWS's text
        expected = DENIED.format(
            account=cloud.environment.account_id,
            role=role_name(cloud, "PipelineEndpointFunctionRole"),
            session=spec.name,
            action="sagemaker:CreateEndpoint",
            resource=f"arn:aws:sagemaker:{cloud.environment.region}:{cloud.environment.account_id}:endpoint/gtpipe-endpoint",
        )
        assert response.get("FunctionError"), response
        assert "AccessDeniedException" in json.dumps(response["Payload"])
        assert expected in response["Payload"]["errorMessage"]
    # And with the synthesized template the same call passes authorization (SageMaker's own validation answers)
    with deployed(assembly, tmp_path / "allowed") as cloud:
        response = cloud.registry.invoke(
            function_named(cloud, "PipelineEndpointFunction").name, deploy_request()
        )
        assert "AccessDenied" not in json.dumps(response["Payload"]), response
        assert "Could not find endpoint configuration" in json.dumps(response["Payload"]), response


def run_training_job(cloud: LocalCloud, name: str) -> dict[str, Any]:
    """A training job on a channel under splits/ of the data bucket, run with the deployed SageMaker role."""
    bucket = str(cloud.outputs["DataBucketName"])
    source = f"s3://{bucket}/images/missing.png"
    cloud.client("s3").put_object(
        Bucket=bucket,
        Key="splits/run-1/train.manifest",
        Body=json.dumps({"source-ref": source, "category": 0}),
    )
    (role,) = [a for n, a in cloud.iam.role_arns.items() if n.startswith("PipelineSageMakerExecutionRole")]
    channel = {
        "ChannelName": "train",
        "InputMode": "Pipe",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "AugmentedManifestFile",
                "S3Uri": f"s3://{bucket}/splits/run-1/train.manifest",
                "S3DataDistributionType": "FullyReplicated",
                "AttributeNames": ["source-ref", "category"],
            }
        },
    }
    return finished_training_job(cloud, name, role, channel, f"s3://{bucket}/models/")


def test_a_sagemaker_role_without_the_data_key_cannot_read_the_training_split(
    assembly: Path, tmp_path: Path
) -> None:
    # Given the synthesized app whose SageMaker execution role lacks UseDataKey (the bucket is SSE-KMS)
    edit = without_role_statement("PipelineSageMakerExecutionRole", lambda s: s.get("Sid") == "UseDataKey")
    with deployed(edited_assembly(assembly, tmp_path / "edited", edit), tmp_path / "denied") as cloud:
        # When a training job reads its split with that role
        job = run_training_job(cloud, "no-key")
        # Then S3 refuses the split with AccessDenied: KMS Decrypt is not allowed to the role
        assert job["TrainingJobStatus"] == "Failed"
        assert job["FailureReason"].startswith("ClientError: Data download failed"), job["FailureReason"]
        assert "AccessDenied" in job["FailureReason"]
        assert "is not authorized to perform: kms:Decrypt" in job["FailureReason"]
        assert "assumed-role/PipelineSageMakerExecutionRole" in job["FailureReason"]
    # And with the synthesized template the split is read (the job fails later, on the missing image)
    with deployed(assembly, tmp_path / "allowed") as cloud:
        job = run_training_job(cloud, "with-key")
        assert "AccessDenied" not in str(job.get("FailureReason")), job
        assert "missing.png" in str(job.get("FailureReason")), job


def fail_asynchronously(cloud: LocalCloud, logical_prefix: str) -> Any:
    """Invoke the deployed function with an event it rejects, asynchronously; the finished record."""
    assert cloud.invoker is not None
    spec = function_named(cloud, logical_prefix)
    cloud.invoker.invoke_async(spec.name, {"not": "an S3 event"})
    assert cloud.invoker.wait_idle(60)
    (record,) = [r for r in cloud.invoker.records if r.function_name == spec.name]
    return record


def dead_letters(cloud: LocalCloud, queue_prefix: str) -> list[dict[str, Any]]:
    sqs = cloud.client("sqs")
    (url,) = [u for u in sqs.list_queues()["QueueUrls"] if queue_prefix in u]
    return list(
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", []
        )
    )


def test_a_function_role_without_send_message_loses_its_dead_letters(assembly: Path, tmp_path: Path) -> None:
    # Given the synthesized app whose start-run function role may not send to its dead-letter queue
    edit = without_role_statement("PipelineStartRunFunctionRole", lambda s: "sqs:SendMessage" in actions(s))
    with deployed(edited_assembly(assembly, tmp_path / "edited", edit), tmp_path / "denied") as cloud:
        # When an asynchronous invocation fails every attempt
        record = fail_asynchronously(cloud, "PipelineStartRunFunction")
        # Then Lambda cannot send the event to the DLQ with the function's role (DeadLetterErrors) and it is lost
        assert record.outcome == "dead-letter-failed"
        assert (
            "is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:"
            in record.dead_letter_error
        )
        assert "assumed-role/PipelineStartRunFunctionRole" in record.dead_letter_error
        assert dead_letters(cloud, "PipelineStartRunFunctionDeadLetterQueue") == []
    # And with the synthesized template the event reaches the encrypted DLQ
    with deployed(assembly, tmp_path / "allowed") as cloud:
        record = fail_asynchronously(cloud, "PipelineStartRunFunction")
        assert record.outcome == "function-error-dead-lettered", record
        (message,) = dead_letters(cloud, "PipelineStartRunFunctionDeadLetterQueue")
        assert json.loads(message["Body"]) == {"not": "an S3 event"}


def drop_manifest(cloud: LocalCloud) -> list[dict[str, Any]]:
    """Upload a manifest under incoming/ (S3 -> EventBridge -> the manifest rule); the undeliverable events."""
    assert cloud.events is not None
    cloud.client("s3").put_object(
        Bucket=str(cloud.outputs["DataBucketName"]),
        Key="incoming/a.manifest",
        Body=b'{"source-ref": "s3://b/k"}\n',
    )
    assert cloud.events.wait_idle(30)
    return list(cloud.events.dead_letters)


NO_INVOKE_PERMISSION = without_resource(
    "PipelineManifestDroppedRuleAllowEventRule", "AWS::Lambda::Permission"
)


def test_a_rule_dead_letter_queue_whose_policy_does_not_allow_eventbridge_loses_the_event(
    assembly: Path, tmp_path: Path
) -> None:
    # Given the synthesized app where the manifest rule may not invoke start-run (so events go to the rule's
    # DLQ) and the DLQ's policy lacks the statement allowing events.amazonaws.com for that rule
    edit = without_queue_statement(
        "PipelineRuleDeadLetterQueuePolicy", lambda s: "ManifestDroppedRule" in str(s.get("Sid"))
    )
    edited = edited_assembly(assembly, tmp_path / "edited", NO_INVOKE_PERMISSION, edit)
    with deployed(edited, tmp_path / "denied") as cloud:
        # When a manifest is dropped
        (undeliverable,) = drop_manifest(cloud)
        # Then EventBridge cannot send the event to the DLQ (InvocationsFailedToBeSentToDLQ): it is lost
        assert undeliverable["error_code"] == "NO_PERMISSIONS"
        assert (
            "events.amazonaws.com is not authorized to perform: sqs:SendMessage"
            in undeliverable["dead_letter_error"]
        )
        assert dead_letters(cloud, "PipelineRuleDeadLetterQueue") == []
    # And with the synthesized queue policy the same undeliverable event reaches the encrypted DLQ
    with deployed(
        edited_assembly(assembly, tmp_path / "baseline", NO_INVOKE_PERMISSION), tmp_path / "ok"
    ) as cloud:
        (undeliverable,) = drop_manifest(cloud)
        assert "dead_letter_error" not in undeliverable
        (message,) = dead_letters(cloud, "PipelineRuleDeadLetterQueue")
        assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "NO_PERMISSIONS"


def register_request() -> str:
    """RegisterModel's payload for a run that passed the gate (the run's state as the definition passes it)."""
    return json.dumps(
        {
            "action": "register",
            "run_id": "run-1",
            "approval": "manual",
            "state": {
                "run_id": "run-1",
                "config": {"task_type": "image-classification"},
                "split": {"class_names": ["cat", "dog"]},
                "training": {"image": "img:1", "model_artifacts": "s3://b/models/run-1/output/model.tar.gz"},
                "evaluation": {"metrics_uri": "s3://b/runs/run-1/metrics.json"},
            },
        }
    )


def test_the_registry_function_without_its_package_statement_cannot_register_the_model(
    assembly: Path, tmp_path: Path
) -> None:
    # Given the synthesized app whose registry function role lacks ModelPackages (CreateModelPackage...)
    edit = without_role_statement("PipelineRegistryFunctionRole", lambda s: s.get("Sid") == "ModelPackages")
    edited = edited_assembly(assembly, tmp_path / "edited", edit)
    with deployed(edited, tmp_path / "denied") as cloud:
        spec = function_named(cloud, "PipelineRegistryFunction")
        # When the deployed function registers a model (its group is created: that statement is intact)
        response = cloud.registry.invoke(spec.name, register_request())
        # Then SageMaker refuses CreateModelPackage in the group for the function's role with AWS's text
        env = cloud.environment
        group = group_name(group_prefix("Gtpipe"), "image-classification", ["cat", "dog"])
        expected = DENIED.format(
            account=env.account_id,
            role=role_name(cloud, "PipelineRegistryFunctionRole"),
            session=spec.name,
            action="sagemaker:CreateModelPackage",
            resource=f"arn:aws:sagemaker:{env.region}:{env.account_id}:model-package-group/{group}",
        )
        assert response.get("FunctionError"), response
        assert expected in response["Payload"]["errorMessage"], response
    # And with the synthesized template the same call registers a pending package
    with deployed(assembly, tmp_path / "allowed") as cloud:
        response = cloud.registry.invoke(
            function_named(cloud, "PipelineRegistryFunction").name, register_request()
        )
        assert not response.get("FunctionError"), response
        assert response["Payload"]["approval_status"] == "PendingManualApproval"
        assert response["Payload"]["package_arn"].endswith("/1")


def prepare_rollback_request(package_arn: str) -> str:
    """PrepareRollback's payload (gtpipe deploy --package): the rollback execution's first state."""
    return json.dumps(
        {"action": "prepare_rollback", "run_id": "rollback-v1-0123456789ab", "package_arn": package_arn}
    )


def test_the_registry_function_without_its_package_statement_cannot_prepare_a_rollback(
    assembly: Path, tmp_path: Path
) -> None:
    # Given the synthesized app whose registry function role lacks ModelPackages (DescribeModelPackage...)
    edit = without_role_statement("PipelineRegistryFunctionRole", lambda s: s.get("Sid") == "ModelPackages")
    edited = edited_assembly(assembly, tmp_path / "edited", edit)
    group = group_name(group_prefix("Gtpipe"), "image-classification", ["cat", "dog"])
    with deployed(edited, tmp_path / "denied") as cloud:
        env = cloud.environment
        arn = f"arn:aws:sagemaker:{env.region}:{env.account_id}:model-package/{group}/1"
        spec = function_named(cloud, "PipelineRegistryFunction")
        # When the deployed function prepares a rollback to a package of this stack's groups
        response = cloud.registry.invoke(spec.name, prepare_rollback_request(arn))
        # Then SageMaker refuses DescribeModelPackage for the function's role with AWS's text
        expected = DENIED.format(
            account=env.account_id,
            role=role_name(cloud, "PipelineRegistryFunctionRole"),
            session=spec.name,
            action="sagemaker:DescribeModelPackage",
            resource=arn,
        )
        assert response.get("FunctionError"), response
        assert expected in response["Payload"]["errorMessage"], response
    # And with the synthesized template the same call is authorized: the package is unknown, so refused
    with deployed(assembly, tmp_path / "allowed") as cloud:
        env = cloud.environment
        arn = f"arn:aws:sagemaker:{env.region}:{env.account_id}:model-package/{group}/1"
        response = cloud.registry.invoke(
            function_named(cloud, "PipelineRegistryFunction").name, prepare_rollback_request(arn)
        )
        assert response.get("FunctionError"), response
        assert response["Payload"]["errorType"] == "RollbackRefused", response
        assert "does not exist" in response["Payload"]["errorMessage"], response
