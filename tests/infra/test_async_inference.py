"""gtpipe:asyncInference (issue 19, item 3): the setting, and what the templates get with it: the async routes,
topics, grants (least privilege, cdk-nag clean), the endpoint rule following both endpoints, the lifecycle rule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from infra.config import ConfigError, StackConfig
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_security import as_list, policy_statements

ASYNC = "gtpipe-endpoint-async"


def build(**context: Any) -> StackConfig:
    values = {f"gtpipe:{key}": value for key, value in context.items()}
    return StackConfig.from_context(values.get)


@pytest.fixture(scope="module")
def synth_async() -> Synthesized:
    return synthesize(asyncInference={"enabled": True, "minInstances": 0, "maxInstances": 2})


def test_async_inference_is_off_by_default_and_scales_to_zero_when_on() -> None:
    assert build().async_inference.enabled is False
    settings = build(asyncInference={"enabled": True}).async_inference
    # Given only enabled / Then the real-time instance type, zero to one instance, 4 at once, 900 s
    assert (settings.instance_type, settings.min_instances, settings.max_instances) == ("ml.m5.xlarge", 0, 1)
    assert (
        settings.max_concurrent_invocations_per_instance == 4 and settings.invocation_timeout_seconds == 900
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"enabled": True, "maxConcurency": 2}, "unknown keys maxConcurency"),
        ({"maxConcurrentInvocationsPerInstance": 1001}, "maxConcurrentInvocationsPerInstance"),
        ({"invocationTimeoutSeconds": 3601}, "invocationTimeoutSeconds"),
        ({"minInstances": 3, "maxInstances": 2}, "maxInstances"),
        ({"instanceType": "m5.large"}, "instanceType"),
    ],
)
def test_bad_settings_name_the_key(setting: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(asyncInference=setting)


def test_a_stack_prefix_too_long_for_the_async_endpoint_name_is_refused() -> None:
    # Given a prefix whose "<prefix>-endpoint-async" exceeds SageMaker's 63 characters
    with pytest.raises(ConfigError, match="stackPrefix"):
        build(stackPrefix="P" * 50, asyncInference={"enabled": True})


def test_default_stack_has_no_async_resources(synth: Synthesized) -> None:
    rendered = json.dumps(synth.main.to_json())
    assert "InvokeEndpointAsync" not in rendered and ASYNC not in rendered


def role_statements(synth: Synthesized, prefix: str) -> list[dict[str, Any]]:
    return [s for lid, s in policy_statements(synth.main) if lid.startswith(prefix)]


def granted(statements: list[dict[str, Any]], action: str) -> str:
    return json.dumps([s["Resource"] for s in statements if action in as_list(s["Action"])])


def test_predict_may_invoke_only_the_async_endpoint_and_read_only_its_records_and_results(
    synth_async: Synthesized,
) -> None:
    statements = role_statements(synth_async, "ServingPredictFunctionRole")
    invoke_async = granted(statements, "sagemaker:InvokeEndpointAsync")
    assert f"endpoint/{ASYNC}" in invoke_async and "*" not in invoke_async.replace("/*", "")
    puts, gets = granted(statements, "s3:PutObject"), granted(statements, "s3:GetObject")
    assert "/async/requests/*" in puts and "/async/output/*" not in puts
    for prefix in ("/async/requests/*", "/async/output/*", "/async/failure/*", "/uploads/*"):
        assert prefix in gets
    assert "s3:ListBucket" not in json.dumps(statements)


def test_sagemaker_role_writes_results_and_publishes_to_the_two_topics_only(synth_async: Synthesized) -> None:
    statements = role_statements(synth_async, "PipelineSageMakerExecutionRole")
    puts = granted(statements, "s3:PutObject")
    assert "/async/output/*" in puts and "/async/failure/*" in puts
    publish = [s for s in statements if "sns:Publish" in as_list(s["Action"])]
    assert len(publish) == 1 and len(as_list(publish[0]["Resource"])) == 2
    assert "AsyncInferenceSuccessTopic" in json.dumps(publish) and "AsyncInferenceErrorTopic" in json.dumps(
        publish
    )


def test_endpoint_function_manages_only_the_async_endpoint_and_its_configs(synth_async: Synthesized) -> None:
    statements = role_statements(synth_async, "PipelineEndpointFunctionRole")
    create_config = granted(statements, "sagemaker:CreateEndpointConfig")
    assert f"endpoint-config/{ASYNC}-*" in create_config
    create = granted(statements, "sagemaker:CreateEndpoint")
    assert f"endpoint/{ASYNC}" in create
    functions = synth_async.main.find_resources("AWS::Lambda::Function")
    env = next(f for lid, f in functions.items() if lid.startswith("PipelineEndpointFunction"))["Properties"]
    variables = env["Environment"]["Variables"]
    assert json.loads(variables["ASYNC_CONFIG"])["min_instances"] == 0
    assert variables["ASYNC_ENDPOINT_NAME"] == ASYNC


def test_the_endpoint_rule_follows_both_endpoints(synth_async: Synthesized) -> None:
    synth_async.main.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {"detail": {"EndpointName": ["gtpipe-endpoint", ASYNC]}, "source": ["aws.sagemaker"]}
            )
        },
    )


def test_routes_use_the_apis_auth_and_topics_are_encrypted(synth_async: Synthesized) -> None:
    methods = synth_async.main.find_resources("AWS::ApiGateway::Method")
    verbs = sorted(m["Properties"]["HttpMethod"] for m in methods.values())
    assert verbs.count("GET") >= 1
    assert all(
        m["Properties"]["AuthorizationType"] == "AWS_IAM"
        for m in methods.values()
        if m["Properties"]["HttpMethod"] != "OPTIONS"
    )
    resources = synth_async.main.find_resources("AWS::ApiGateway::Resource")
    assert {r["Properties"]["PathPart"] for r in resources.values()} >= {"async", "predictions", "{id}"}
    for topic in synth_async.main.find_resources("AWS::SNS::Topic").values():
        assert "KmsMasterKeyId" in topic["Properties"]


def test_async_records_and_results_expire(synth_async: Synthesized) -> None:
    rules = [
        rule
        for bucket in synth_async.data.find_resources("AWS::S3::Bucket").values()
        for rule in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
    ]
    assert next(rule for rule in rules if rule.get("Prefix") == "async/") == {
        "Id": "ExpireAsyncPredictions",
        "Prefix": "async/",
        "ExpirationInDays": 7,
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        "Status": "Enabled",
    }


def test_cdk_nag_is_clean_and_no_wildcard_actions_with_async_inference(synth_async: Synthesized) -> None:
    for stack in (synth_async.stateful, synth_async.pipeline):
        annotations = Annotations.from_stack(stack)
        errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert errors == [] and warnings == [], [e.entry.data for e in errors + warnings][:5]
    for logical_id, statement in policy_statements(synth_async.main):
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), (logical_id, action)
