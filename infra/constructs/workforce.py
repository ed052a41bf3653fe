"""A private Ground Truth workteam: on a Cognito user pool this stack creates, or in the existing workforce.

An account has at most one private workforce per region, bound to one Cognito user pool and app client
(https://docs.aws.amazon.com/sagemaker/latest/dg/API_CreateWorkforce.html). The first Cognito workteam of a
region creates it from the workteam's pool; a Cognito workforce corresponds to a single user pool
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Workforce.html), so a workteam on another pool
is refused. So:

- no ``existingWorkforce`` (a region without a private workforce): a new pool, its app client and hosted-UI
  domain, a worker group, and the workteam, which creates the region's workforce;
- ``existingWorkforce`` (``userPool``/``userPoolClient`` of ``aws sagemaker describe-workforce
  --workforce-name default``): the workers and a group of this stack in that pool, and the workteam; no pool,
  client or domain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Fn, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.config_workforce import ExistingWorkforce
from infra.constructs.user_pool import team_user_pool

# Cognito prefix domains are global per region (every account shares the amazoncognito.com names): at most 63
# lowercase letters, digits and hyphens, no hyphen first or last, and the words aws, amazon and cognito are
# reserved (CloudFormation AWS::Cognito::UserPoolDomain Domain pattern; the Cognito prefix-domain rules).
DOMAIN_RESERVED_WORDS = ("amazon", "cognito", "aws")
_STACK_ID_PART_LENGTH = 8


def domain_prefix_base(stack_name: str) -> str:
    """The synth-time part of the domain prefix: the stack name in lowercase letters and digits, reserved
    words removed, at most 54 characters (the prefix adds ``-`` and 8 hex digits)."""
    base = re.sub(r"[^a-z0-9]", "", stack_name.lower())
    while True:
        stripped = base
        for word in DOMAIN_RESERVED_WORDS:
            stripped = stripped.replace(word, "")
        if stripped == base:
            break
        base = stripped
    return (base or "gtpipe")[: 63 - 1 - _STACK_ID_PART_LENGTH]


def domain_prefix(stack: Stack) -> str:
    """``<stack name>-<8 hex digits of the stack id>``: the stack id's UUID is unique to this stack in this
    account and region, so two deployments (two stacks, two accounts or two regions) never collide; it is
    stable across updates (a token resolved by CloudFormation: stacks here are environment-agnostic)."""
    stack_uuid = Fn.select(2, Fn.split("/", stack.stack_id))
    return f"{domain_prefix_base(stack.stack_name)}-{Fn.select(0, Fn.split('-', stack_uuid))}"


class PrivateWorkteam(Construct):
    """The worker group and users, and the workteam; with no ``existing_workforce`` also the Cognito user pool
    (MFA, strong passwords, e-mail invitations), its app client and domain (see the module docstring)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        worker_emails: Sequence[str],
        existing_workforce: ExistingWorkforce | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        if existing_workforce is None:
            user_pool = team_user_pool(self, "Workers", mfa=cognito.Mfa.REQUIRED)
            client = user_pool.add_client(
                "WorkforceClient",
                generate_secret=True,
                o_auth=cognito.OAuthSettings(
                    flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=True),
                    scopes=[cognito.OAuthScope.EMAIL, cognito.OAuthScope.OPENID, cognito.OAuthScope.PROFILE],
                ),
            )
            user_pool.add_domain(
                "Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix(stack))
            )
            self.user_pool_id = user_pool.user_pool_id
            self.client_id = client.user_pool_client_id
            group_name = "labelers"
        else:
            self.user_pool_id = existing_workforce.user_pool
            self.client_id = existing_workforce.user_pool_client
            # A group of this stack in the shared pool: another deployment's team stays separate.
            group_name = existing_workforce.user_group or f"{stack.stack_name}-labelers"[:128]
        group: cognito.CfnUserPoolGroup | None = None
        if existing_workforce is None or existing_workforce.user_group is None:
            group = cognito.CfnUserPoolGroup(
                self, "LabelersGroup", user_pool_id=self.user_pool_id, group_name=group_name
            )
        for index, email in enumerate(worker_emails):
            user = cognito.CfnUserPoolUser(
                self,
                f"Worker{index}",
                user_pool_id=self.user_pool_id,
                username=email,
                desired_delivery_mediums=["EMAIL"],
                user_attributes=[cognito.CfnUserPoolUser.AttributeTypeProperty(name="email", value=email)],
            )
            attachment = cognito.CfnUserPoolUserToGroupAttachment(
                self,
                f"Worker{index}Group",
                user_pool_id=self.user_pool_id,
                group_name=group_name,
                username=email,
            )
            attachment.add_resource_dependency(user)
            if group is not None:
                attachment.add_resource_dependency(group)
        self.workteam = sagemaker.CfnWorkteam(
            self,
            "Workteam",
            workteam_name=f"{stack.stack_name}-labelers"[:63],
            description="gtpipe labeling team",
            member_definitions=[
                sagemaker.CfnWorkteam.MemberDefinitionProperty(
                    cognito_member_definition=sagemaker.CfnWorkteam.CognitoMemberDefinitionProperty(
                        cognito_user_pool=self.user_pool_id,
                        cognito_client_id=self.client_id,
                        cognito_user_group=group_name,
                    )
                )
            ],
        )
        if group is not None:
            self.workteam.add_resource_dependency(group)
        self.workteam_arn = self.workteam.attr_workteam_arn
