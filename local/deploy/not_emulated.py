"""Resource types the local cloud accepts without emulating them, and why; CDK custom resources whose effect
the deployer applies itself."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ..cfn import Environment
from .context import aws_arn


@dataclass(frozen=True)
class NotEmulated:
    """A resource type accepted without local behaviour: why, and what it answers to Ref/GetAtt."""

    reason: str
    ref: Callable[[str, dict[str, Any], Environment], str]
    attributes: Callable[[str, dict[str, Any], Environment], dict[str, Any]] = lambda name, props, env: {}


_IAM_NOT_ENFORCED = (
    "no IAM API locally: the role's identity policies are recorded (local/iam_roles.py) and enforced on every "
    "request its principal signs (local/iam_auth.py)"
)
_RESOURCE_POLICY = (
    "not evaluated on requests clients sign (the TLS-only statements would deny the plain-HTTP loopback "
    "endpoint); queue and topic policies are recorded and evaluated for service deliveries (local/iam_resource.py)"
)
_COGNITO_DOMAIN = (
    "hosted UI domains are not served locally (the Ground Truth portal is simulated; the builtin labeling app "
    "signs in through the cognito-idp API)"
)

NOT_EMULATED: Final[dict[str, NotEmulated]] = {
    "AWS::CDK::Metadata": NotEmulated("CDK version analytics for AWS", lambda n, p, e: n),
    "AWS::IAM::Role": NotEmulated(
        _IAM_NOT_ENFORCED,
        lambda n, p, e: p.get("RoleName") or n,
        lambda n, p, e: {
            "Arn": aws_arn(e, "iam", f"role{p.get('Path', '/')}{p.get('RoleName') or n}", region=False),
            "RoleId": "AROA" + hashlib.sha256(n.encode()).hexdigest()[:17].upper(),
        },
    ),
    "AWS::IAM::Policy": NotEmulated(_IAM_NOT_ENFORCED, lambda n, p, e: n),
    "AWS::IAM::ManagedPolicy": NotEmulated(
        _IAM_NOT_ENFORCED,
        lambda n, p, e: aws_arn(e, "iam", f"policy/{p.get('ManagedPolicyName') or n}", region=False),
        lambda n, p, e: {
            "PolicyArn": aws_arn(e, "iam", f"policy/{p.get('ManagedPolicyName') or n}", region=False)
        },
    ),
    "AWS::Logs::LogGroup": NotEmulated(
        "function output is written to .local/logs/<function>.log (the local CloudWatch Logs stand-in); "
        "the state machine's and the API's log groups receive nothing",
        lambda n, p, e: p.get("LogGroupName") or n,
        lambda n, p, e: {"Arn": aws_arn(e, "logs", f"log-group:{p.get('LogGroupName') or n}:*")},
    ),
    "AWS::Lambda::LayerVersion": NotEmulated(
        "local functions import the project's virtual environment, which pins the packages the layers carry "
        "(the report's matplotlib); the layer's own zip is not unpacked",
        lambda n, p, e: aws_arn(e, "lambda", f"layer:{p.get('LayerName') or n}:1"),
    ),
    "AWS::Lambda::Permission": NotEmulated(
        "recorded (local/iam_roles.py): EventBridge invokes a function only with a permission for the rule; "
        "other principals' (API Gateway, S3) are not evaluated",
        lambda n, p, e: n,
    ),
    "AWS::S3::BucketPolicy": NotEmulated(_RESOURCE_POLICY, lambda n, p, e: n),
    "AWS::SQS::QueuePolicy": NotEmulated(_RESOURCE_POLICY, lambda n, p, e: n),
    "AWS::SNS::TopicPolicy": NotEmulated(_RESOURCE_POLICY, lambda n, p, e: n),
    "AWS::CloudWatch::Dashboard": NotEmulated(
        "no CloudWatch console locally", lambda n, p, e: p.get("DashboardName") or n
    ),
    "AWS::Cognito::UserPoolDomain": NotEmulated(_COGNITO_DOMAIN, lambda n, p, e: str(p.get("Domain") or n)),
}
"""Types accepted without local behaviour, with the reason (see :func:`local.deploy.describe_support`)."""

NATIVE_CUSTOM_RESOURCES: Final[dict[str, str]] = {
    "Custom::S3BucketNotifications": (
        "applied directly with PutBucketNotificationConfiguration; CDK's provider Lambda (inline code) that "
        "does this on AWS is accepted but not run"
    ),
}
"""CDK custom resources whose effect the deployer applies itself."""
