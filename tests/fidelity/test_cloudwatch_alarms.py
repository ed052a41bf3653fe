"""CloudWatch alarms on the local cloud (local/alarms.py, local/deploy/cloudwatch.py): the deployed
single-metric alarms start INSUFFICIENT_DATA and change state as CloudWatch evaluates them (static threshold,
statistic over the period, EvaluationPeriods, DatapointsToAlarm, TreatMissingData), publishing CloudWatch's
notification to the state's SNS actions; metric-math alarms stay not emulated. And the drift monitor's
PutMetricData grant, as synthesized, allows its own namespace only (the local IAM evaluation of the
``cloudwatch:namespace`` condition key).

moto in process; the evaluator's clock is a fixed instant, so nothing depends on today's date.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.alarms import AlarmEvaluator, next_state
from local.cfn import Environment
from local.deploy.cloudwatch import NOT_EVALUATED, cloudwatch_alarm
from local.iam_policy import Request, allows, render
from tests.infra.conftest import synthesize
from tests.infra.test_security import policy_statements

# Relative to now, on a whole hour: metrics are put at NOW - minutes, and CloudWatch refuses data points
# more than two weeks old, so a fixed date would age out of what AWS accepts.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
REGION = "us-east-1"
DIMENSIONS = [{"Name": "Stack", "Value": "Gtpipe"}, {"Name": "Endpoint", "Value": "gtpipe-endpoint"}]


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="notifications")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        yield {
            "cloudwatch": boto3.client("cloudwatch", region_name=REGION),
            "sns": sns,
            "sqs": sqs,
            "topic": topic,
            "queue": queue,
        }


def alarm_props(topic: str, **overrides: Any) -> dict[str, Any]:
    """An alarm as the drift construct synthesizes it (resolved)."""
    return {
        "AlarmName": "Gtpipe-drift-input",
        "AlarmDescription": "gtpipe: input statistics moved from the baseline",
        "Namespace": "Gtpipe/Drift",
        "MetricName": "InputShift",
        "Dimensions": DIMENSIONS,
        "Statistic": "Maximum",
        "Period": "3600",
        "EvaluationPeriods": "1",
        "Threshold": "1.5",
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [topic],
        "OKActions": [topic],
        **overrides,
    }


class _Ctx:
    """The little of a StackContext the alarm handler uses."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = lambda service: clients[service]
        self.services = type("S", (), {"environment": Environment()})()
        self.deployment = type("D", (), {"alarms": []})()
        self.result = type("R", (), {"not_emulated": {}})()


def put(cloudwatch: Any, value: float, at: datetime) -> None:
    cloudwatch.put_metric_data(
        Namespace="Gtpipe/Drift",
        MetricData=[{"MetricName": "InputShift", "Dimensions": DIMENSIONS, "Timestamp": at, "Value": value}],
    )


def received(aws: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for message in (
        aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages", [])
    ):
        envelope = json.loads(message["Body"])
        found.append((envelope["Subject"], json.loads(envelope["Message"])))
    return found


def evaluator(aws: dict[str, Any], ctx: _Ctx, at: datetime) -> AlarmEvaluator:
    found = AlarmEvaluator(
        lambda: aws["cloudwatch"],
        lambda: aws["sns"],
        account_id="123456789012",
        region=REGION,
        tick_seconds=0,
        clock=at.timestamp,
    )
    for name in ctx.deployment.alarms:
        found.register(name)
    return found


def test_a_deployed_alarm_starts_insufficient_and_alarms_on_a_breaching_datapoint(
    aws: dict[str, Any],
) -> None:
    # Given the drift input alarm deployed (threshold 1.5, Maximum over an hour, missing = not breaching)
    ctx = _Ctx(aws)
    state = cloudwatch_alarm(ctx, "InputDriftAlarm", alarm_props(aws["topic"]))  # type: ignore[arg-type]
    assert state.ref == "Gtpipe-drift-input" and ctx.deployment.alarms == ["Gtpipe-drift-input"]
    alarms = evaluator(aws, ctx, NOW)
    described = aws["cloudwatch"].describe_alarms(AlarmNames=["Gtpipe-drift-input"])["MetricAlarms"][0]
    assert described["StateValue"] == "INSUFFICIENT_DATA"
    # when a window below the threshold is put, then the alarm goes OK and notifies the OK action
    put(aws["cloudwatch"], 0.4, NOW - timedelta(minutes=5))
    assert alarms.evaluate_now() == {"Gtpipe-drift-input": "OK"}
    [(subject, message)] = received(aws)
    assert subject == 'OK: "Gtpipe-drift-input" in US East (N. Virginia)'
    assert (message["OldStateValue"], message["NewStateValue"]) == ("INSUFFICIENT_DATA", "OK")
    # when a breaching window is put within the period, then ALARM with CloudWatch's notification
    put(aws["cloudwatch"], 12.0, NOW)
    assert alarms.evaluate_now() == {"Gtpipe-drift-input": "ALARM"}
    [(subject, message)] = received(aws)
    assert subject == 'ALARM: "Gtpipe-drift-input" in US East (N. Virginia)'
    assert message["NewStateValue"] == "ALARM" and message["AlarmName"] == "Gtpipe-drift-input"
    assert message["Trigger"]["Threshold"] == 1.5 and message["Trigger"]["Statistic"] == "MAXIMUM"
    assert "[12]" in message["NewStateReason"]
    described = aws["cloudwatch"].describe_alarms(AlarmNames=["Gtpipe-drift-input"])["MetricAlarms"][0]
    assert described["StateValue"] == "ALARM"
    # when nothing changes, then nothing more is published
    assert alarms.evaluate_now() == {"Gtpipe-drift-input": "ALARM"} and received(aws) == []


def test_datapoints_older_than_the_evaluation_range_do_not_count(aws: dict[str, Any]) -> None:
    # Given a breaching datapoint two hours before the evaluation (one period of an hour, missing = good)
    ctx = _Ctx(aws)
    cloudwatch_alarm(ctx, "InputDriftAlarm", alarm_props(aws["topic"]))  # type: ignore[arg-type]
    put(aws["cloudwatch"], 50.0, NOW - timedelta(hours=2))
    # then the alarm evaluates the empty last hour as not breaching: OK
    assert evaluator(aws, ctx, NOW).evaluate_now() == {"Gtpipe-drift-input": "OK"}


def test_an_evaluation_at_a_given_instant_sees_that_instants_range_not_the_clocks(
    aws: dict[str, Any],
) -> None:
    # Given a breaching datapoint two hours after the evaluator's clock (one period of an hour)
    ctx = _Ctx(aws)
    cloudwatch_alarm(ctx, "InputDriftAlarm", alarm_props(aws["topic"]))  # type: ignore[arg-type]
    put(aws["cloudwatch"], 50.0, NOW - timedelta(hours=2))
    alarms = evaluator(aws, ctx, NOW - timedelta(hours=4))
    # when evaluated at the clock's time, then the datapoint is not in range yet: OK
    assert alarms.evaluate_now() == {"Gtpipe-drift-input": "OK"}
    # when evaluated at the datapoint's instant, then it is the last period's: ALARM
    at = (NOW - timedelta(hours=2)).timestamp()
    assert alarms.evaluate_now(at) == {"Gtpipe-drift-input": "ALARM"}


def test_actions_disabled_alarms_change_state_without_notifying(aws: dict[str, Any]) -> None:
    ctx = _Ctx(aws)
    cloudwatch_alarm(ctx, "InputDriftAlarm", alarm_props(aws["topic"], ActionsEnabled="false"))  # type: ignore[arg-type]
    put(aws["cloudwatch"], 5.0, NOW)
    assert evaluator(aws, ctx, NOW).evaluate_now() == {"Gtpipe-drift-input": "ALARM"}
    assert received(aws) == []


def test_a_metric_math_alarm_is_recorded_as_not_evaluated(aws: dict[str, Any]) -> None:
    ctx = _Ctx(aws)
    props = {"Metrics": [{"Id": "failed", "Expression": "a + b"}], "Threshold": 1, "EvaluationPeriods": 1}
    cloudwatch_alarm(ctx, "FailedExecutions", props)  # type: ignore[arg-type]
    assert ctx.deployment.alarms == []
    assert ctx.result.not_emulated["FailedExecutions"] == NOT_EVALUATED
    assert aws["cloudwatch"].describe_alarms()["MetricAlarms"] == []


@pytest.mark.parametrize(
    ("datapoints", "treat", "needed", "current", "expected"),
    [
        ([None, None, None], "missing", None, "OK", "INSUFFICIENT_DATA"),
        ([None, None, None], "ignore", None, "ALARM", "ALARM"),
        ([None, None, None], "breaching", None, "OK", "ALARM"),
        ([None, None, None], "notBreaching", None, "ALARM", "OK"),
        ([2.0, 0.5, 2.0], "missing", None, "OK", "OK"),
        ([2.0, 0.5, 2.0], "missing", 2, "OK", "ALARM"),
        ([2.0, None, 2.0], "breaching", None, "OK", "ALARM"),
        ([1.0, 1.0, 1.0], "missing", None, "OK", "OK"),
    ],
)
def test_the_state_follows_cloudwatchs_rules(
    datapoints: list[float | None], treat: str, needed: int | None, current: str, expected: str
) -> None:
    # Given a GreaterThanThreshold 1.0 alarm over 3 periods (DatapointsToAlarm as given)
    alarm = {
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": needed,
        "TreatMissingData": treat,
    }
    assert next_state(alarm, datapoints, current)[0] == expected


def test_the_monitors_metric_grant_allows_only_its_namespace() -> None:
    # Given the synthesized monitor role with drift monitoring on, evaluated as the local cloud evaluates it
    synth = synthesize(monitoring={"enabled": True})
    statements = [
        render(s, Environment())
        for lid, s in policy_statements(synth.main)
        if lid.startswith("DriftMonitoringMonitorFunctionRole")
    ]

    def put_to(namespace: str) -> Request:
        return Request("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": namespace})

    # then PutMetricData to Gtpipe/Drift is allowed, to any other namespace (AWS/SageMaker) refused
    assert allows(statements, put_to("Gtpipe/Drift"))
    assert not allows(statements, put_to("AWS/SageMaker"))
    assert not allows(statements, put_to("Gtpipe"))
