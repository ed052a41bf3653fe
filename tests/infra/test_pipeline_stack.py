"""The pipeline stack: Lambdas, state machine, rules, API, alarms and outputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match
from moto.events.models import EventPattern

from tests.infra.conftest import Synthesized
from tests.pipeline.sample_config import bundled_label_categories

FUNCTIONS = {
    "start_run.handler.lambda_handler": {
        "STATE_MACHINE_ARN",
        "RUNS_TABLE",
        "IDEMPOTENCY_TABLE",
        "TOPIC_ARN",
        "DATA_BUCKET",
        "PIPELINE_CONFIG",
    },
    "split.handler.lambda_handler": {"DATA_BUCKET"},
    "evaluate.handler.lambda_handler": {"DATA_BUCKET"},
    "notify.handler.lambda_handler": {"RUNS_TABLE", "TOPIC_ARN"},
    "endpoint.handler.lambda_handler": {"TASK_TOKEN_TABLE", "ENDPOINT_ALARM_NAMES"},
    "job_status.handler.lambda_handler": {"RUNS_TABLE", "TOPIC_ARN"},
    "predict.handler.lambda_handler": {"RUNS_TABLE", "DATA_BUCKET", "CAPTURE_CONFIG"},
    "feedback.handler.lambda_handler": {"DATA_BUCKET"},
    "uploads.handler.lambda_handler": {"DATA_BUCKET", "DATA_KEY_ARN"},
    "report.handler.lambda_handler": {"DATA_BUCKET", "RUNS_TABLE", "LABELING_PRICES", "MPLCONFIGDIR"},
    "registry.handler.lambda_handler": {
        "RUNS_TABLE",
        "TASK_TOKEN_TABLE",
        "MODEL_PACKAGE_GROUP_PREFIX",
        "TASK_TOKEN_TTL_SECONDS",
        "DEPLOY_CONFIG",
    },
}
ASYNC_HANDLERS = {
    "start_run.handler.lambda_handler",
    "endpoint.handler.lambda_handler",
    "job_status.handler.lambda_handler",
    "registry.handler.lambda_handler",
}


def functions_by_handler(synth: Synthesized) -> dict[str, dict[str, Any]]:
    found = synth.main.find_resources("AWS::Lambda::Function")
    return {f["Properties"]["Handler"]: f["Properties"] for f in found.values()}


def test_every_function_is_python312_traced_with_powertools_and_its_environment(synth: Synthesized) -> None:
    functions = functions_by_handler(synth)
    assert set(functions) == set(FUNCTIONS)
    for handler, props in functions.items():
        assert props["Runtime"] == "python3.12", handler
        assert props["TracingConfig"] == {"Mode": "Active"}, handler
        assert "AWSLambdaPowertoolsPythonV3-python312-x86_64" in json.dumps(props["Layers"]), handler
        env = props["Environment"]["Variables"]
        assert FUNCTIONS[handler] <= set(env), handler
        assert env["POWERTOOLS_SERVICE_NAME"] == "gtpipe"
        assert "KmsKeyArn" in props, handler
        assert ("DeadLetterConfig" in props) == (handler in ASYNC_HANDLERS), handler
    assert functions["split.handler.lambda_handler"]["Timeout"] == 900
    assert functions["split.handler.lambda_handler"]["MemorySize"] == 1024
    assert functions["split.handler.lambda_handler"]["EphemeralStorage"] == {"Size": 2048}


def test_pipeline_config_reaches_start_run(synth: Synthesized) -> None:
    env = functions_by_handler(synth)["start_run.handler.lambda_handler"]["Environment"]["Variables"]
    rendered = json.dumps(env["PIPELINE_CONFIG"])
    # The class list is bundled with the function's code, not in its 4 KB environment (issue 14, finding 4).
    assert "label_categories" not in rendered
    for key in (
        "quality_threshold",
        "heartbeat_seconds",
        "pre_human_task_lambda_arn",
        "PRE-ImageMultiClass",
        "ACS-ImageMultiClass",
        "image-classification:1",
    ):
        assert key in rendered


def test_state_machine_is_standard_logged_traced_and_loaded_from_the_asl_file(synth: Synthesized) -> None:
    synth.main.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
        },
    )
    machine = next(iter(synth.main.find_resources("AWS::StepFunctions::StateMachine").values()))
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    assert set(substitutions) == {
        "KmsKeyArn",
        "SageMakerRoleArn",
        "DataBucketName",
        "SplitFunctionArn",
        "EvaluateFunctionArn",
        "NotifyFunctionArn",
        "EndpointFunctionArn",
        "ReportFunctionArn",
        "LabelingFunctionArn",
        "RegistryFunctionArn",
        "LabelErrorsFunctionArn",
    }


def test_rules_have_retries_and_dead_letter_queues(synth: Synthesized) -> None:
    rules = synth.main.find_resources("AWS::Events::Rule")
    assert len(rules) == 4
    for logical_id, rule in rules.items():
        for target in rule["Properties"]["Targets"]:
            assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 7200, "MaximumRetryAttempts": 8}, (
                logical_id
            )
            assert "DeadLetterConfig" in target, logical_id


def rule_pattern(synth: Synthesized, description_fragment: str) -> dict[str, Any]:
    for rule in synth.main.find_resources("AWS::Events::Rule").values():
        if description_fragment in rule["Properties"]["Description"]:
            return resolve_bucket(synth, rule["Properties"]["EventPattern"])
    raise AssertionError(f"no rule described as {description_fragment!r}")


def resolve_bucket(synth: Synthesized, pattern: Any) -> Any:
    """Replace the cross-stack bucket reference with the sample events' bucket name."""
    if isinstance(pattern, dict):
        if "Fn::ImportValue" in pattern:
            return "gtpipe-data-bucket"
        return {key: resolve_bucket(synth, value) for key, value in pattern.items()}
    if isinstance(pattern, list):
        return [resolve_bucket(synth, value) for value in pattern]
    return pattern


@pytest.mark.parametrize(
    ("change", "matches"),
    [
        ({}, True),
        ({("detail", "object", "key"): "incoming/team-a/batch-7.jsonl"}, True),
        ({("detail", "object", "key"): "incoming/demo.manifest.txt"}, False),
        ({("detail", "object", "key"): "images/demo.manifest"}, False),
        ({("detail", "bucket", "name"): "someone-elses-bucket"}, False),
        ({("detail-type",): "Object Deleted"}, False),
    ],
)
def test_manifest_rule_matches_dropped_manifests_only(
    synth: Synthesized,
    load_event: Callable[[str], dict[str, Any]],
    change: dict[tuple[str, ...], str],
    matches: bool,
) -> None:
    event = load_event("s3_object_created_manifest.json")
    for path, value in change.items():
        target = event
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    pattern = EventPattern.load(json.dumps(rule_pattern(synth, "manifest dropped")))
    assert pattern.matches_event(event) is matches


def test_endpoint_rule_matches_only_this_stacks_endpoint(
    synth: Synthesized, load_event: Callable[[str], dict[str, Any]]
) -> None:
    event = load_event("sagemaker_endpoint_in_service.json")
    pattern = EventPattern.load(json.dumps(rule_pattern(synth, "task token")))
    assert pattern.matches_event(event)
    event["detail"]["EndpointName"] = "another-endpoint"
    assert not pattern.matches_event(event)


def test_model_package_rule_matches_only_this_stacks_groups(
    synth: Synthesized, load_event: Callable[[str], dict[str, Any]]
) -> None:
    # Given the model package rule and a package decision event of this stack's group prefix
    pattern = EventPattern.load(json.dumps(rule_pattern(synth, "model packages")))
    event = load_event("sagemaker_model_package_rejected.json")
    # Then it matches, and a group of another stack or project does not
    assert pattern.matches_event(event)
    event["detail"]["ModelPackageGroupName"] = "someone-elses-models"
    assert not pattern.matches_event(event)
    event["detail"]["ModelPackageGroupName"] = "gtpipex-models-0123"
    assert not pattern.matches_event(event)


def test_job_status_rule_matches_sagemaker_job_events_not_others(
    synth: Synthesized, load_event: Callable[[str], dict[str, Any]]
) -> None:
    pattern = EventPattern.load(json.dumps(rule_pattern(synth, "runs ledger")))
    event = load_event("sagemaker_training_job_failed.json")
    assert pattern.matches_event(event)
    event["detail-type"] = "SageMaker HyperParameter Tuning Job State Change"
    assert not pattern.matches_event(event)
    assert not pattern.matches_event(load_event("s3_object_created_manifest.json"))


def test_api_is_iam_authenticated_binary_throttled_logged_and_validated(synth: Synthesized) -> None:
    synth.main.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"BinaryMediaTypes": ["image/jpeg", "image/png", "application/x-image"]}
    )
    synth.main.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationType": "AWS_IAM",
            "RequestParameters": {
                "method.request.header.Content-Type": True,
                "method.request.querystring.min_confidence": False,
            },
            "RequestValidatorId": Match.any_value(),
            "Integration": Match.object_like({"Type": "AWS_PROXY"}),
        },
    )
    synth.main.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "v1",
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": [Match.object_like({"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100})],
        },
    )
    synth.main.resource_count_is("AWS::ApiGateway::ApiKey", 0)


def test_api_key_mode_creates_key_and_usage_plan(synth_api_key: Synthesized) -> None:
    synth_api_key.main.has_resource_properties(
        "AWS::ApiGateway::Method", {"HttpMethod": "POST", "AuthorizationType": "NONE", "ApiKeyRequired": True}
    )
    synth_api_key.main.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    synth_api_key.main.has_resource_properties(
        "AWS::ApiGateway::UsagePlan", {"Throttle": {"RateLimit": 50, "BurstLimit": 100}}
    )
    # An existing workteam: the stack creates no Cognito pool of its own.
    synth_api_key.main.resource_count_is("AWS::Cognito::UserPool", 0)


def test_default_workforce_is_a_private_cognito_workteam(synth: Synthesized) -> None:
    synth.main.has_resource_properties("AWS::Cognito::UserPool", {"MfaConfiguration": "ON"})
    synth.main.has_resource_properties(
        "AWS::SageMaker::Workteam",
        {
            "MemberDefinitions": [
                {"CognitoMemberDefinition": Match.object_like({"CognitoUserGroup": "labelers"})}
            ]
        },
    )


def test_alarms_notify_and_dashboard_exists(synth: Synthesized) -> None:
    alarms = synth.main.find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 4
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"], alarm
    names = {a["Properties"].get("AlarmName") for a in alarms.values()}
    assert {"Gtpipe-endpoint-invocation-errors", "Gtpipe-endpoint-5xx"} <= names
    synth.main.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_topic_is_encrypted(synth: Synthesized) -> None:
    synth.main.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    synth.main.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )


def test_outputs(synth: Synthesized) -> None:
    outputs = synth.main.find_outputs("*")
    for name in (
        "DataBucketName",
        "IncomingPrefix",
        "StateMachineArn",
        "ApiUrl",
        "RunsTableName",
        "NotificationTopicArn",
    ):
        assert name in outputs
    assert outputs["IncomingPrefix"]["Value"] == "incoming/"


def test_report_function_has_room_for_figures_and_the_matplotlib_layer(synth: Synthesized) -> None:
    report = functions_by_handler(synth)["report.handler.lambda_handler"]
    assert report["Timeout"] == 300
    assert json.loads(report["Environment"]["Variables"]["LABELING_PRICES"])["per_object_usd"] == 0.08
    assert report["MemorySize"] >= 1024
    assert report["EphemeralStorage"]["Size"] >= 1024
    # Powertools first, then the project's own layer (a LayerVersion of this stack, from build/layers).
    powertools, own = report["Layers"]
    assert "AWSLambdaPowertoolsPythonV3" in json.dumps(powertools)
    layers = synth.main.find_resources("AWS::Lambda::LayerVersion")
    # The stack's layers: the report's and predict's Pillow layer (tests/infra/test_uploads.py).
    assert sorted(layers) == sorted(
        [own["Ref"], *(lid for lid in layers if lid.startswith("ServingImageLayer"))]
    )
    assert len(layers) == 2
    layer = layers[own["Ref"]]["Properties"]
    assert layer["CompatibleRuntimes"] == ["python3.12"]
    assert layer["CompatibleArchitectures"] == ["x86_64"]
    # No other function carries the 40 MB layer.
    others = [h for h, props in functions_by_handler(synth).items() if own in props["Layers"]]
    assert others == ["report.handler.lambda_handler"]
    # And only predict carries another layer of the stack (Pillow).
    extra = [h for h, props in functions_by_handler(synth).items() if len(props["Layers"]) > 1]
    assert sorted(extra) == ["predict.handler.lambda_handler", "report.handler.lambda_handler"]


def test_labeling_prices_budget_and_reuse_reach_start_run(synth: Synthesized) -> None:
    env = functions_by_handler(synth)["start_run.handler.lambda_handler"]["Environment"]["Variables"]
    config = json.loads(resolve_json(env["PIPELINE_CONFIG"]))
    labeling = config["labeling"]
    # cdk.json sets no prices and no budget: the seed prices, no limit, no reuse
    assert labeling["prices"] == {
        "per_object_usd": 0.08,
        "per_answer_usd": {"image-classification": 0.012, "object-detection": 0.036},
        "per_machine_label_usd": 0.08,
    }
    # (CloudFormation JSON leaves nulls out; the function's config model reads a missing budget as none)
    assert labeling.get("budget_usd") is None
    assert labeling["reuse_model"] is False


def test_a_rollback_deploys_with_the_endpoint_settings_runs_deploy_with(synth: Synthesized) -> None:
    # Given the registry function's DEPLOY_CONFIG (gtpipe deploy --package) and start_run's PIPELINE_CONFIG
    functions = functions_by_handler(synth)
    deploy = json.loads(
        functions["registry.handler.lambda_handler"]["Environment"]["Variables"]["DEPLOY_CONFIG"]
    )
    start_env = functions["start_run.handler.lambda_handler"]["Environment"]["Variables"]
    config = json.loads(resolve_json(start_env["PIPELINE_CONFIG"]))
    # Then both carry the same task type and endpoint block (name, variant, instances, autoscaling, timeouts)
    assert deploy == {"task_type": config["task_type"], "endpoint": config["endpoint"]}


def resolve_json(value: Any) -> str:
    """The PIPELINE_CONFIG string with its CloudFormation references replaced by placeholders."""
    from tests.pipeline.sample_config import resolve_tokens

    return str(resolve_tokens(value))


@pytest.fixture(scope="module")
def synth_detection_with_reuse_and_budget() -> Synthesized:
    from tests.infra.conftest import synthesize

    return synthesize(
        taskType="object-detection",
        labelCategories=["bird"],
        labeling={"reuseModel": True, "workersPerObject": 2},
        labelingPrices={"perAnswerUsd": {"object-detection": 0.05}},
        labelingBudgetUsd=250,
    )


def test_object_detection_uses_bounding_box_lambdas_algorithm_and_auto_labeling(
    synth_detection_with_reuse_and_budget: Synthesized,
) -> None:
    synth = synth_detection_with_reuse_and_budget
    env = functions_by_handler(synth)["start_run.handler.lambda_handler"]["Environment"]["Variables"]
    rendered = json.dumps(env["PIPELINE_CONFIG"])
    for expected in (
        "PRE-BoundingBox",
        "ACS-BoundingBox",
        "object-detection:1",
        "labeling-job-algorithm-specification/object-detection",
    ):
        assert expected in rendered
    assert "ImageMultiClass" not in rendered and "image-classification:1" not in rendered
    config = json.loads(resolve_json(env["PIPELINE_CONFIG"]))
    # reuse turns automated labeling on; the prices and the budget travel with the config
    assert config["task_type"] == "object-detection"
    assert "label_categories" not in config and bundled_label_categories(synth) == ["bird"]
    assert config["labeling"]["auto_labeling"] is True and config["labeling"]["reuse_model"] is True
    assert config["labeling"]["prices"]["per_answer_usd"]["object-detection"] == 0.05
    assert config["labeling"]["budget_usd"] == 250
    # the SageMaker role may pull the object-detection image and run automated labeling's jobs
    roles = synth.main.find_resources("AWS::IAM::Policy")
    sagemaker_policy = json.dumps(
        [p for lid, p in roles.items() if lid.startswith("PipelineSageMakerExecutionRole")]
    )
    assert "repository/object-detection" in sagemaker_policy
    assert "AutomatedLabelingJobs" in sagemaker_policy
