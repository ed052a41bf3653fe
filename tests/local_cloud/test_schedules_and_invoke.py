"""Scheduled EventBridge rules and Lambda's Invoke API on the local cloud (in-process moto; fast)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.eventbridge import AsyncLambdaInvoker
from local.lambda_api import install as install_lambda_api
from local.schedules import ScheduledRules, schedule_minutes, scheduled_event
from local.sfn import LambdaRegistry

REGION = "us-east-1"
ACCOUNT = "123456789012"


class Functions:
    """Python handlers registered as Lambda functions, recording their events."""

    def __init__(self) -> None:
        self.registry = LambdaRegistry(account_id=ACCOUNT, region=REGION)
        self.invoker = AsyncLambdaInvoker(
            self.registry, lambda name: None, self.dead_letter, retry_delays=(0.0,)
        )
        self.events: dict[str, list[Any]] = {}
        self.release = threading.Event()
        self.release.set()

    def dead_letter(self, arn: str, body: str, attributes: dict[str, str]) -> None:
        raise AssertionError(f"nothing should be dead-lettered: {body}")

    def add(self, name: str, *, blocking: bool = False) -> str:
        self.events[name] = []

        def handler(event: Any, context: Any) -> dict[str, Any]:
            self.events[name].append(event)
            if blocking:
                self.release.wait(10)
            return {"handled": event}

        self.registry.register(name, handler)
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


@pytest.fixture
def functions() -> Iterator[Functions]:
    with mock_aws():
        harness = Functions()
        yield harness
        harness.release.set()
        harness.invoker.wait_idle(10)
        harness.invoker.shutdown()


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("expression", "minutes"),
    [("rate(1 minute)", 1), ("rate(5 minutes)", 5), ("rate(2 hours)", 120), ("rate(1 day)", 1440)],
)
def test_rate_expressions_give_their_period_in_minutes(expression: str, minutes: int) -> None:
    assert schedule_minutes(expression) == minutes


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("cron(0 12 * * ? *)", "cron expressions are not fired locally"),
        ("rate(5 minute)", "rate\\(N minutes\\)"),
        ("rate(1 minutes)", "rate\\(1 minute\\)"),
        ("rate(0 minutes)", "positive"),
        ("every 5 minutes", "is not rate"),
    ],
)
def test_other_schedules_are_refused_naming_the_problem(expression: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        schedule_minutes(expression)


def test_scheduled_event_has_the_shape_eventbridge_sends() -> None:
    event = scheduled_event("arn:aws:events:us-east-1:123456789012:rule/sweep", ACCOUNT, REGION, now=0)
    assert event["source"] == "aws.events" and event["detail-type"] == "Scheduled Event"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/sweep"]
    assert event["detail"] == {} and event["time"] == "1970-01-01T00:00:00Z" and event["account"] == ACCOUNT


def test_rate_rules_fire_their_lambda_targets_on_the_scaled_timer(functions: Functions) -> None:
    """Given rate(5 minutes) at 0.02 s per minute (a firing every 0.1 s), when the timer runs for a while,
    then the sweep function gets scheduled events repeatedly, with the target's Input when it has one."""
    events = boto3.client("events", region_name=REGION)
    sweep = functions.add("sweep")
    events.put_rule(Name="sweep-rule", ScheduleExpression="rate(5 minutes)", State="ENABLED")
    events.put_targets(Rule="sweep-rule", Targets=[{"Id": "1", "Arn": sweep, "Input": '{"action": "sweep"}'}])
    events.put_rule(Name="pattern-rule", EventPattern=json.dumps({"source": ["x"]}))
    rules = ScheduledRules(
        lambda: events,
        functions.invoker,
        account_id=ACCOUNT,
        region=REGION,
        seconds_per_minute=0.02,
        tick_seconds=0.01,
    )
    assert rules.refresh() == ["sweep-rule"]
    rules.start()
    try:
        wait_for(lambda: len(functions.events["sweep"]) >= 3)
    finally:
        rules.stop()
    assert all(event == {"action": "sweep"} for event in functions.events["sweep"])
    assert {outcome for _, outcome in rules.firings} == {"delivered"}


def test_fire_now_delivers_the_scheduled_event_and_respects_disabled_rules(functions: Functions) -> None:
    events = boto3.client("events", region_name=REGION)
    target = functions.add("report")
    events.put_rule(Name="hourly", ScheduleExpression="rate(1 hour)")
    events.put_targets(Rule="hourly", Targets=[{"Id": "1", "Arn": target}])
    rules = ScheduledRules(
        lambda: events, functions.invoker, account_id=ACCOUNT, region=REGION, seconds_per_minute=0
    )
    rules.refresh()
    rules.start()  # seconds_per_minute 0: no timer
    time.sleep(0.2)
    assert functions.events["report"] == []
    assert rules.fire_now("hourly") == 1
    wait_for(lambda: len(functions.events["report"]) == 1)
    event = functions.events["report"][0]
    assert event["detail-type"] == "Scheduled Event" and event["resources"][0].endswith(":rule/hourly")
    # and a firing at a given instant carries that instant as the event's time (whole seconds)
    assert rules.fire_now("hourly", at=1_700_000_000.7) == 1
    wait_for(lambda: len(functions.events["report"]) == 2)
    assert functions.events["report"][1]["time"] == "2023-11-14T22:13:20Z"
    events.disable_rule(Name="hourly")
    rules.fire_now()
    assert rules.firings[-1] == ("hourly", "disabled")
    with pytest.raises(KeyError, match="no scheduled rule named 'daily'"):
        rules.fire_now("daily")


def test_a_firing_is_skipped_while_the_previous_one_still_runs(functions: Functions) -> None:
    events = boto3.client("events", region_name=REGION)
    target = functions.add("slow-sweep", blocking=True)
    events.put_rule(Name="sweep", ScheduleExpression="rate(5 minutes)")
    events.put_targets(Rule="sweep", Targets=[{"Id": "1", "Arn": target}])
    rules = ScheduledRules(
        lambda: events, functions.invoker, account_id=ACCOUNT, region=REGION, seconds_per_minute=0
    )
    rules.refresh()
    functions.release.clear()
    rules.fire_now()
    wait_for(lambda: len(functions.events["slow-sweep"]) == 1)
    rules.fire_now()
    functions.release.set()
    functions.invoker.wait_idle(10)
    rules.fire_now()
    wait_for(lambda: len(functions.events["slow-sweep"]) == 2)
    assert [outcome for _, outcome in rules.firings] == ["delivered", "skipped-busy", "delivered"]


def test_lambda_invoke_api_runs_registered_functions_sync_and_async(functions: Functions) -> None:
    """Given a function registered with the local runtime only (moto's Lambda does not know it), when code
    calls lambda:Invoke through boto3, then Event invocations run it in the background (202) and
    RequestResponse ones return its result; unknown functions get ResourceNotFoundException."""
    functions.add("labeling")
    api = install_lambda_api(functions.registry, functions.invoker)
    try:
        client = boto3.client("lambda", region_name=REGION)
        accepted = client.invoke(
            FunctionName="labeling",
            InvocationType="Event",
            Payload=json.dumps({"action": "finish", "job_name": "j"}),
        )
        assert accepted["StatusCode"] == 202
        wait_for(lambda: functions.events["labeling"] == [{"action": "finish", "job_name": "j"}])
        answered = client.invoke(
            FunctionName=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:labeling", Payload=json.dumps({"n": 1})
        )
        assert answered["StatusCode"] == 200 and "FunctionError" not in answered
        assert json.loads(answered["Payload"].read()) == {"handled": {"n": 1}}
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.invoke(FunctionName="missing", InvocationType="Event", Payload=b"{}")
    finally:
        api.uninstall()


def test_lambda_invoke_api_reports_function_errors_like_lambda(functions: Functions) -> None:
    def broken(event: Any, context: Any) -> None:
        raise ValueError("no such job")

    functions.registry.register("broken", broken)
    api = install_lambda_api(functions.registry, functions.invoker)
    try:
        client = boto3.client("lambda", region_name=REGION)
        answered = client.invoke(FunctionName="broken", Payload=b"{}")
        assert answered["FunctionError"] == "Unhandled"
        payload = json.loads(answered["Payload"].read())
        assert payload["errorType"] == "ValueError" and payload["errorMessage"] == "no such job"
    finally:
        api.uninstall()
