"""The harvester in the templates: off by default; on, a scheduled function with least-privilege access to
captured/, images/feedback/, harvest/ and incoming/feedback- only, clean for cdk-nag (README "Model
lifecycle: harvest, relabel, retrain")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from infra.config import ConfigError, StackConfig
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_security import as_list, policy_statements

HARVEST = {"enabled": True, "budget": 50, "uncertainShare": 0.6, "sampleShare": 0.4}


def build(**context: Any) -> StackConfig:
    values = {f"gtpipe:{key}": value for key, value in context.items()}
    return StackConfig.from_context(values.get)


@pytest.fixture(scope="module")
def synth_harvest() -> Synthesized:
    return synthesize(harvest=HARVEST)


def harvest_functions(synth: Synthesized) -> dict[str, Any]:
    functions = synth.main.find_resources("AWS::Lambda::Function")
    return {lid: f for lid, f in functions.items() if f["Properties"]["Handler"].startswith("harvest.")}


def test_by_default_there_is_no_harvester(synth: Synthesized) -> None:
    # given the project's context (gtpipe:harvest unset), then no harvest function and no harvest rule
    assert harvest_functions(synth) == {}
    assert build().harvest.enabled is False


def test_enabled_the_harvester_runs_on_its_schedule_with_its_settings(synth_harvest: Synthesized) -> None:
    # given gtpipe:harvest enabled, then one function with the settings and a daily rule invoking it
    [(logical_id, function)] = harvest_functions(synth_harvest).items()
    variables = function["Properties"]["Environment"]["Variables"]
    assert json.loads(variables["HARVEST_CONFIG"]) == {
        "enabled": True,
        "schedule": "rate(1 day)",
        "budget": 50,
        "uncertain_share": 0.6,
        "sample_share": 0.4,
        "near_duplicate_bits": 4,
    }
    assert variables["CAPTURE_RETENTION_DAYS"] == "90"
    assert "ServingImageLayer" in json.dumps(function["Properties"]["Layers"])
    rules = synth_harvest.main.find_resources("AWS::Events::Rule")
    [rule] = [r for r in rules.values() if r["Properties"].get("ScheduleExpression") == "rate(1 day)"]
    [target] = rule["Properties"]["Targets"]
    assert logical_id in json.dumps(target["Arn"]) and "DeadLetterConfig" in target


def test_the_harvester_reaches_only_its_prefixes(synth_harvest: Synthesized) -> None:
    # given the harvest function's role
    statements = [
        s for lid, s in policy_statements(synth_harvest.main) if lid.startswith("HarvestHarvestFunction")
    ]
    actions = {a for s in statements for a in as_list(s["Action"])}
    # then no other service than S3, KMS, logs and X-Ray, and S3 only under its prefixes
    assert not any(a.startswith(("dynamodb:", "sagemaker:", "states:", "sns:")) for a in actions)
    by_action: dict[str, set[str]] = {}
    for statement in statements:
        for action in as_list(statement["Action"]):
            if action.startswith("s3:"):
                by_action.setdefault(action, set()).add(json.dumps(statement["Resource"]))
    assert set(by_action) == {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
    }
    rendered_put = " ".join(by_action["s3:PutObject"])
    for prefix in ("images/feedback/*", "harvest/*", "incoming/feedback-*"):
        assert prefix in rendered_put
    assert "incoming/*" not in rendered_put and "captured/*" not in rendered_put
    listing = next(s for s in statements if "s3:ListBucket" in as_list(s["Action"]))
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["captured/*"]}}


def test_cdk_nag_has_no_unsuppressed_findings_with_the_harvester(synth_harvest: Synthesized) -> None:
    annotations = Annotations.from_stack(synth_harvest.pipeline)
    errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert errors == [] and warnings == [], [e.entry.data for e in errors + warnings][:5]


@pytest.mark.parametrize(
    ("harvest", "message"),
    [
        ({"schedule": "rate(6 hours)"}, "rate(1 day) or rate(N days)"),
        ({"schedule": "cron(0 3 * * ? *)"}, "rate(1 day) or rate(N days)"),
        ({"uncertainShare": 0.9, "sampleShare": 0.2}, "at most 1"),
        ({"budget": 0}, "harvest.budget"),
        ({"nearDuplicateBits": 65}, "harvest.nearDuplicateBits"),
        ({"enable": True}, "unknown keys enable"),
    ],
)
def test_bad_harvest_settings_fail_synth_naming_the_key(harvest: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"gtpipe:harvest") as raised:
        build(harvest=harvest)
    assert message in str(raised.value)


def test_daily_schedules_are_accepted() -> None:
    assert build(harvest={"schedule": "rate(7 days)"}).harvest.schedule == "rate(7 days)"
