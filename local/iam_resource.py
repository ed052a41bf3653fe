"""Resource policies evaluated where AWS services deliver on a principal's behalf (issue 14).

Some deliveries never pass the local endpoint as a signed request, so :mod:`local.iam_auth`'s middleware cannot
see them; the code that makes them asks :class:`Deliveries` first and fails the delivery the way AWS does:

- **EventBridge -> a target's dead-letter queue** (``events.amazonaws.com``): the queue's resource policy must
  allow ``sqs:SendMessage`` to the service principal for the rule (``aws:SourceArn``), and for an encrypted
  queue the key policy must let ``events.amazonaws.com`` use the key
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html,
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html#compatibility-with-aws-services).
  Refused, the event is lost (EventBridge counts ``InvocationsFailedToBeSentToDLQ``).
- **Lambda -> a function's dead-letter queue or topic**: Lambda sends with the function's *execution role*
  (``sqs:SendMessage`` / ``sns:Publish``;
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq). Within
  one account an Allow in the role's identity policies *or* the queue's/topic's policy suffices and an
  explicit Deny in either wins
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html); the key policy
  (or, where it delegates to the account, the identity policies) must allow ``kms:GenerateDataKey`` and
  ``kms:Decrypt`` for an encrypted queue or topic. Refused, the event is lost (Lambda counts
  ``DeadLetterErrors``).

``aws:SecureTransport`` is ``"true"`` in these evaluations: the services call each other over TLS on AWS and
locally no request crosses the wire at all. Requests clients sign against the local endpoint are *not*
evaluated against queue, topic or bucket policies (see docs/security.md: the endpoint is plain HTTP, so the
policies' TLS-only Deny would refuse every one of them).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from .fidelity import _action_matches, _as_list, _conditions_match, service_allowed
from .iam_auth import Denial, Principal, Principals
from .iam_policy import Request, allows
from .iam_roles import DeployedIam

LOG = logging.getLogger(__name__)

MESSAGE_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


def _principal_named(
    statement: Mapping[str, Any], service: str | None, role_arn: str | None, account: str
) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    aws = [str(p) for p in _as_list(principal.get("AWS"))]
    if "*" in aws:
        return True
    if service is not None:
        return service in _as_list(principal.get("Service"))
    return role_arn in aws or f"arn:aws:iam::{account}:root" in aws or account in aws


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(fnmatchcase(resource, str(p)) for p in _as_list(statement["NotResource"]))
    patterns = _as_list(statement.get("Resource")) or ["*"]
    return any(fnmatchcase(resource, str(p)) for p in patterns)


def resource_policy_decision(
    statements: list[dict[str, Any]],
    request: Request,
    *,
    account: str,
    service: str | None = None,
    role_arn: str | None = None,
) -> str | None:
    """``"deny"`` (an explicit Deny matches), ``"allow"`` or None (no statement allows): a resource policy's
    answer for a service principal (``service``) or a role of the account (``role_arn``)."""
    decision: str | None = None
    for statement in statements:
        if not _principal_named(statement, service, role_arn, account):
            continue
        if not _action_matches(statement, request.action) or not _resource_matches(
            statement, request.resource
        ):
            continue
        if not _conditions_match(statement.get("Condition") or {}, request.context or {}):
            continue
        if statement.get("Effect") == "Deny":
            return "deny"
        decision = "allow"
    return decision


@dataclass
class Deliveries:
    """The authorization of service deliveries (see module docstring)."""

    principals: Principals
    iam: DeployedIam

    @property
    def account(self) -> str:
        return self.principals.account

    def _context(self, source_arn: str | None) -> dict[str, str]:
        context = {"aws:SecureTransport": "true", "aws:SourceAccount": self.account}
        if source_arn:
            context["aws:SourceArn"] = source_arn
        return context

    def service_sends(self, service: str, queue_arn: str, source_arn: str) -> str | None:
        """Why ``service`` (``events.amazonaws.com``) may not send to ``queue_arn`` for ``source_arn``, or None."""
        if not self.principals.enforce:
            return None
        request = Request("sqs:SendMessage", queue_arn, self._context(source_arn))
        statements = self.iam.queue_policies.get(queue_arn.rsplit(":", 1)[-1], [])
        if resource_policy_decision(statements, request, account=self.account, service=service) != "allow":
            return (
                f"{service} is not authorized to perform: sqs:SendMessage on resource: {queue_arn} because no "
                "resource-based policy allows the sqs:SendMessage action"
            )
        key = _queue_key(self.account, self.principals.region, queue_arn)
        if key is not None and not service_allowed(
            key[1], service, MESSAGE_KEY_ACTIONS, self._context(source_arn)
        ):
            return (
                f"{service} is not authorized to perform: kms:GenerateDataKey on resource: {key[0]} because no "
                "resource-based policy allows the kms:GenerateDataKey action"
            )
        return None

    def role_sends(self, role_arn: str, session: str, target_arn: str) -> str | None:
        """Why a session of ``role_arn`` may not send to the queue or topic ``target_arn``, or None."""
        if not self.principals.enforce:
            return None
        principal = Principal(role_arn, session, self.account)
        topic = ":sns:" in target_arn
        action = "sns:Publish" if topic else "sqs:SendMessage"
        request = Request(action, target_arn, self._context(None))
        policy = (
            self.iam.topic_policies.get(target_arn, [])
            if topic
            else self.iam.queue_policies.get(target_arn.rsplit(":", 1)[-1], [])
        )
        resource = resource_policy_decision(policy, request, account=self.account, role_arn=role_arn)
        identity = self.principals.statements_of(role_arn)
        explicit_deny = any(
            s.get("Effect") == "Deny" and allows([{**s, "Effect": "Allow"}], request) for s in identity
        )
        if resource == "deny" or explicit_deny or (resource is None and not allows(identity, request)):
            denial = Denial(principal, request, resource_policy=resource == "deny")
            return denial.message
        key = _message_key(self.account, self.principals.region, target_arn)
        if key is None:
            return None
        denial_of_key = self.principals.key_denial(
            principal, key, MESSAGE_KEY_ACTIONS, "sns" if topic else "sqs"
        )
        return denial_of_key.message if denial_of_key else None


def _queue_key(account: str, region: str, queue_arn: str) -> tuple[str, dict[str, Any]] | None:
    from .iam_auth import _kms_key

    key_id = _message_key(account, region, queue_arn)
    return _kms_key(account, region, key_id) if key_id else None


def _message_key(account: str, region: str, target_arn: str) -> str | None:
    """The customer managed key a queue or topic is encrypted with (None: unencrypted, SSE-SQS or unknown)."""
    try:
        if ":sns:" in target_arn:
            from moto.sns.models import sns_backends

            topic = sns_backends[account][region].get_topic(target_arn)
            return str(getattr(topic, "kms_master_key_id", "") or "") or None
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[account][region].get_queue(target_arn.rsplit(":", 1)[-1])
        return str(getattr(queue, "kms_master_key_id", "") or "") or None
    except Exception:
        LOG.debug("IAM: no queue or topic %s", target_arn, exc_info=True)
        return None
