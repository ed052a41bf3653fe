"""The builtin labeling service's infrastructure (gtpipe:labelingBackend "builtin")."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_security import as_list, object_prefixes, policy_statements, role_statements
from tests.pipeline.sample_config import bundled_label_categories, resolve_tokens

LABELING_FUNCTIONS = {
    "labeling.handler.lambda_handler": {"LABELING_TABLE", "RUNS_TABLE", "DATA_BUCKET"},
    "labeling_api.handler.lambda_handler": {
        "LABELING_TABLE",
        "RUNS_TABLE",
        "DATA_BUCKET",
        "LABELING_FUNCTION_NAME",
        "IMAGE_URL_SECONDS",
        "IMAGE_BUCKETS",
    },
    "labeling_web.handler.lambda_handler": {"USER_POOL_ID", "USER_POOL_CLIENT_ID", "COGNITO_ENDPOINT"},
}
API_METHODS = {
    ("GET", "/api/jobs"),
    ("POST", "/api/jobs/{job}/lease"),
    ("POST", "/api/jobs/{job}/tasks/{index}/answer"),
    ("POST", "/api/jobs/{job}/tasks/{index}/release"),
    ("GET", "/api/jobs/{job}/progress"),
}
STATIC_METHODS = {("GET", "/"), ("GET", "/config.json"), ("GET", "/app/{file+}")}


def functions(synth: Synthesized) -> dict[str, tuple[str, dict[str, Any]]]:
    found = synth.main.find_resources("AWS::Lambda::Function")
    return {f["Properties"]["Handler"]: (lid, f["Properties"]) for lid, f in found.items()}


def methods_by_path(synth: Synthesized) -> dict[tuple[str, str], dict[str, Any]]:
    """The labeling API's methods keyed by (HTTP method, resource path)."""
    apis = synth.main.find_resources("AWS::ApiGateway::RestApi")
    (api_id,) = [lid for lid in apis if lid.startswith("LabelingLabelingApi")]
    resources = synth.main.find_resources("AWS::ApiGateway::Resource")

    def path(resource_ref: Any) -> str:
        if "Fn::GetAtt" in resource_ref:
            return ""
        props = resources[resource_ref["Ref"]]["Properties"]
        return f"{path(props['ParentId'])}/{props['PathPart']}"

    methods = {}
    for method in synth.main.find_resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        if props["RestApiId"] != {"Ref": api_id} or props["HttpMethod"] == "OPTIONS":
            continue
        methods[(props["HttpMethod"], path(props["ResourceId"]) or "/")] = props
    return methods


def test_team_pool_is_invite_only_with_email_sign_in_strong_passwords_and_optional_totp(
    synth_builtin: Synthesized,
) -> None:
    synth_builtin.main.resource_count_is("AWS::Cognito::UserPool", 1)
    synth_builtin.main.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": Match.object_like(
                {
                    "AllowAdminCreateUserOnly": True,
                    "InviteMessageTemplate": Match.object_like(
                        {"EmailMessage": Match.string_like_regexp(r"\{username\}.*\{####\}")}
                    ),
                }
            ),
            "UsernameAttributes": ["email"],
            "MfaConfiguration": "OPTIONAL",
            "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
            "Policies": {
                "PasswordPolicy": Match.object_like(
                    {
                        "MinimumLength": 12,
                        "RequireLowercase": True,
                        "RequireUppercase": True,
                        "RequireNumbers": True,
                        "RequireSymbols": True,
                    }
                )
            },
            "UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED"},
        },
    )
    # No Ground Truth workteam: the builtin backend has its own team
    synth_builtin.main.resource_count_is("AWS::SageMaker::Workteam", 0)


def test_team_members_are_invited_once_and_attached_to_their_groups(synth_builtin: Synthesized) -> None:
    groups = synth_builtin.main.find_resources("AWS::Cognito::UserPoolGroup")
    assert sorted(g["Properties"]["GroupName"] for g in groups.values()) == ["labelers", "labeling-admins"]
    users = synth_builtin.main.find_resources("AWS::Cognito::UserPoolUser")
    # ann is in both lists: one user, two groups
    assert sorted(u["Properties"]["Username"] for u in users.values()) == [
        "ann@example.com",
        "bo@example.com",
        "cy@example.com",
    ]
    for user in users.values():
        assert user["Properties"]["DesiredDeliveryMediums"] == ["EMAIL"]
    attachments = synth_builtin.main.find_resources("AWS::Cognito::UserPoolUserToGroupAttachment")
    pairs = {(a["Properties"]["Username"], a["Properties"]["GroupName"]) for a in attachments.values()}
    assert pairs == {
        ("ann@example.com", "labelers"),
        ("bo@example.com", "labelers"),
        ("ann@example.com", "labeling-admins"),
        ("cy@example.com", "labeling-admins"),
    }


def team_logical_ids(synth: Synthesized) -> dict[tuple[str, str], str]:
    """Logical id of every team user (keyed ``(email, "user")``) and group attachment (``(email, group)``)."""
    ids = {
        (user["Properties"]["Username"], "user"): logical_id
        for logical_id, user in synth.main.find_resources("AWS::Cognito::UserPoolUser").items()
    }
    attachments = synth.main.find_resources("AWS::Cognito::UserPoolUserToGroupAttachment")
    for logical_id, attachment in attachments.items():
        ids[(attachment["Properties"]["Username"], attachment["Properties"]["GroupName"])] = logical_id
    return ids


def test_user_ids_do_not_depend_on_list_order(synth_builtin: Synthesized) -> None:
    # Given the team of synth_builtin (labelers ann, bo; admins ann, cy)
    before = team_logical_ids(synth_builtin)
    # When bo is removed and both lists are reordered
    after = team_logical_ids(
        synthesize(
            labelingBackend="builtin",
            labelingTeam={"labelers": ["ann@example.com"], "admins": ["cy@example.com", "ann@example.com"]},
        )
    )
    # Then ann and cy keep the logical ids of their users and group attachments: CloudFormation does not
    # replace (delete and re-invite) anyone
    assert set(after) == {
        ("ann@example.com", "user"),
        ("cy@example.com", "user"),
        ("ann@example.com", "labelers"),
        ("ann@example.com", "labeling-admins"),
        ("cy@example.com", "labeling-admins"),
    }
    assert after == {key: before[key] for key in after}
    # and distinct people get distinct ids
    assert len(set(before.values())) == len(before)


def test_web_client_is_public_password_auth_only_with_short_tokens(synth_builtin: Synthesized) -> None:
    (client,) = synth_builtin.main.find_resources("AWS::Cognito::UserPoolClient").values()
    props = client["Properties"]
    assert props.get("GenerateSecret", False) is False
    assert sorted(props["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"]
    assert "AllowedOAuthFlows" not in props and props.get("AllowedOAuthFlowsUserPoolClient") is not True
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    assert props["IdTokenValidity"] <= 60 and props["AccessTokenValidity"] <= 60
    assert props["TokenValidityUnits"]["IdToken"] == "minutes"
    assert props["RefreshTokenValidity"] <= 24 * 60


def test_labeling_functions_have_the_contract_environment(synth_builtin: Synthesized) -> None:
    found = functions(synth_builtin)
    for handler, names in LABELING_FUNCTIONS.items():
        _, props = found[handler]
        env = props["Environment"]["Variables"]
        assert names <= set(env), handler
        assert props["Runtime"] == "python3.12" and "KmsKeyArn" in props
    labeling_id, labeling = found["labeling.handler.lambda_handler"]
    # sweep and finish arrive asynchronously: failed events are kept
    assert "DeadLetterConfig" in labeling and labeling["Timeout"] == 900
    api_env = found["labeling_api.handler.lambda_handler"][1]["Environment"]["Variables"]
    assert api_env["LABELING_FUNCTION_NAME"] == {"Ref": labeling_id}
    assert api_env["IMAGE_URL_SECONDS"] == "300"
    assert "LabelingTable" in json.dumps(api_env["LABELING_TABLE"])
    web_env = found["labeling_web.handler.lambda_handler"][1]["Environment"]["Variables"]
    assert resolve_tokens(web_env["COGNITO_ENDPOINT"]) == "https://cognito-idp.us-east-1.amazonaws.com/"
    assert "LabelingTeam" in json.dumps(web_env["USER_POOL_ID"])


def test_api_methods_need_a_cognito_token_and_the_static_app_does_not(synth_builtin: Synthesized) -> None:
    methods = methods_by_path(synth_builtin)
    assert set(methods) == API_METHODS | STATIC_METHODS
    (authorizer_id,) = synth_builtin.main.find_resources("AWS::ApiGateway::Authorizer")
    synth_builtin.main.has_resource_properties(
        "AWS::ApiGateway::Authorizer",
        {"Type": "COGNITO_USER_POOLS", "IdentitySource": "method.request.header.Authorization"},
    )
    found = functions(synth_builtin)
    api_fn, web_fn = (
        found["labeling_api.handler.lambda_handler"][0],
        found["labeling_web.handler.lambda_handler"][0],
    )
    for key in API_METHODS:
        props = methods[key]
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS", key
        assert props["AuthorizerId"] == {"Ref": authorizer_id}, key
        assert props["RequestValidatorId"], key
        assert api_fn in json.dumps(props["Integration"]["Uri"]), key
        assert props["Integration"]["Type"] == "AWS_PROXY"
    for key in STATIC_METHODS:
        props = methods[key]
        assert props["AuthorizationType"] == "NONE" and "AuthorizerId" not in props, key
        assert web_fn in json.dumps(props["Integration"]["Uri"]), key
    answer = methods[("POST", "/api/jobs/{job}/tasks/{index}/answer")]
    assert answer["RequestParameters"] == {
        "method.request.header.Authorization": True,
        "method.request.path.job": True,
        "method.request.path.index": True,
    }


def test_api_stage_is_prod_regional_throttled_traced_and_logged(synth_builtin: Synthesized) -> None:
    synth_builtin.main.has_resource_properties(
        "AWS::ApiGateway::RestApi",
        {"Name": "GtpipePipeline-labeling", "EndpointConfiguration": {"Types": ["REGIONAL"]}},
    )
    synth_builtin.main.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "prod",
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like(
                {"DestinationArn": Match.any_value(), "Format": Match.string_like_regexp("requestId")}
            ),
            "MethodSettings": [Match.object_like({"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100})],
        },
    )


def test_sweep_runs_every_five_minutes_with_retries_and_a_dead_letter_queue(
    synth_builtin: Synthesized,
) -> None:
    rules = synth_builtin.main.find_resources("AWS::Events::Rule")
    (sweep,) = [r["Properties"] for r in rules.values() if "ScheduleExpression" in r["Properties"]]
    assert sweep["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = sweep["Targets"]
    assert json.loads(target["Input"]) == {"action": "sweep"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert "DeadLetterConfig" in target
    labeling_id = functions(synth_builtin)["labeling.handler.lambda_handler"][0]
    assert labeling_id in json.dumps(target["Arn"])


def test_labeling_function_grants(synth_builtin: Synthesized) -> None:
    statements = role_statements(synth_builtin, "LabelingLabelingFunctionRole")
    actions = {a for s in statements for a in as_list(s["Action"])}
    # manifests and images in, Ground Truth's output layout out (under labeling/ only)
    assert object_prefixes(statements, "s3:GetObject") == {"incoming/", "images/", "labeling/"}
    assert object_prefixes(statements, "s3:PutObject") == {"labeling/"}
    tokens = next(s for s in statements if s.get("Sid") == "AnswerLabelingTaskToken")
    assert set(as_list(tokens["Action"])) == {
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:SendTaskHeartbeat",
    }
    assert ":stateMachine:Gtpipe-pipeline" in json.dumps(tokens["Resource"])
    assert not any(a.startswith(("sagemaker:", "iam:", "sns:", "lambda:")) for a in actions)
    assert_tables(statements)
    assert "dynamodb:BatchWriteItem" in by_table_actions(statements)["LabelingTable"]


def by_table_actions(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Actions per table (`LabelingTable`, `LabelingTable/index/open-jobs`, `RunsTable`)."""
    by_table: dict[str, set[str]] = {}
    for statement in statements:
        for resource in as_list(statement["Resource"]):
            rendered = json.dumps(resource)
            for table in ("LabelingTable", "RunsTable"):
                if table in rendered:
                    key = table + ("/index/open-jobs" if "/index/open-jobs" in rendered else "")
                    by_table.setdefault(key, set()).update(a for a in as_list(statement["Action"]))
    return by_table


def assert_tables(statements: list[dict[str, Any]]) -> None:
    """Tasks table read/write (and its open-jobs index); the runs table's one item read and updated."""
    by_table = by_table_actions(statements)
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"} <= by_table["LabelingTable"]
    assert by_table["LabelingTable/index/open-jobs"] == {"dynamodb:Query"}
    assert by_table["RunsTable"] == {"dynamodb:GetItem", "dynamodb:UpdateItem"}


def test_labeling_api_grants(synth_builtin: Synthesized) -> None:
    statements = role_statements(synth_builtin, "LabelingLabelingApiFunctionRole")
    actions = {a for s in statements for a in as_list(s["Action"])}
    # presigned image URLs only: reads what a manifest may name (no prefix grant), writes nothing to the bucket
    assert object_prefixes(statements, "s3:GetObject") == set()
    presign = next(s for s in statements if s.get("Sid") == "PresignManifestImages")
    assert "StorageDataBucket" in json.dumps(presign["Resource"])
    assert not any(a.startswith("s3:Put") for a in actions)
    assert {a for a in actions if a.startswith("kms:")} == {"kms:Decrypt", "kms:DescribeKey"}
    invoke = next(s for s in statements if "lambda:InvokeFunction" in as_list(s["Action"]))
    assert "LabelingLabelingFunction" in json.dumps(invoke["Resource"])
    assert not any(a.startswith(("states:", "sagemaker:", "iam:", "sns:")) for a in actions)
    assert_tables(statements)


def test_labeling_web_function_may_only_write_its_logs(synth_builtin: Synthesized) -> None:
    statements = role_statements(synth_builtin, "LabelingLabelingWebFunctionRole")
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert actions <= {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


def test_state_machine_invokes_the_labeling_function(synth_builtin: Synthesized) -> None:
    labeling_id = functions(synth_builtin)["labeling.handler.lambda_handler"][0]
    (machine,) = synth_builtin.main.find_resources("AWS::StepFunctions::StateMachine").values()
    substitution = machine["Properties"]["DefinitionSubstitutions"]["LabelingFunctionArn"]
    assert substitution == {"Fn::GetAtt": [labeling_id, "Arn"]}
    machine_role = role_statements(synth_builtin, "PipelineStateMachineRole")
    invoke = next(s for s in machine_role if "lambda:InvokeFunction" in as_list(s["Action"]))
    assert labeling_id in json.dumps(invoke["Resource"])


def test_outputs_and_execution_config(synth_builtin: Synthesized) -> None:
    outputs = synth_builtin.main.find_outputs("*")
    for name in ("LabelingUrl", "LabelingUserPoolId", "LabelingUserPoolClientId"):
        assert name in outputs
    url = resolve_tokens(outputs["LabelingUrl"]["Value"])
    # the stage URL (https://<api>.execute-api.<region>.<suffix>/<stage>/): relative app URLs resolve under it
    assert url.startswith("https://") and ".execute-api.us-east-1.amazonaws.com/" in url
    assert url.endswith("deploymentstagepr/")
    _, start_run = functions(synth_builtin)["start_run.handler.lambda_handler"]
    config = json.loads(str(resolve_tokens(start_run["Environment"]["Variables"]["PIPELINE_CONFIG"])))
    labeling = config["labeling"]
    assert labeling["backend"] == "builtin"
    # the class names are added by start_run (the environment stays within Lambda's 4 KB)
    # and the class list comes from the label category file bundled with start_run's code (finding 4)
    assert "class_names" not in labeling and "label_categories" not in config
    assert len(bundled_label_categories(synth_builtin)) >= 2
    assert labeling["lease_seconds"] == labeling["task_time_limit_seconds"] == 300
    assert labeling["min_labeled_share"] == 0.9
    assert "category" in labeling["instructions"]
    assert labeling["workteam_arn"] == ""


def test_ground_truth_default_has_no_labeling_service(synth: Synthesized) -> None:
    # Given the default backend: no team pool of the service, no labeling functions, no schedule, no outputs
    handlers = set(functions(synth))
    assert not handlers & set(LABELING_FUNCTIONS)
    groups = synth.main.find_resources("AWS::Cognito::UserPoolGroup")
    assert [g["Properties"]["GroupName"] for g in groups.values()] == ["labelers"]
    assert synth.main.find_resources("AWS::ApiGateway::Authorizer") == {}
    assert not any(lid.startswith("Labeling") for lid in synth.main.to_json()["Resources"])
    assert not {"LabelingUrl", "LabelingUserPoolId"} & set(synth.main.find_outputs("*"))
    # The definition's LabelingFunctionArn is a named placeholder the state machine may not even invoke
    (machine,) = synth.main.find_resources("AWS::StepFunctions::StateMachine").values()
    placeholder = str(resolve_tokens(machine["Properties"]["DefinitionSubstitutions"]["LabelingFunctionArn"]))
    assert (
        placeholder == "arn:aws:lambda:us-east-1:123456789012:function:gtpipe-builtin-labeling-not-deployed"
    )
    invoked = json.dumps(
        [
            s["Resource"]
            for _, s in policy_statements(synth.main)
            if "lambda:InvokeFunction" in as_list(s["Action"])
        ]
    )
    assert "not-deployed" not in invoked
