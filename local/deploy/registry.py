"""The registry: each emulated resource type and its handler, one module per resource family.

:data:`EMULATED_TYPES` is the declared list (documentation and the CLI read it); :data:`HANDLERS` is what
the families implement, and a test holds the two equal. To emulate a new type, add its handler to its
family's ``HANDLERS`` (or a new family module listed in :data:`FAMILIES`) and its name here.
"""

from __future__ import annotations

from typing import Any, Final

from . import (
    api_keys,
    apigateway,
    cloudwatch,
    cognito,
    dynamodb,
    events,
    functions,
    kms,
    messaging,
    s3,
    sagemaker,
    state_machines,
)
from .context import Handler
from .not_emulated import NATIVE_CUSTOM_RESOURCES, NOT_EMULATED

FAMILIES: Final = (
    kms,
    s3,
    dynamodb,
    messaging,
    functions,
    state_machines,
    events,
    apigateway,
    api_keys,
    sagemaker,
    cognito,
    cloudwatch,
)

HANDLERS: Final[dict[str, Handler]] = {
    resource_type: handler for family in FAMILIES for resource_type, handler in family.HANDLERS.items()
}
"""Resource type -> handler (a :class:`~local.deploy.LocalDeployer` starts from a copy)."""


def describe_support() -> dict[str, Any]:
    """What the local deployment does with each resource type (for docs and the CLI)."""
    return {
        "emulated": sorted(EMULATED_TYPES),
        "not_emulated": {name: spec.reason for name, spec in sorted(NOT_EMULATED.items())},
        "custom_resources": dict(NATIVE_CUSTOM_RESOURCES),
    }


EMULATED_TYPES: Final[frozenset[str]] = frozenset(
    {
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        "AWS::S3::Bucket",
        "Custom::S3BucketNotifications",
        "AWS::DynamoDB::Table",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
        "AWS::SQS::Queue",
        "AWS::Lambda::Function",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::StepFunctions::StateMachine",
        "AWS::Events::Rule",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Resource",
        "AWS::ApiGateway::Method",
        "AWS::ApiGateway::RequestValidator",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
        "AWS::ApiGateway::ApiKey",
        "AWS::ApiGateway::UsagePlan",
        "AWS::ApiGateway::UsagePlanKey",
        "AWS::ApiGateway::Authorizer",
        "AWS::ApiGateway::Account",
        "AWS::SageMaker::Workteam",
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolGroup",
        "AWS::Cognito::UserPoolUser",
        "AWS::Cognito::UserPoolUserToGroupAttachment",
        "AWS::CloudWatch::Alarm",
    }
)
"""Types the deployer creates with local behaviour (a test holds it equal to :data:`HANDLERS`)."""
