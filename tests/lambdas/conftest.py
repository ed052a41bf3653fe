"""Fixtures for the Lambda tests: Powertools settings, a Lambda context, moto resources.

Environment variables the handlers read at import time (Powertools, the idempotency table) are set here,
before any test module imports a handler.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

os.environ["POWERTOOLS_SERVICE_NAME"] = "gtpipe"
os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "Gtpipe"
os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
os.environ["POWERTOOLS_DEV"] = "false"
os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ["IDEMPOTENCY_TABLE"] = "gtpipe-idempotency"


EVENTS = Path(__file__).resolve().parents[1] / "events"
ACCOUNT = "123456789012"
REGION = "us-east-1"
DATA_BUCKET = "gtpipe-data-bucket"
RUNS_TABLE = "gtpipe-runs"
TOKENS_TABLE = "gtpipe-task-tokens"
IDEMPOTENCY_TABLE = os.environ["IDEMPOTENCY_TABLE"]
CLASS_NAMES = ["cat", "dog", "bird"]


def load_event(name: str) -> dict[str, Any]:
    """A sample event from tests/events/."""
    return json.loads((EVENTS / name).read_text())


@dataclass
class FakeContext:
    """Enough of the Lambda context for Powertools (logger, idempotency)."""

    function_name: str = "gtpipe-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:gtpipe-test"
    aws_request_id: str = "11111111-2222-3333-4444-555555555555"
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/gtpipe-test"
    log_stream_name: str = "stream"
    client_context: Any = None
    identity: Any = None
    remaining: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    # Handlers cache clients (kept: moto intercepts them in every test) and the @serving item (cleared).
    from predict import handler as predict_handler

    predict_handler.clear_cache()
    yield
    predict_handler.clear_cache()


@dataclass
class Cloud:
    """The moto resources the handlers use, plus helpers to inspect them."""

    s3: Any
    dynamodb: Any
    sns: Any
    sqs: Any
    sfn: Any
    topic_arn: str
    queue_url: str
    state_machine_arn: str
    bucket: str = DATA_BUCKET
    messages: list[dict[str, Any]] = field(default_factory=list)

    def runs(self) -> Any:
        return self.dynamodb.Table(RUNS_TABLE)

    def tokens(self) -> Any:
        return self.dynamodb.Table(TOKENS_TABLE)

    def run(self, run_id: str) -> dict[str, Any] | None:
        return self.runs().get_item(Key={"run_id": run_id}).get("Item")

    def notifications(self) -> list[dict[str, Any]]:
        """SNS messages delivered so far (via the subscribed SQS queue), oldest first."""
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                break
            for message in batch:
                envelope = json.loads(message["Body"])
                self.messages.append(
                    {"subject": envelope.get("Subject"), "message": json.loads(envelope["Message"])}
                )
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return list(self.messages)

    def put(self, key: str, body: bytes | str) -> dict[str, Any]:
        data = body.encode() if isinstance(body, str) else body
        return self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def read(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def executions(self) -> list[dict[str, Any]]:
        return self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]


def _table(dynamodb: Any, name: str, key: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def create_runs_table(dynamodb: Any, name: str = RUNS_TABLE) -> None:
    """The runs table as the stateful stack declares it, with the sparse reusable-model index."""
    from gtpipe_shared import ledger

    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": attribute, "AttributeType": "S"}
            for attribute in ("run_id", ledger.FINGERPRINT_ATTRIBUTE, ledger.MODEL_AT_ATTRIBUTE)
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": ledger.LABELING_MODEL_INDEX,
                "KeySchema": [
                    {"AttributeName": ledger.FINGERPRINT_ATTRIBUTE, "KeyType": "HASH"},
                    {"AttributeName": ledger.MODEL_AT_ATTRIBUTE, "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": [ledger.FINAL_MODEL_ATTRIBUTE],
                },
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@dataclass
class _Clients:
    s3: Any
    dynamodb: Any
    sns: Any
    sqs: Any
    sfn: Any


@pytest.fixture(scope="session")
def _clients() -> _Clients:
    # Creating clients loads service models (slow); moto intercepts requests of existing clients too.
    return _Clients(
        s3=boto3.client("s3", region_name=REGION),
        dynamodb=boto3.resource("dynamodb", region_name=REGION),
        sns=boto3.client("sns", region_name=REGION),
        sqs=boto3.client("sqs", region_name=REGION),
        sfn=boto3.client("stepfunctions", region_name=REGION),
    )


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch, _clients: _Clients) -> Iterator[Cloud]:
    """moto with the data bucket (versioned), the three tables, the topic and a trivial state machine."""
    with mock_aws():
        s3, dynamodb, sns, sqs, sfn = _clients.s3, _clients.dynamodb, _clients.sns, _clients.sqs, _clients.sfn
        s3.create_bucket(Bucket=DATA_BUCKET)
        s3.put_bucket_versioning(Bucket=DATA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        _table(dynamodb, RUNS_TABLE, "run_id")
        _table(dynamodb, TOKENS_TABLE, "id")
        _table(dynamodb, IDEMPOTENCY_TABLE, "id")
        topic_arn = sns.create_topic(Name="gtpipe-notifications")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="gtpipe-notifications-test")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        state_machine_arn = sfn.create_state_machine(
            name="gtpipe-pipeline",
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/gtpipe-sfn",
        )["stateMachineArn"]
        for name, value in {
            "DATA_BUCKET": DATA_BUCKET,
            "RUNS_TABLE": RUNS_TABLE,
            "TASK_TOKEN_TABLE": TOKENS_TABLE,
            "TOPIC_ARN": topic_arn,
            "STATE_MACHINE_ARN": state_machine_arn,
            "ENDPOINT_ALARM_NAMES": json.dumps(["gtpipe-endpoint-5xx", "gtpipe-endpoint-latency"]),
            "ENDPOINT_NAME": "gtpipe-endpoint",
        }.items():
            monkeypatch.setenv(name, value)
        yield Cloud(
            s3=s3,
            dynamodb=dynamodb,
            sns=sns,
            sqs=sqs,
            sfn=sfn,
            topic_arn=topic_arn,
            queue_url=queue_url,
            state_machine_arn=state_machine_arn,
        )


def pipeline_config(**overrides: Any) -> dict[str, Any]:
    """A PIPELINE_CONFIG like the one the stack writes."""
    config: dict[str, Any] = {
        "task_type": "image-classification",
        "data_bucket": DATA_BUCKET,
        "label_categories": list(CLASS_NAMES),
        "allowed_source_buckets": ["gtpipe-public-images"],
        "max_manifest_lines": 1000,
        "max_manifest_bytes": 1_000_000,
        "labeling": {
            "backend": "ground-truth",
            "label_attribute": "category",
            "output_path": f"s3://{DATA_BUCKET}/labeling/",
            "workteam_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/gtpipe",
            "pre_human_task_lambda_arn": f"arn:aws:lambda:{REGION}:432418664414:function:PRE-ImageMultiClass",
            "annotation_consolidation_lambda_arn": f"arn:aws:lambda:{REGION}:432418664414:function:ACS-ImageMultiClass",
            "workers_per_object": 3,
            "task_title": "Cat, dog or bird?",
            "task_description": "Pick the animal in the picture",
            "auto_labeling": False,
        },
        "training": {"image": "img:latest", "hyperparameters": {"epochs": 10, "learning_rate": 0.01}},
        "transform": {"instance_type": "ml.m5.xlarge", "instance_count": 1},
        "endpoint": {
            "name": "gtpipe-endpoint",
            "instance_type": "ml.m5.xlarge",
            "instance_count": 1,
            "max_instance_count": 2,
            "target_invocations_per_instance": 100,
            "variant_name": "AllTraffic",
            "heartbeat_seconds": 1800,
            "timeout_seconds": 7200,
        },
        "split": {"validation_ratio": 0.2},
        "quality_threshold": 0.8,
    }
    config.update(overrides)
    return config


def input_line(index: int, bucket: str = DATA_BUCKET) -> str:
    return json.dumps({"source-ref": f"s3://{bucket}/images/img-{index:05d}.jpg"})


def classification_line(
    index: int, label: int, attribute: str = "category", bucket: str = DATA_BUCKET
) -> str:
    return json.dumps(
        {
            "source-ref": f"s3://{bucket}/images/img-{index:05d}.jpg",
            attribute: label,
            f"{attribute}-metadata": {
                "class-name": CLASS_NAMES[label] if 0 <= label < len(CLASS_NAMES) else "unknown",
                "confidence": 0.91,
                "human-annotated": "yes",
                "creation-date": "2026-11-20T10:00:00.000000",
                "job-name": "labeling-job/demo",
                "type": "groundtruth/image-classification",
            },
        }
    )


def detection_line(
    index: int, boxes: list[tuple[int, int, int, int, int]], attribute: str = "category"
) -> str:
    return json.dumps(
        {
            "source-ref": f"s3://{DATA_BUCKET}/images/det-{index:05d}.jpg",
            attribute: {
                "image_size": [{"width": 640, "height": 480, "depth": 3}],
                "annotations": [
                    {"class_id": c, "left": x, "top": y, "width": w, "height": h} for c, x, y, w, h in boxes
                ],
            },
            f"{attribute}-metadata": {
                "objects": [{"confidence": 0.9} for _ in boxes],
                "class-map": {str(i): name for i, name in enumerate(CLASS_NAMES)},
                "type": "groundtruth/object-detection",
                "human-annotated": "yes",
                "creation-date": "2026-11-20T10:00:00.000000",
                "job-name": "labeling-job/demo",
            },
        }
    )


def s3_event(
    key: str, version_id: str | None, etag: str | None, size: int = 100, bucket: str = DATA_BUCKET
) -> dict[str, Any]:
    """The sample S3 Object Created event, pointed at another object."""
    event = load_event("s3_object_created_manifest.json")
    event["detail"]["bucket"]["name"] = bucket
    obj = event["detail"]["object"]
    obj["key"] = key
    obj["size"] = size
    if version_id is None:
        obj.pop("version-id", None)
    else:
        obj["version-id"] = version_id
    if etag is None:
        obj.pop("etag", None)
    else:
        obj["etag"] = etag
    return event


def pytest_configure(config: pytest.Config) -> None:
    # Error paths end before any metric is added; Powertools then warns, which is expected here.
    config.addinivalue_line("filterwarnings", "ignore:No application metrics to publish:UserWarning")


def put_running_run(cloud: Cloud, run_id: str, input_key: str = "incoming/demo.manifest") -> None:
    """A RUNNING ledger item, as start_run writes it for a valid input manifest."""
    from gtpipe_shared import ledger
    from gtpipe_shared.ledger_store import put_new_run

    put_new_run(
        cloud.runs(),
        ledger.new_run_item(
            run_id,
            status="RUNNING",
            input_bucket="b",
            input_key=input_key,
            input_version_id="v",
            manifest_kind="input",
            task_type="image-classification",
            now=ledger.now_iso(),
        ),
    )
