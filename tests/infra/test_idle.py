"""gtpipe:endpoint.idleMinutes: off by default, bounded, and when on a scheduled parker with least-privilege
grants, predict's wake grants, and cdk-nag clean."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from infra.config import ConfigError, StackConfig
from infra.config_idle import MAX_IDLE_MINUTES, MIN_IDLE_MINUTES
from infra.constructs.idle import IDLE_CHECK_SCHEDULE
from infra.constructs.pipeline_grants import AUTOSCALING_ACTIONS, AUTOSCALING_ALARM_ACTIONS
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_security import as_list, policy_statements


def build(endpoint: dict[str, Any]) -> StackConfig:
    return StackConfig.from_context({"gtpipe:endpoint": endpoint}.get)


def test_idle_parking_is_off_by_default() -> None:
    # Given no idleMinutes / Then the endpoint is never parked (nothing reaches the execution config)
    config = build({"instanceType": "ml.m5.xlarge"})
    assert config.endpoint.idle_minutes is None
    assert "idle_minutes" not in config.endpoint.model_dump(mode="json")


def test_idle_minutes_are_read() -> None:
    assert build({"idleMinutes": 60}).endpoint.idle_minutes == 60
    assert build({"idleMinutes": "15"}).endpoint.idle_minutes == MIN_IDLE_MINUTES


@pytest.mark.parametrize("value", [0, 14, MAX_IDLE_MINUTES + 1, 30.5, "soon", True])
def test_out_of_bounds_idle_minutes_are_refused_naming_the_setting(value: Any) -> None:
    # Given an idle time under 15 minutes, over a week, fractional or not a number / Then synth refuses it
    with pytest.raises(ConfigError, match=r"gtpipe:endpoint\.idleMinutes"):
        build({"idleMinutes": value})


@pytest.fixture(scope="module")
def synth_idle() -> Synthesized:
    return synthesize(endpoint={"instanceType": "ml.m5.xlarge", "instanceCount": 1, "idleMinutes": 30})


def role_statements(synth: Synthesized, prefix: str) -> list[dict[str, Any]]:
    return [s for lid, s in policy_statements(synth.main) if lid.startswith(prefix)]


def test_the_parker_runs_on_a_schedule_with_its_idle_time(synth_idle: Synthesized) -> None:
    # Given idleMinutes 30 / Then one scheduled rule targets the idle function, which knows the idle time
    rules = synth_idle.main.find_resources(
        "AWS::Events::Rule", {"Properties": {"ScheduleExpression": IDLE_CHECK_SCHEDULE}}
    )
    functions = synth_idle.main.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Environment": {"Variables": Match.object_like({"IDLE_MINUTES": "30"})}}},
    )
    assert len(functions) == 1
    (rule,) = rules.values()
    assert next(iter(functions)) in json.dumps(rule["Properties"]["Targets"])


def test_the_parker_may_only_park_the_stacks_endpoint(synth_idle: Synthesized) -> None:
    statements = {s.get("Sid"): s for s in role_statements(synth_idle, "IdleIdleFunctionRole")}
    # Then DescribeEndpoint/DeleteEndpoint on the one endpoint, never CreateEndpoint or UpdateEndpoint
    assert set(as_list(statements["ParkEndpoint"]["Action"])) == {
        "sagemaker:DescribeEndpoint",
        "sagemaker:DeleteEndpoint",
    }
    assert "endpoint/gtpipe-endpoint" in json.dumps(statements["ParkEndpoint"]["Resource"])
    actions = {a for s in statements.values() for a in as_list(s["Action"])}
    assert (
        not {"sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint", "sagemaker:DeleteEndpointConfig"}
        & actions
    )
    # and GetMetricData, which has no resource-level permissions, is its only grant on *
    star = {a for s in statements.values() if s["Resource"] == "*" for a in as_list(s["Action"])}
    assert "cloudwatch:GetMetricData" in star
    # besides the auto scaling calls the endpoint function makes too (no resource-level permissions either)
    allowed = {"cloudwatch:GetMetricData", *AUTOSCALING_ACTIONS, *AUTOSCALING_ALARM_ACTIONS}
    assert star - allowed <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_predict_may_wake_only_the_stacks_endpoint(synth_idle: Synthesized, synth: Synthesized) -> None:
    # Given idle parking on / Then predict may describe and create the one endpoint
    statements = {s.get("Sid"): s for s in role_statements(synth_idle, "ServingPredictFunctionRole")}
    wake = statements["WakeParkedEndpoint"]
    assert set(as_list(wake["Action"])) == {"sagemaker:DescribeEndpoint", "sagemaker:CreateEndpoint"}
    assert "endpoint/gtpipe-endpoint" in json.dumps(wake["Resource"])
    # and without it, predict has neither grant and no parker exists
    actions = {a for s in role_statements(synth, "ServingPredictFunctionRole") for a in as_list(s["Action"])}
    assert "sagemaker:CreateEndpoint" not in actions
    assert not [lid for lid in synth.main.find_resources("AWS::Lambda::Function") if lid.startswith("Idle")]


def test_cdk_nag_is_clean_with_idle_parking(synth_idle: Synthesized) -> None:
    for stack in (synth_idle.stateful, synth_idle.pipeline):
        annotations = Annotations.from_stack(stack)
        errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert errors == [] and warnings == [], [e.entry.data for e in errors + warnings][:5]
