"""A regional REST API with one throttled, traced stage that writes JSON access logs to an encrypted group.

Access logging needs the region's API Gateway CloudWatch Logs role (``AWS::ApiGateway::Account``
``CloudWatchRoleArn``): a fresh account or region has none, and CloudFormation fails the stage with "CloudWatch
Logs role ARN must be set in account settings to enable logging"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html#set-up-access-logging-permissions).
With ``gtpipe:apiGateway.accountRole`` ``create`` (default) the stack sets it once (:func:`api_gateway_account`)
and every stage depends on it; ``existing`` leaves the account setting alone.

The setting is one per account and region, shared by every REST API there: the stack's role replaces any role
set before (same AWS managed policy, so other APIs keep logging), and both the role and the setting are
retained when the stack is deleted, so other APIs never lose their logging with it
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-account.html).
CDK's ``cloudWatchRole: true`` would add one ``CfnAccount`` per API; this stack has two APIs, so one is shared.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StackConfig

ACCESS_LOGS_ID = "ApiAccessLogs"
ACCOUNT_ID = "ApiGatewayAccount"
PUSH_TO_CLOUDWATCH_LOGS = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def api_gateway_account(scope: Construct, config: StackConfig) -> apigateway.CfnAccount | None:
    """The stack's one ``AWS::ApiGateway::Account`` (created on first use, see the module docstring), or None
    with ``gtpipe:apiGateway.accountRole`` ``existing``."""
    if config.api_gateway_account_role != "create":
        return None
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(ACCOUNT_ID)
    if isinstance(existing, Construct):
        account = existing.node.find_child("Resource")
        assert isinstance(account, apigateway.CfnAccount)
        return account
    holder = Construct(stack, ACCOUNT_ID)
    role = iam.Role(
        holder,
        "CloudWatchRole",
        description="API Gateway: write REST API access logs to CloudWatch Logs (account-wide, this region)",
        assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(PUSH_TO_CLOUDWATCH_LOGS)],
    )
    role.apply_removal_policy(RemovalPolicy.RETAIN)
    account = apigateway.CfnAccount(holder, "Resource", cloud_watch_role_arn=role.role_arn)
    account.apply_removal_policy(RemovalPolicy.RETAIN)
    return account


def logged_rest_api(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    config: StackConfig,
    stage_name: str,
    **options: Any,
) -> apigateway.RestApi:
    """A REST API `construct_id` in ``scope`` (its access log group is ``scope``'s `ApiAccessLogs`).

    The stage is throttled at gtpipe:apiRateLimit / apiBurstLimit and traced with X-Ray; no execution
    logging (see infra/nag.py). Its access logging needs the region's API Gateway CloudWatch Logs role: the
    stage depends on :func:`api_gateway_account` (CloudFormation would otherwise create both at once).
    ``options`` are RestApi's (name, description, binary media types, ...).
    """
    access_logs = logs.LogGroup(
        scope,
        ACCESS_LOGS_ID,
        retention=logs.RetentionDays.SIX_MONTHS,
        encryption_key=key,
        removal_policy=RemovalPolicy.DESTROY,
    )
    api = apigateway.RestApi(
        scope,
        construct_id,
        endpoint_types=[apigateway.EndpointType.REGIONAL],
        cloud_watch_role=False,
        deploy_options=apigateway.StageOptions(
            stage_name=stage_name,
            throttling_rate_limit=config.api_rate_limit,
            throttling_burst_limit=config.api_burst_limit,
            tracing_enabled=True,
            access_log_destination=apigateway.LogGroupLogDestination(access_logs),
            access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                caller=True,
                http_method=True,
                ip=True,
                protocol=True,
                request_time=True,
                resource_path=True,
                response_length=True,
                status=True,
                user=True,
            ),
        ),
        **options,
    )
    account = api_gateway_account(scope, config)
    if account is not None:
        api.deployment_stage.node.add_dependency(account)
    return api
