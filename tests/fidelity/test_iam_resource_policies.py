"""Issue 14: the rule dead-letter queue's synthesized policy, as local/iam_resource.py evaluates it for
EventBridge (a service principal, ``aws:SourceArn``) and the TLS-only Deny (``aws:SecureTransport``)."""

from __future__ import annotations

from typing import Any

from local.iam_policy import Request, render
from local.iam_resource import resource_policy_decision
from tests.fidelity.conftest import ENV
from tests.infra.conftest import Synthesized

QUEUE = f"arn:aws:sqs:{ENV.region}:{ENV.account_id}:rule-dlq"
RULE = f"arn:aws:events:{ENV.region}:{ENV.account_id}:rule/manifest-dropped"


def rule_dlq_statements(synth: Synthesized) -> list[dict[str, Any]]:
    (policy,) = [
        p for k, p in synth.main.find_resources("AWS::SQS::QueuePolicy").items() if "RuleDeadLetterQueue" in k
    ]

    def lookup(key: str) -> str:
        if key.startswith("GetAtt:") and "DeadLetterQueue" in key:
            return QUEUE
        return RULE if "ManifestDroppedRule" in key else "${" + key + "}"

    return [render(s, ENV, lookup) for s in policy["Properties"]["PolicyDocument"]["Statement"]]


def send(source_arn: str, secure: str = "true") -> Request:
    return Request("sqs:SendMessage", QUEUE, {"aws:SourceArn": source_arn, "aws:SecureTransport": secure})


def test_eventbridge_may_send_dead_letters_only_for_the_rules_the_policy_names(synth: Synthesized) -> None:
    # Given the synthesized rule DLQ policy
    statements = rule_dlq_statements(synth)
    # When EventBridge sends for the manifest rule, then for another rule
    named = resource_policy_decision(
        statements, send(RULE), account=ENV.account_id, service="events.amazonaws.com"
    )
    other = resource_policy_decision(
        statements, send(RULE + "-other"), account=ENV.account_id, service="events.amazonaws.com"
    )
    # Then only the named rule is allowed
    assert (named, other) == ("allow", None)


def test_the_tls_only_statement_denies_a_plain_http_send(synth: Synthesized) -> None:
    # Given the synthesized rule DLQ policy
    statements = rule_dlq_statements(synth)
    # When the same send arrives without TLS
    decision = resource_policy_decision(
        statements, send(RULE, secure="false"), account=ENV.account_id, service="events.amazonaws.com"
    )
    # Then the explicit Deny wins
    assert decision == "deny"
