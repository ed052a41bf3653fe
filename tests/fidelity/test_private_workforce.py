"""Finding 3: an account has one private workforce per region, bound to one Cognito user pool.

AWS: the first Cognito workteam of a region creates the private workforce from its user pool; a workteam on
another pool fails (ValidationException), and CreateWorkforce fails where a workforce exists
(https://docs.aws.amazon.com/sagemaker/latest/dg/API_CreateWorkforce.html). gtpipe:workforce.existingWorkforce
joins the existing workforce's pool instead. The Cognito domain prefix of a new pool is global per region
(lowercase letters, digits, hyphens, at most 63; the CloudFormation AWS::Cognito::UserPoolDomain pattern), so it
carries the stack name and the stack id's UUID.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError
from infra.constructs.workforce import DOMAIN_RESERVED_WORDS, domain_prefix_base
from local.cfn import TemplateResolver
from local.cloud import CloudSettings, LocalCloud
from local.fidelity import AccountState, DeployRejected, PrivateWorkforce
from tests.fidelity.conftest import ENV, Clients, deploy
from tests.infra.conftest import Synthesized, synthesize

EXISTING_POOL = "us-east-1_Existing1"
EXISTING_CLIENT = "existingclient1"
COGNITO_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?$")


@pytest.fixture(scope="module")
def synth_joining() -> Synthesized:
    return synthesize(
        workforce={
            "type": "create-private",
            "workerEmails": ["ann@example.com"],
            "existingWorkforce": {"userPool": EXISTING_POOL, "userPoolClient": EXISTING_CLIENT},
        }
    )


def workforce_resources(synth: Synthesized) -> dict[str, Any]:
    """The pipeline stack's workforce construct: pool, client, domain, group, users, workteam."""
    resources = synth.main.to_json()["Resources"]
    found = {name: copy.deepcopy(r) for name, r in resources.items() if name.startswith("Workforce")}
    assert any(r["Type"] == "AWS::SageMaker::Workteam" for r in found.values())
    return found


def existing_workforce(clients: Clients) -> PrivateWorkforce:
    """A workforce made before this stack, on a pool of its own (as LocalCloud's CloudSettings makes it)."""
    cognito = clients("cognito-idp")
    pool = cognito.create_user_pool(PoolName="existing-private-workforce")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=pool, ClientName="workforce")
    return PrivateWorkforce(user_pool=pool, client_id=client["UserPoolClient"]["ClientId"])


def test_the_domain_prefix_follows_cognitos_rules_and_differs_per_stack(synth: Synthesized) -> None:
    # Given the synthesized domain: the stack name and the first group of the stack id's UUID
    (domain,) = synth.main.find_resources("AWS::Cognito::UserPoolDomain").values()
    resolver = TemplateResolver({"Resources": {}}, stack_name="GtpipePipeline", environment=ENV)
    stack_id = f"arn:aws:cloudformation:{ENV.region}:{ENV.account_id}:stack/GtpipePipeline/3f2a1b4c-1111-2222-3333-444455556666"
    value = json.loads(
        json.dumps(domain["Properties"]["Domain"]).replace('{"Ref": "AWS::StackId"}', json.dumps(stack_id))
    )
    prefix = resolver.resolve(value)
    # Then it is a valid prefix, unique to this stack in this account and region
    assert prefix == "gtpipepipeline-3f2a1b4c"
    assert COGNITO_DOMAIN.match(prefix)
    # And another deployment of the same stack name in the same account gets another prefix
    other = json.loads(json.dumps(value).replace("3f2a1b4c", "9d8e7f60"))
    assert resolver.resolve(other) != prefix


@pytest.mark.parametrize(
    "stack_name", ["GtpipePipeline", "AwsAmazonCognitoPipeline", "acognitowsPipe", "X" * 200, "Aws"]
)
def test_the_synth_time_part_has_no_reserved_word_and_fits(stack_name: str) -> None:
    base = domain_prefix_base(stack_name)
    prefix = f"{base}-3f2a1b4c"
    assert COGNITO_DOMAIN.match(prefix) and len(prefix) <= 63
    assert not any(word in prefix for word in DOMAIN_RESERVED_WORDS)


def test_a_fresh_account_gets_its_workforce_from_the_first_workteam(
    tmp_path: Path, clients: Clients, synth: Synthesized
) -> None:
    # Given a fresh account (no private workforce) and the default workforce (a new user pool)
    account = AccountState()
    # When the workforce construct is deployed
    deployment = deploy(tmp_path, clients, workforce_resources(synth), account=account)
    # Then the workteam created the region's workforce, bound to the stack's pool
    (pool_id,) = [n for n, r in workforce_resources(synth).items() if r["Type"] == "AWS::Cognito::UserPool"]
    assert account.private_workforce is not None
    assert account.private_workforce.user_pool == deployment.stacks["S"].resources[pool_id].ref


def test_a_new_user_pool_in_an_account_with_a_workforce_fails_as_on_aws(
    tmp_path: Path, clients: Clients, synth: Synthesized
) -> None:
    # Given an account whose region already has a private workforce (another pool)
    account = AccountState(private_workforce=existing_workforce(clients))
    # When the default workforce (before the fix: always a new pool) is deployed
    # Then the workteam fails with SageMaker's ValidationException
    with pytest.raises(DeployRejected) as raised:
        deploy(tmp_path, clients, workforce_resources(synth), account=account)
    assert "(AWS::SageMaker::Workteam) failed" in str(raised.value)
    assert "ValidationException" in str(raised.value)
    assert account.private_workforce.user_pool in str(raised.value)  # type: ignore[union-attr]


def test_joining_the_existing_workforce_creates_no_pool_and_deploys(
    tmp_path: Path, clients: Clients, synth_joining: Synthesized
) -> None:
    # Given an account whose region has a private workforce, and gtpipe:workforce.existingWorkforce naming
    # its pool and client (the synthesized ids are replaced by the local pool's)
    workforce = existing_workforce(clients)
    account = AccountState(private_workforce=workforce)
    text = json.dumps(workforce_resources(synth_joining))
    text = text.replace(EXISTING_POOL, workforce.user_pool).replace(EXISTING_CLIENT, workforce.client_id)
    # When it is deployed
    deploy(tmp_path, clients, json.loads(text), account=account)
    # Then the worker is in the stack's own group of the workforce's pool
    groups = clients("cognito-idp").admin_list_groups_for_user(
        UserPoolId=workforce.user_pool, Username="ann@example.com"
    )
    assert [g["GroupName"] for g in groups["Groups"]] == ["GtpipePipeline-labelers"]
    # And the stack has no pool, client or domain of its own
    for resource_type in (
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolDomain",
    ):
        synth_joining.main.resource_count_is(resource_type, 0)


def test_the_local_cloud_can_start_with_an_existing_workforce(tmp_path: Path, clients: Clients) -> None:
    # Given a local cloud configured with an existing workforce (CloudSettings)
    cloud = LocalCloud(CloudSettings(state_dir=tmp_path / "cloud", existing_private_workforce=True))
    cloud.client = clients  # type: ignore[method-assign,assignment]
    cloud._prepare_account()
    # Then the account has a workforce on a real local pool and client
    workforce = cloud.account.private_workforce
    assert workforce is not None
    client = clients("cognito-idp").describe_user_pool_client(
        UserPoolId=workforce.user_pool, ClientId=workforce.client_id
    )
    assert client["UserPoolClient"]["ClientName"] == "workforce"
    # And by default the local account is fresh
    assert LocalCloud(CloudSettings(state_dir=tmp_path / "fresh")).account.private_workforce is None


@pytest.mark.parametrize(
    "existing",
    [
        {"userPool": "not a pool", "userPoolClient": "abc"},
        {"userPool": EXISTING_POOL},
        {"userPool": EXISTING_POOL, "userPoolClient": "abc", "userGroup": "two words"},
        {"userPool": EXISTING_POOL, "userPoolClient": "abc", "clientSecret": "x"},
    ],
)
def test_existing_workforce_ids_are_validated_at_synth(existing: dict[str, Any]) -> None:
    from infra.config import StackConfig
    from tests.infra.conftest import project_context

    context = project_context(workforce={"type": "create-private", "existingWorkforce": existing})
    with pytest.raises(ConfigError, match="existingWorkforce"):
        StackConfig.from_context(context.get)
