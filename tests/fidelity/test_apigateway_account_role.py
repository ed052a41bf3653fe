"""Finding 2: REST API stages with access logging need the region's API Gateway CloudWatch Logs role.

AWS: a fresh account or region has none, and CloudFormation fails the stage with "CloudWatch Logs role ARN must
be set in account settings to enable logging"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html#set-up-access-logging-permissions).
The stack sets it with one AWS::ApiGateway::Account that every stage depends on (gtpipe:apiGateway.accountRole
"create", the default), or leaves it to the account ("existing").
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from local.cloud import CloudSettings, LocalCloud
from local.fidelity import API_LOGGING_REFUSED, DeployRejected, api_gateway_logging_role
from tests.fidelity.conftest import ENV, Clients, deploy
from tests.infra.conftest import Synthesized, synthesize

LOG_GROUP_ARN = f"arn:aws:logs:{ENV.region}:{ENV.account_id}:log-group:access-logs"
FUNCTION_URI = (
    f"arn:aws:apigateway:{ENV.region}:lambda:path/2015-03-31/functions/"
    f"arn:aws:lambda:{ENV.region}:{ENV.account_id}:function:predict/invocations"
)


@pytest.fixture(scope="module")
def synth_existing_role() -> Synthesized:
    return synthesize(apiGateway={"accountRole": "existing"})


def one(synth: Synthesized, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = synth.main.find_resources(resource_type)
    assert len(found) == 1, found
    name, resource = next(iter(found.items()))
    return name, copy.deepcopy(dict(resource))


def api_with_stage(synth: Synthesized, *, account: bool = True, depends_on: bool = True) -> dict[str, Any]:
    """The synthesized account role, account setting and prediction API stage, on a minimal API (one proxy
    method) with the stage's access log destination as an ARN. ``account``/``depends_on`` False reintroduce
    the bug (no account setting; no DependsOn on it)."""
    stage_id, synthesized = next(iter(synth.main.find_resources("AWS::ApiGateway::Stage").items()))
    stage: dict[str, Any] = copy.deepcopy(dict(synthesized))
    assert stage["Properties"]["AccessLogSetting"]["DestinationArn"]
    stage["Properties"].update(
        RestApiId={"Ref": "Api"},
        DeploymentId={"Ref": "Deployment"},
        AccessLogSetting={**stage["Properties"]["AccessLogSetting"], "DestinationArn": LOG_GROUP_ARN},
    )
    resources: dict[str, Any] = {}
    # As synthesized: the stack's account setting and its role, if it has them.
    for account_id, account_resource in synth.main.find_resources("AWS::ApiGateway::Account").items():
        if not account:
            continue
        role_id = account_resource["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
        resources[role_id] = copy.deepcopy(synth.main.to_json()["Resources"][role_id])
        resources[account_id] = copy.deepcopy(account_resource)
    kept = [d for d in stage.get("DependsOn", []) if d in resources and depends_on]
    stage["DependsOn"] = kept
    resources.update(
        {
            # The stage first in template order: only DependsOn puts the account setting before it.
            stage_id: stage,
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "api"}},
            "Get": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                    "HttpMethod": "GET",
                    "AuthorizationType": "NONE",
                    "Integration": {"Type": "AWS_PROXY", "Uri": FUNCTION_URI},
                },
            },
            "Deployment": {
                "Type": "AWS::ApiGateway::Deployment",
                "Properties": {"RestApiId": {"Ref": "Api"}},
                "DependsOn": ["Get"],
            },
        }
    )
    return {stage_id: resources.pop(stage_id), **resources}


def test_every_stage_depends_on_the_retained_account_setting(synth: Synthesized) -> None:
    # Given the default configuration (accountRole "create")
    account_id, account = one(synth, "AWS::ApiGateway::Account")
    # Then the account setting and its role are retained (other APIs of the region use them too)
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = synth.main.to_json()["Resources"][role_id]
    assert account["DeletionPolicy"] == role["DeletionPolicy"] == "Retain"
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in str(role["Properties"]["ManagedPolicyArns"])
    # And every stage waits for it
    for stage in synth.main.find_resources("AWS::ApiGateway::Stage").values():
        assert account_id in stage["DependsOn"]


def test_the_builtin_labeling_api_shares_the_one_account_setting() -> None:
    # Given the builtin backend: two REST APIs in the stack
    synth = synthesize(labelingBackend="builtin")
    stages = synth.main.find_resources("AWS::ApiGateway::Stage")
    assert len(stages) == 2
    # Then one account setting (a second would overwrite the first), and both stages depend on it
    account_id, _ = one(synth, "AWS::ApiGateway::Account")
    assert all(account_id in stage["DependsOn"] for stage in stages.values())


def test_the_stage_deploys_on_a_fresh_account_and_sets_the_role(
    tmp_path: Path, clients: Clients, synth: Synthesized
) -> None:
    # Given a fresh account (no API Gateway CloudWatch Logs role) and the stack as synthesized
    assert api_gateway_logging_role(clients) is None
    # When it is deployed
    deployment = deploy(tmp_path, clients, api_with_stage(synth))
    # Then the stage was created and the region's API Gateway account now has the role
    assert any(s.resource_type == "AWS::ApiGateway::Stage" for s in deployment.stacks["S"].resources.values())
    assert api_gateway_logging_role(clients) == f"arn:aws:iam::{ENV.account_id}:role/" + next(
        name
        for name in deployment.stacks["S"].resources
        if name.startswith("ApiGatewayAccountCloudWatchRole")
    )


def test_a_stage_with_access_logging_fails_on_a_fresh_account_as_on_aws(
    tmp_path: Path, clients: Clients, synth: Synthesized
) -> None:
    # Given the stack before the fix: no AWS::ApiGateway::Account, on a fresh account
    resources = api_with_stage(synth, account=False)
    # When it is deployed
    # Then the stage fails with API Gateway's error
    with pytest.raises(DeployRejected) as raised:
        deploy(tmp_path, clients, resources)
    assert "(AWS::ApiGateway::Stage) failed" in str(raised.value)
    assert API_LOGGING_REFUSED in str(raised.value)


def test_a_stage_that_does_not_wait_for_the_account_setting_is_refused(
    tmp_path: Path, clients: Clients, synth: Synthesized
) -> None:
    # Given the account setting in the stack but no DependsOn from the stage (CloudFormation runs both at once)
    resources = api_with_stage(synth, depends_on=False)
    # When it is deployed
    # Then the stage is refused, naming the account resource it must wait for
    with pytest.raises(DeployRejected, match="does not depend on it"):
        deploy(tmp_path, clients, resources)


def test_existing_account_role_needs_the_role_already_set(
    tmp_path: Path, clients: Clients, synth_existing_role: Synthesized
) -> None:
    # Given accountRole "existing": the stack leaves the account setting alone
    synth_existing_role.main.resource_count_is("AWS::ApiGateway::Account", 0)
    resources = api_with_stage(synth_existing_role, account=False)
    # When it is deployed to a fresh account, it fails as on AWS
    with pytest.raises(DeployRejected, match=API_LOGGING_REFUSED):
        deploy(tmp_path, clients, resources)


def test_existing_account_role_deploys_where_the_local_cloud_starts_with_the_role(
    tmp_path: Path, clients: Clients, synth_existing_role: Synthesized
) -> None:
    # Given a local cloud configured to start with the account's role set (CloudSettings)
    cloud = LocalCloud(CloudSettings(state_dir=tmp_path / "cloud", api_gateway_logging_role=True))
    cloud.client = clients  # type: ignore[method-assign,assignment]
    cloud._prepare_account()
    assert api_gateway_logging_role(clients)
    # When the stack with accountRole "existing" is deployed
    deployment = deploy(tmp_path, clients, api_with_stage(synth_existing_role, account=False))
    # Then the stage was created
    assert any(s.resource_type == "AWS::ApiGateway::Stage" for s in deployment.stacks["S"].resources.values())
