"""Idle parking's grants, enforced on the synthesized template (gtpipe:endpoint.idleMinutes on): without its
statement the deployed parker cannot read ``@serving``, and the deployed predict cannot wake a parked endpoint;
with the template as synthesized both pass authorization. (The parker's DeleteEndpoint with IAM enforced is
exercised by tests/local_cloud/test_idle_end_to_end.py.)

Each test deploys the idle test assembly twice (edited, then as synthesized) and invokes the deployed function
through the local Lambda runtime, acting with its execution role.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from gtpipe_shared import ledger

from local.synth import synthesize
from tests.fidelity.synthesized_cloud import (
    deployed,
    edited_assembly,
    function_named,
    role_name,
    without_role_statement,
)
from tests.local_cloud.conftest import ROOT
from tests.local_cloud.test_idle_end_to_end import idle_context

ENDPOINT = "gtpipe-endpoint"
CONFIG = "idle-iam-epc-0"
EVENTS = ROOT / "tests" / "events"


@pytest.fixture(scope="module")
def assembly() -> Path:
    return synthesize(ROOT / ".local" / "cdk.out-idle", idle_context())


def put_serving(cloud: Any, **changes: Any) -> None:
    item = ledger.serving_item(
        endpoint_name=ENDPOINT,
        endpoint_config_name=CONFIG,
        model_name="idle-iam-model",
        class_names=["a", "b"],
        source_run_id="idle-iam",
        metrics=None,
        task_type="image-classification",
        now=ledger.now_iso(),
    )
    serializer = TypeSerializer()
    cloud.client("dynamodb").put_item(
        TableName=cloud.outputs["RunsTableName"],
        Item={k: serializer.serialize(v) for k, v in ledger.to_dynamo({**item, **changes}).items()},
    )


def invoke(cloud: Any, logical_prefix: str, event: dict[str, Any]) -> dict[str, Any]:
    return dict(cloud.registry.invoke(function_named(cloud, logical_prefix).name, json.dumps(event)))


def test_the_parker_without_its_serving_record_statement_cannot_read_it(
    assembly: Path, tmp_path: Path
) -> None:
    # Given the idle parker's role without ServingRecord (GetItem/UpdateItem on the runs table)
    edit = without_role_statement("IdleIdleFunctionRole", lambda s: s.get("Sid") == "ServingRecord")
    with deployed(edited_assembly(assembly, tmp_path / "edited", edit), tmp_path / "denied") as cloud:
        put_serving(cloud)
        # When the schedule's event reaches it
        response = invoke(
            cloud, "IdleIdleFunction", {"source": "aws.events", "detail-type": "Scheduled Event"}
        )
        # Then DynamoDB refuses GetItem of @serving for its role with AWS's text
        assert response.get("FunctionError"), response
        message = response["Payload"]["errorMessage"]
        assert "is not authorized to perform: dynamodb:GetItem" in message
        assert role_name(cloud, "IdleIdleFunctionRole") in message
    # And as synthesized the same check runs: no endpoint, nothing to park
    with deployed(assembly, tmp_path / "allowed") as cloud:
        put_serving(cloud)
        response = invoke(
            cloud, "IdleIdleFunction", {"source": "aws.events", "detail-type": "Scheduled Event"}
        )
        assert response["Payload"] == {
            "parked": False,
            "reason": "the endpoint does not exist",
            "endpoint_name": ENDPOINT,
        }, response


def parked_prediction(cloud: Any) -> dict[str, Any]:
    """A prediction while @serving is parked on CONFIG (a config and model that exist)."""
    sagemaker = cloud.client("sagemaker")
    (role,) = [a for n, a in cloud.iam.role_arns.items() if n.startswith("PipelineSageMakerExecutionRole")]
    bucket = cloud.outputs["DataBucketName"]
    cloud.client("s3").put_object(Bucket=bucket, Key="models/none/model.tar.gz", Body=b"not a model")
    sagemaker.create_model(
        ModelName="idle-iam-model",
        PrimaryContainer={"Image": "local/none", "ModelDataUrl": f"s3://{bucket}/models/none/model.tar.gz"},
        ExecutionRoleArn=role,
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=CONFIG,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "idle-iam-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    put_serving(cloud, idle_state="parked", parked_endpoint_config_name=CONFIG, parked_at=ledger.now_iso())
    event = json.loads((EVENTS / "apigw_predict.json").read_text())
    response = invoke(cloud, "ServingPredictFunction", event)
    assert not response.get("FunctionError"), response
    return dict(response["Payload"])


def test_predict_without_its_wake_statement_cannot_wake_the_endpoint(assembly: Path, tmp_path: Path) -> None:
    # Given predict's role without WakeParkedEndpoint (DescribeEndpoint, CreateEndpoint)
    edit = without_role_statement(
        "ServingPredictFunctionRole", lambda s: s.get("Sid") == "WakeParkedEndpoint"
    )
    with deployed(edited_assembly(assembly, tmp_path / "edited", edit), tmp_path / "denied") as cloud:
        # When a prediction finds the endpoint parked / Then the refused call is a 500 (never a stack trace)
        answer = parked_prediction(cloud)
        assert answer["statusCode"] == 500 and json.loads(answer["body"])["code"] == "InternalError"
    # And as synthesized the same prediction starts the wake: 503 Waking, and the endpoint is being created
    with deployed(assembly, tmp_path / "allowed") as cloud:
        answer = parked_prediction(cloud)
        assert answer["statusCode"] == 503 and json.loads(answer["body"])["code"] == "Waking", answer
        endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)
        assert endpoint["EndpointConfigName"] == CONFIG
