"""EventBridge -> Lambda delivery on top of moto (in-process mock_aws; fast)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.eventbridge import (
    AsyncLambdaInvoker,
    EventBridgeLambdaTargets,
    aws_event_shape,
    check_compatibility,
)
from local.lambda_runtime import AsyncInvokeConfig
from local.sfn import LambdaRegistry

REGION = "us-east-1"
ACCOUNT = "123456789012"


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


class Harness:
    def __init__(self) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = {}
        self.registry = LambdaRegistry(account_id=ACCOUNT, region=REGION)
        self.configs: dict[str, AsyncInvokeConfig] = {}
        self.events = boto3.client("events", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.invoker = AsyncLambdaInvoker(self.registry, self.configs.get, self.send, retry_delays=(0.0,))
        self.delivery = EventBridgeLambdaTargets(self.invoker, self.send, retry_backoff=0.01).install()

    def send(self, queue_arn: str, body: str, attributes: dict[str, str]) -> None:
        url = self.sqs.get_queue_url(QueueName=queue_arn.split(":")[-1])["QueueUrl"]
        self.sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )

    def function(self, name: str, fail: bool = False) -> None:
        self.calls[name] = []

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            self.calls[name].append(event)
            if fail:
                raise ValueError("always fails")
            return {"ok": True}

        self.registry.register(name, handler)

    def queue(self, name: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        return url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"

    def rule(
        self, name: str, pattern: dict[str, Any], targets: list[dict[str, Any]], state: str = "ENABLED"
    ) -> None:
        self.events.put_rule(Name=name, EventPattern=json.dumps(pattern), State=state)
        self.events.put_targets(Rule=name, Targets=targets)

    def messages(self, url: str) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])


@pytest.fixture
def harness() -> Iterator[Harness]:
    with mock_aws():
        h = Harness()
        try:
            yield h
        finally:
            h.delivery.uninstall()
            h.invoker.shutdown()


def test_moto_internals_are_where_the_patch_expects_them() -> None:
    check_compatibility()


def test_s3_object_created_reaches_a_lambda_target_in_aws_shape(harness: Harness) -> None:
    harness.function("start")
    harness.s3.create_bucket(Bucket="data")
    harness.s3.put_bucket_versioning(Bucket="data", VersioningConfiguration={"Status": "Enabled"})
    harness.s3.put_bucket_notification_configuration(
        Bucket="data", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["data"]}, "object": {"key": [{"wildcard": "incoming/*.manifest"}]}},
    }
    harness.rule("dropped", pattern, [{"Id": "t", "Arn": fn_arn("start")}])
    put = harness.s3.put_object(Bucket="data", Key="incoming/a.manifest", Body=b"{}")
    harness.s3.put_object(Bucket="data", Key="images/a.png", Body=b"x")  # does not match
    assert harness.delivery.wait_idle(10)
    (event,) = harness.calls["start"]
    assert event["source"] == "aws.s3" and event["detail-type"] == "Object Created"
    assert event["time"].endswith("Z") and "T" in event["time"]
    assert "ingestion-time" not in event
    obj = event["detail"]["object"]
    assert obj["key"] == "incoming/a.manifest"
    assert obj["etag"] == put["ETag"].strip('"') and "eTag" not in obj
    assert obj["version-id"] == put["VersionId"]
    assert event["id"] != "17793124-05d4-b198-2fde-7ededc63b103"
    assert event["resources"] == ["arn:aws:s3:::data"]


def test_a_scheduled_rule_matches_no_event(harness: Harness) -> None:
    # given a scheduled rule (no event pattern) and an event-pattern rule, both targeting Lambda functions
    harness.function("harvest")
    harness.function("status")
    harness.events.put_rule(Name="daily", ScheduleExpression="rate(1 day)")
    harness.events.put_targets(Rule="daily", Targets=[{"Id": "t", "Arn": fn_arn("harvest")}])
    harness.rule("on", {"source": ["aws.sagemaker"]}, [{"Id": "t", "Arn": fn_arn("status")}])
    # when an event arrives
    harness.events.put_events(
        Entries=[
            {"Source": "aws.sagemaker", "DetailType": "SageMaker Training Job State Change", "Detail": "{}"}
        ]
    )
    assert harness.delivery.wait_idle(10)
    # then only the pattern rule's target gets it: a scheduled rule fires on its schedule only (AWS PutRule)
    assert len(harness.calls["status"]) == 1 and harness.calls["harvest"] == []


def test_put_events_matching_respects_pattern_and_rule_state(harness: Harness) -> None:
    harness.function("status")
    harness.function("disabled")
    harness.rule("on", {"source": ["aws.sagemaker"]}, [{"Id": "t", "Arn": fn_arn("status")}])
    harness.rule(
        "off", {"source": ["aws.sagemaker"]}, [{"Id": "t", "Arn": fn_arn("disabled")}], state="DISABLED"
    )
    url, arn = harness.queue("copy")
    harness.rule("to-sqs", {"source": ["aws.sagemaker"]}, [{"Id": "q", "Arn": arn}])
    harness.events.put_events(
        Entries=[
            {
                "Source": "aws.sagemaker",
                "DetailType": "SageMaker Endpoint State Change",
                "Detail": '{"a": 1}',
            },
            {"Source": "other", "DetailType": "x", "Detail": "{}"},
        ]
    )
    assert harness.delivery.wait_idle(10)
    assert [e["detail"] for e in harness.calls["status"]] == [{"a": 1}]
    assert harness.calls["disabled"] == []
    assert len(harness.messages(url)) == 1, "moto still delivers the non-Lambda targets"


def test_a_scheduled_rule_without_a_pattern_gets_no_events(harness: Harness) -> None:
    # Given a scheduled rule (no EventPattern) and a pattern rule, both targeting functions
    harness.function("scheduled")
    harness.function("matched")
    harness.events.put_rule(Name="every-hour", ScheduleExpression="rate(1 hour)", State="ENABLED")
    harness.events.put_targets(Rule="every-hour", Targets=[{"Id": "t", "Arn": fn_arn("scheduled")}])
    harness.rule("on", {"source": ["aws.sagemaker"]}, [{"Id": "t", "Arn": fn_arn("matched")}])
    # when events are put, then only the pattern rule's target gets them: a scheduled rule fires on its
    # schedule only (EventBridge PutRule), where moto's matcher would match every event to it
    harness.events.put_events(
        Entries=[
            {"Source": "aws.sagemaker", "DetailType": "x", "Detail": "{}"},
            {"Source": "o", "DetailType": "y", "Detail": "{}"},
        ]
    )
    assert harness.delivery.wait_idle(10)
    assert len(harness.calls["matched"]) == 1
    assert harness.calls["scheduled"] == []


def test_failing_function_is_retried_then_dead_lettered_to_its_dlq(harness: Harness) -> None:
    harness.function("flaky", fail=True)
    url, dlq_arn = harness.queue("function-dlq")
    harness.configs["flaky"] = AsyncInvokeConfig(maximum_retry_attempts=2, dead_letter_arn=dlq_arn)
    harness.rule("r", {"source": ["app"]}, [{"Id": "t", "Arn": fn_arn("flaky")}])
    harness.events.put_events(Entries=[{"Source": "app", "DetailType": "d", "Detail": '{"n": 1}'}])
    assert harness.delivery.wait_idle(10)
    assert len(harness.calls["flaky"]) == 3  # first attempt + MaximumRetryAttempts
    (message,) = harness.messages(url)
    assert json.loads(message["Body"])["detail"] == {"n": 1}
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ErrorCode"] == "200" and "ValueError: always fails" in attributes["ErrorMessage"]
    assert harness.invoker.records[-1].outcome == "function-error-dead-lettered"


def test_undeliverable_event_goes_to_the_targets_dlq_after_its_retry_policy(harness: Harness) -> None:
    url, dlq_arn = harness.queue("rule-dlq")
    target = {
        "Id": "t",
        "Arn": fn_arn("does-not-exist"),
        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
        "DeadLetterConfig": {"Arn": dlq_arn},
    }
    harness.rule("r", {"source": ["app"]}, [target])
    harness.events.put_events(Entries=[{"Source": "app", "DetailType": "d", "Detail": "{}"}])
    assert harness.delivery.wait_idle(10)
    (message,) = harness.messages(url)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "ResourceNotFoundException"
    assert attributes["RETRY_ATTEMPTS"] == "2"
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attributes["TARGET_ARN"] == fn_arn("does-not-exist")
    assert attributes["RULE_ARN"].endswith(":rule/r")


def test_event_shape_of_moto_s3_events() -> None:
    moto_event = {
        "version": "0",
        "id": "x",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "time": 1_700_000_000.5,
        "ingestion-time": 1_700_000_000.6,
        "detail": {
            "object": {"key": "k", "eTag": "abc", "version-id": None, "sequencer": "617f08299329d189"},
            "requester": "123456789012",
        },
    }
    shaped = aws_event_shape(moto_event, "999999999999")
    assert shaped["time"] == "2023-11-14T22:13:20Z"
    assert shaped["detail"]["object"]["etag"] == "abc" and "version-id" not in shaped["detail"]["object"]
    assert shaped["detail"]["object"]["sequencer"] != "617f08299329d189"
    assert shaped["detail"]["requester"] == "999999999999"
    assert "ingestion-time" not in shaped and moto_event["detail"]["object"]["eTag"] == "abc"
