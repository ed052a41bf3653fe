"""Feedback capture in the templates: the /feedback route, the captured/ lifecycle rule, the functions'
least-privilege S3 access and the gtpipe:capture context (README "Feedback capture")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError, StackConfig
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_security import as_list, object_prefixes, policy_statements


def build(**context: Any) -> StackConfig:
    values = {f"gtpipe:{key}": value for key, value in context.items()}
    return StackConfig.from_context(values.get)


def capture_rule(synth: Synthesized) -> dict[str, Any]:
    buckets = synth.data.find_resources("AWS::S3::Bucket")
    rules = [
        rule
        for bucket in buckets.values()
        for rule in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
    ]
    return next(rule for rule in rules if rule.get("Prefix") == "captured/")


def test_captured_predictions_expire_after_the_retention(synth: Synthesized) -> None:
    assert capture_rule(synth) == {
        "Id": "ExpireCapturedPredictions",
        "Prefix": "captured/",
        "ExpirationInDays": 90,
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        "Status": "Enabled",
    }


def test_retention_and_capture_settings_come_from_the_context() -> None:
    custom = synthesize(capture={"retentionDays": 30, "confidenceThreshold": 0.75, "samplePercent": 0})
    assert capture_rule(custom)["ExpirationInDays"] == 30
    functions = custom.main.find_resources("AWS::Lambda::Function")
    predict = next(f for lid, f in functions.items() if lid.startswith("ServingPredictFunction"))
    config = json.loads(predict["Properties"]["Environment"]["Variables"]["CAPTURE_CONFIG"])
    assert config == {
        "enabled": True,
        "confidence_threshold": 0.75,
        "sample_percent": 0.0,
        "retention_days": 30,
    }


@pytest.mark.parametrize(
    ("which", "auth", "key"), [("synth", "AWS_IAM", False), ("synth_api_key", "NONE", True)]
)
def test_feedback_route_has_the_same_auth_as_predict(
    which: str, auth: str, key: bool, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(which)
    synth.main.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "feedback"})
    methods = synth.main.find_resources("AWS::ApiGateway::Method", {"Properties": {"HttpMethod": "POST"}})
    routes = {lid: m["Properties"] for lid, m in methods.items() if "feedback" in lid or "predict" in lid}
    assert len(routes) == 2
    for properties in routes.values():
        assert properties["AuthorizationType"] == auth and properties.get("ApiKeyRequired", False) is key
    feedback = next(p for lid, p in routes.items() if "feedback" in lid)
    assert "ServingFeedbackFunction" in json.dumps(feedback["Integration"]["Uri"])


def statements_of(synth: Synthesized, role_prefix: str) -> list[dict[str, Any]]:
    return [s for lid, s in policy_statements(synth.main) if lid.startswith(role_prefix)]


def test_feedback_function_gets_and_puts_only_captured_objects(synth: Synthesized) -> None:
    statements = statements_of(synth, "ServingFeedbackFunctionRole")
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert {a for a in actions if a.startswith("s3:")} == {"s3:GetObject", "s3:PutObject"}
    assert object_prefixes(statements, "s3:GetObject") == {"captured/"}
    assert object_prefixes(statements, "s3:PutObject") == {"captured/"}
    assert not any(a.startswith(("dynamodb:", "sagemaker:", "states:", "sns:")) for a in actions)
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= actions


def test_predict_and_feedback_know_the_bucket(synth: Synthesized) -> None:
    functions = synth.main.find_resources("AWS::Lambda::Function")
    for prefix in ("ServingPredictFunction", "ServingFeedbackFunction"):
        variables = next(f for lid, f in functions.items() if lid.startswith(prefix))["Properties"][
            "Environment"
        ]
        assert "StorageDataBucket" in json.dumps(variables["Variables"]["DATA_BUCKET"])


def test_capture_context_defaults_and_overrides() -> None:
    assert build().capture.model_dump() == {
        "enabled": True,
        "confidence_threshold": 0.6,
        "sample_percent": 5.0,
        "retention_days": 90,
    }
    custom = build(capture={"enabled": "false", "confidenceThreshold": "0.5", "samplePercent": 10})
    assert (custom.capture.enabled, custom.capture.confidence_threshold, custom.capture.sample_percent) == (
        False,
        0.5,
        10.0,
    )
    assert build(capture='{"retentionDays": 7}').capture.retention_days == 7


@pytest.mark.parametrize(
    ("capture", "message"),
    [
        ({"samplePercent": 150}, r"gtpipe:capture\.samplePercent must be between 0\.0 and 100\.0"),
        ({"confidenceThreshold": 2}, r"gtpipe:capture\.confidenceThreshold"),
        ({"retentionDays": 0}, r"gtpipe:capture\.retentionDays"),
        ({"retentionDays": 1.5}, r"gtpipe:capture\.retentionDays must be a whole number"),
        ({"enabled": "maybe"}, r"gtpipe:capture\.enabled must be true or false"),
        ({"sampleRate": 5}, r"gtpipe:capture has unknown keys sampleRate"),
        ("on", r"gtpipe:capture must be an object"),
    ],
)
def test_invalid_capture_settings_name_the_key(capture: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(capture=capture)
