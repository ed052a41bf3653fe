"""Shared pieces of the ``gtpipe`` unit tests: the AWS stacks in moto (``aws_stacks``, a fixture the test
modules import), ledger rows and a local outputs file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "state_machines" / "pipeline.asl.json").read_text())
RUN_ID = "digits-0123456789abcdef"


def local_outputs(state_dir: Path, **overrides: Any) -> dict[str, Any]:
    outputs = {
        "AwsEndpointUrl": "http://127.0.0.1:1",
        "Region": "eu-west-1",
        "AccessKeyId": "AKIAGTPIPELOCAL00000",
        "SecretAccessKey": "secret",
        "CaCertPath": str(state_dir / "ca.pem"),
        "DataBucketName": "data-bucket",
        "IncomingPrefix": "incoming/",
        "StateMachineArn": "arn:aws:states:eu-west-1:000000000000:stateMachine:Gtpipe",
        "ApiUrl": "https://127.0.0.1:2/prod/",
        "RunsTableName": "runs",
        **overrides,
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "outputs.json").write_text(json.dumps(outputs))
    return outputs


PIPELINE_TEMPLATE = {
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Runs": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "KeySchema": [{"AttributeName": "run_id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "run_id", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        },
    },
    "Outputs": {
        "DataBucketName": {"Value": {"Ref": "Bucket"}},
        "RunsTableName": {"Value": {"Ref": "Runs"}},
        "IncomingPrefix": {"Value": "incoming/"},
        "StateMachineArn": {"Value": "{state_machine_arn}"},
        "ApiUrl": {"Value": "https://abc123.execute-api.us-east-1.amazonaws.com/prod/"},
        "EndpointName": {"Value": "gtpipe-endpoint"},
    },
}


@pytest.fixture
def aws_stacks() -> Iterator[dict[str, str]]:
    """Moto: stacks GtpipeData and GtpipePipeline (bucket, ledger, outputs) and the real state machine."""
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name="Gtpipe-pipeline",
            definition=json.dumps(ASL),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        template = json.loads(json.dumps(PIPELINE_TEMPLATE).replace("{state_machine_arn}", arn))
        cfn = boto3.client("cloudformation", region_name="us-east-1")
        cfn.create_stack(
            StackName="GtpipeData",
            TemplateBody=json.dumps({"Resources": {"Key": {"Type": "AWS::S3::Bucket"}}}),
        )
        cfn.create_stack(StackName="GtpipePipeline", TemplateBody=json.dumps(template))
        outputs = cfn.describe_stacks(StackName="GtpipePipeline")["Stacks"][0]["Outputs"]
        yield {o["OutputKey"]: o["OutputValue"] for o in outputs}


def put_item(table: str, entry: dict[str, Any]) -> None:
    item = json.loads(json.dumps(entry), parse_float=Decimal)
    boto3.resource("dynamodb", region_name="us-east-1").Table(table).put_item(Item=item)


def put_run(table: str, **fields: Any) -> None:
    put_item(table, {"run_id": RUN_ID, "created_at": "2026-01-01T10:00:00.000000Z", **fields})
