"""A regional REST API with one throttled, traced stage that writes JSON access logs to an encrypted group."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import PipelineConfig

ACCESS_LOGS_ID = "ApiAccessLogs"


def logged_rest_api(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    config: PipelineConfig,
    stage_name: str,
    **options: Any,
) -> apigateway.RestApi:
    """A REST API `construct_id` in ``scope`` (its access log group is ``scope``'s `ApiAccessLogs`).

    The stage is throttled at gtpipe:apiRateLimit / apiBurstLimit and traced with X-Ray; no execution
    logging (that needs the account-wide API Gateway CloudWatch role, see infra/nag.py) and no CloudWatch
    role. ``options`` are RestApi's (name, description, binary media types, ...).
    """
    access_logs = logs.LogGroup(
        scope,
        ACCESS_LOGS_ID,
        retention=logs.RetentionDays.SIX_MONTHS,
        encryption_key=key,
        removal_policy=RemovalPolicy.DESTROY,
    )
    return apigateway.RestApi(
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
