"""A private Ground Truth workteam backed by a Cognito user pool this stack creates."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.constructs.user_pool import team_user_pool


class PrivateWorkteam(Construct):
    """Cognito user pool (MFA, strong passwords, e-mail invitations), a worker group and the workteam.

    The first Cognito workteam in an account also creates the account's private workforce.
    """

    def __init__(self, scope: Construct, construct_id: str, *, worker_emails: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.user_pool = team_user_pool(self, "Workers", mfa=cognito.Mfa.REQUIRED)
        self.client = self.user_pool.add_client(
            "WorkforceClient",
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=True),
                scopes=[cognito.OAuthScope.EMAIL, cognito.OAuthScope.OPENID, cognito.OAuthScope.PROFILE],
            ),
        )
        self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=f"gtpipe-{stack.account}"[:63]),
        )
        group = cognito.CfnUserPoolGroup(
            self, "LabelersGroup", user_pool_id=self.user_pool.user_pool_id, group_name="labelers"
        )
        for index, email in enumerate(worker_emails):
            user = cognito.CfnUserPoolUser(
                self,
                f"Worker{index}",
                user_pool_id=self.user_pool.user_pool_id,
                username=email,
                desired_delivery_mediums=["EMAIL"],
                user_attributes=[cognito.CfnUserPoolUser.AttributeTypeProperty(name="email", value=email)],
            )
            attachment = cognito.CfnUserPoolUserToGroupAttachment(
                self,
                f"Worker{index}Group",
                user_pool_id=self.user_pool.user_pool_id,
                group_name=group.group_name or "labelers",
                username=email,
            )
            attachment.add_resource_dependency(user)
            attachment.add_resource_dependency(group)
        self.workteam = sagemaker.CfnWorkteam(
            self,
            "Workteam",
            workteam_name=f"{stack.stack_name}-labelers"[:63],
            description="gtpipe labeling team",
            member_definitions=[
                sagemaker.CfnWorkteam.MemberDefinitionProperty(
                    cognito_member_definition=sagemaker.CfnWorkteam.CognitoMemberDefinitionProperty(
                        cognito_user_pool=self.user_pool.user_pool_id,
                        cognito_client_id=self.client.user_pool_client_id,
                        cognito_user_group="labelers",
                    )
                )
            ],
        )
        self.workteam.add_resource_dependency(group)
        self.workteam_arn = self.workteam.attr_workteam_arn
