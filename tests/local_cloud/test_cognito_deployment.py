"""The local deployer creates Cognito user pools, authorizers and scheduled rules in moto (fast, in process).

Given templates shaped like CDK's output for the builtin labeling service (user pool, app client, groups, a
user attached to a group, a REST API method behind a Cognito authorizer, a ``rate(5 minutes)`` rule), when
they are deployed, then the resources exist in moto with the template's settings, ``Ref``/``Fn::GetAtt``
answer moto's ids, and what cannot be emulated fails naming the resource.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.cfn import Environment, TemplateError
from local.deploy import LocalDeployer
from tests.local_cloud.test_template_resolver import _assembly

ENV = Environment()


def _team_resources(pool: dict[str, str]) -> dict[str, Any]:
    """The labeling team: its user pool, web client, ``labelers`` group and one member (Ada)."""
    return {
        "Team": {
            "Type": "AWS::Cognito::UserPool",
            "Properties": {
                "UserPoolName": "labeling-team",
                "UsernameAttributes": ["email"],
                "MfaConfiguration": "OPTIONAL",
                "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                "Policies": {"PasswordPolicy": {"MinimumLength": 12, "RequireSymbols": True}},
                "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            },
        },
        "Web": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "UserPoolId": pool,
                "ClientName": "labeling-web",
                "GenerateSecret": False,
                "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            },
        },
        "Labelers": {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {"UserPoolId": pool, "GroupName": "labelers", "Precedence": 1},
        },
        "Ada": {
            "Type": "AWS::Cognito::UserPoolUser",
            "Properties": {
                "UserPoolId": pool,
                "Username": "ada@example.com",
                "DesiredDeliveryMediums": ["EMAIL"],
                "UserAttributes": [{"Name": "email", "Value": "ada@example.com"}],
            },
        },
        "AdaLabels": {
            "Type": "AWS::Cognito::UserPoolUserToGroupAttachment",
            "Properties": {"UserPoolId": pool, "Username": {"Ref": "Ada"}, "GroupName": {"Ref": "Labelers"}},
        },
    }


def template(*, schedule: str = "rate(5 minutes)", authorizer: bool = True) -> dict[str, Any]:
    pool = {"Ref": "Team"}
    resources: dict[str, Any] = {
        **_team_resources(pool),
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "labeling"}},
        "Jobs": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": "jobs",
            },
        },
        "Sweep": {
            "Type": "AWS::Events::Rule",
            "Properties": {"ScheduleExpression": schedule, "State": "ENABLED"},
        },
    }
    method: dict[str, Any] = {
        "RestApiId": {"Ref": "Api"},
        "ResourceId": {"Ref": "Jobs"},
        "HttpMethod": "GET",
        "AuthorizationType": "COGNITO_USER_POOLS",
        "Integration": {"Type": "MOCK"},
    }
    if authorizer:
        resources["Authorizer"] = {
            "Type": "AWS::ApiGateway::Authorizer",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "Name": "team",
                "Type": "COGNITO_USER_POOLS",
                "IdentitySource": "method.request.header.Authorization",
                "ProviderARNs": [{"Fn::GetAtt": ["Team", "Arn"]}],
            },
        }
        method["AuthorizerId"] = {"Ref": "Authorizer"}
    resources["JobsGet"] = {"Type": "AWS::ApiGateway::Method", "Properties": method}
    return {
        "Resources": resources,
        "Outputs": {
            "PoolId": {"Value": pool},
            "PoolArn": {"Value": {"Fn::GetAtt": ["Team", "Arn"]}},
            "ProviderUrl": {"Value": {"Fn::GetAtt": ["Team", "ProviderURL"]}},
            "ClientId": {"Value": {"Ref": "Web"}},
            "Group": {"Value": {"Ref": "Labelers"}},
        },
    }


@pytest.fixture
def clients() -> Iterator[Any]:
    with mock_aws():
        made: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in made:
                made[service] = boto3.client(service, region_name=ENV.region)
            return made[service]

        yield client


def deploy(tmp_path: Path, clients: Any, stack: dict[str, Any]) -> Any:
    return LocalDeployer(clients, ENV, None, None, work_dir=tmp_path / "work").deploy(  # type: ignore[arg-type]
        _assembly(tmp_path, stack)
    )


def test_user_pool_client_group_and_user_are_created_in_moto(tmp_path: Path, clients: Any) -> None:
    deployment = deploy(tmp_path, clients, template())
    outputs = deployment.stacks["S"].outputs
    cognito = clients("cognito-idp")
    pool = cognito.describe_user_pool(UserPoolId=outputs["PoolId"])["UserPool"]
    assert pool["Name"] == "labeling-team" and pool["Arn"] == outputs["PoolArn"]
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert outputs["ProviderUrl"] == f"https://cognito-idp.us-east-1.amazonaws.com/{outputs['PoolId']}"
    client = cognito.describe_user_pool_client(UserPoolId=outputs["PoolId"], ClientId=outputs["ClientId"])
    assert client["UserPoolClient"]["ExplicitAuthFlows"] == [
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    ]
    assert outputs["Group"] == "labelers"
    members = cognito.list_users_in_group(UserPoolId=outputs["PoolId"], GroupName="labelers")["Users"]
    emails = [a["Value"] for user in members for a in user["Attributes"] if a["Name"] == "email"]
    assert emails == ["ada@example.com"]
    assert "EnabledMfas" in deployment.stacks["S"].not_emulated["Team"]


def test_cognito_authorizer_and_method_are_modeled_for_the_local_gateway(
    tmp_path: Path, clients: Any
) -> None:
    deployment = deploy(tmp_path, clients, template())
    (api,) = deployment.apis.values()
    (authorizer,) = api.authorizers.values()
    assert authorizer.provider_arns == (deployment.stacks["S"].outputs["PoolArn"],)
    assert authorizer.header == "authorization"
    method = api.methods[("/jobs", "GET")]
    assert method.authorization_type == "COGNITO_USER_POOLS" and method.authorizer_id == authorizer.id
    stored = clients("apigateway").get_authorizer(restApiId=api.id, authorizerId=authorizer.id)
    assert stored["type"] == "COGNITO_USER_POOLS"


def test_scheduled_rules_are_stored_with_their_schedule(tmp_path: Path, clients: Any) -> None:
    deployment = deploy(tmp_path, clients, template())
    name = deployment.stacks["S"].resources["Sweep"].ref
    assert clients("events").describe_rule(Name=name)["ScheduleExpression"] == "rate(5 minutes)"


@pytest.mark.parametrize(
    ("stack", "problem"),
    [
        (
            template(schedule="cron(0 12 * * ? *)"),
            r"Sweep: schedule .* cron expressions are not fired locally",
        ),
        (template(authorizer=False), r"JobsGet: COGNITO_USER_POOLS needs the AuthorizerId"),
    ],
)
def test_what_cannot_be_emulated_fails_naming_the_resource(
    tmp_path: Path, clients: Any, stack: dict[str, Any], problem: str
) -> None:
    with pytest.raises(TemplateError, match=problem):
        deploy(tmp_path, clients, stack)
