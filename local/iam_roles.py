"""The IAM roles a local deployment created, with their identity policies, and the Lambda permissions.

The deployer records every ``AWS::IAM::Role``, ``AWS::IAM::Policy``, ``AWS::IAM::ManagedPolicy``,
``AWS::Lambda::Permission``, ``AWS::SQS::QueuePolicy`` and ``AWS::SNS::TopicPolicy`` with its properties
resolved (:meth:`DeployedIam.record`); :meth:`DeployedIam.statements`
then answers each role's identity-policy statements: its inline ``Policies``, every ``AWS::IAM::Policy`` and
customer managed policy attached to it, and the AWS managed policies of :data:`AWS_MANAGED` (any other AWS
managed policy grants nothing locally and is logged: a missing permission then fails loudly instead of a guessed
one passing). :meth:`DeployedIam.lambda_invoke_allowed` evaluates a function's resource policy for a service
principal (https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

LOG = logging.getLogger(__name__)

AWS_MANAGED: dict[str, list[dict[str, Any]]] = {
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaBasicExecutionRole.html
    "service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonAPIGatewayPushToCloudWatchLogs.html
    "service-role/AmazonAPIGatewayPushToCloudWatchLogs": [
        {
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogGroups",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
                "logs:GetLogEvents",
                "logs:FilterLogEvents",
            ],
            "Resource": "*",
        }
    ],
}


@dataclass
class DeployedIam:
    """What a deployment's IAM resources say (see module docstring). Keys are role *names*."""

    role_arns: dict[str, str] = field(default_factory=dict)
    inline: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    managed_arns: dict[str, list[str]] = field(default_factory=dict)
    customer_managed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    permissions: list[dict[str, Any]] = field(default_factory=list)
    queue_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """``AWS::SQS::QueuePolicy`` statements by queue *name* (local/iam_resource.py evaluates them)."""
    topic_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """``AWS::SNS::TopicPolicy`` statements by topic ARN."""

    def record(
        self, resource_type: str, ref: str, attributes: Mapping[str, Any], props: Mapping[str, Any]
    ) -> None:
        """Record one deployed resource (``ref``: its Ref value, ``props``: resolved properties)."""
        if resource_type == "AWS::IAM::Role":
            self.role_arns[ref] = str(attributes["Arn"])
            self.inline.setdefault(ref, [])
            for policy in props.get("Policies") or []:
                self.inline[ref] += _statements(policy.get("PolicyDocument"))
            self.managed_arns[ref] = [str(a) for a in props.get("ManagedPolicyArns") or []]
        elif resource_type == "AWS::IAM::Policy":
            for role in props.get("Roles") or []:
                self.inline.setdefault(str(role), []).extend(_statements(props.get("PolicyDocument")))
        elif resource_type == "AWS::IAM::ManagedPolicy":
            self.customer_managed[ref] = _statements(props.get("PolicyDocument"))
            for role in props.get("Roles") or []:
                self.managed_arns.setdefault(str(role), []).append(ref)
        elif resource_type == "AWS::Lambda::Permission":
            self.permissions.append(dict(props))
        elif resource_type == "AWS::SQS::QueuePolicy":
            for queue in props.get("Queues") or []:
                name = str(queue).rstrip("/").rsplit("/", 1)[-1]
                self.queue_policies[name] = _statements(props.get("PolicyDocument"))
        elif resource_type == "AWS::SNS::TopicPolicy":
            for topic in props.get("Topics") or []:
                self.topic_policies[str(topic)] = _statements(props.get("PolicyDocument"))

    def statements(self) -> dict[str, list[dict[str, Any]]]:
        """Every role's identity-policy statements, by role ARN."""
        found: dict[str, list[dict[str, Any]]] = {}
        for name, arn in self.role_arns.items():
            statements = list(self.inline.get(name, []))
            for policy_arn in self.managed_arns.get(name, []):
                statements += self._managed(name, policy_arn)
            found[arn] = statements
        return found

    def _managed(self, role: str, policy_arn: str) -> list[dict[str, Any]]:
        if policy_arn in self.customer_managed:
            return self.customer_managed[policy_arn]
        aws_name = policy_arn.split(":policy/", 1)[-1] if ":iam::aws:policy/" in policy_arn else None
        if aws_name in AWS_MANAGED:
            return AWS_MANAGED[aws_name]
        LOG.warning(
            "IAM: role %s: managed policy %s is not known locally and grants nothing", role, policy_arn
        )
        return []

    def lambda_invoke_allowed(self, function_arn: str, service: str, source_arn: str) -> bool:
        """Whether a ``AWS::Lambda::Permission`` lets ``service`` invoke ``function_arn`` for ``source_arn``."""
        name = function_arn.rsplit(":", 1)[-1]
        for permission in self.permissions:
            target = str(permission.get("FunctionName", ""))
            if target not in (function_arn, name) and not function_arn.startswith(target + ":"):
                continue
            if str(permission.get("Action")) not in ("lambda:InvokeFunction", "lambda:*"):
                continue
            if str(permission.get("Principal")) != service:
                continue
            expected = permission.get("SourceArn")
            if expected is None or fnmatchcase(source_arn, str(expected)):
                return True
        return False


def _statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, Mapping):
        return []
    statements = document.get("Statement") or []
    return [dict(s) for s in (statements if isinstance(statements, list) else [statements])]
