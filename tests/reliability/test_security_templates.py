"""Security evidence on the synthesized templates: private TLS-only storage and messaging, and the cdk-nag
HIPAA Security and NIST 800-53 rev 5 packs, whose findings are counted, written to build/nag-report.json
and must match what docs/security.md states (so the document cannot go stale).

tests/infra already checks the data bucket's public access block, the TLS-only policies of the data stack's
buckets (default configuration) and the topic's policy; this module extends that to every bucket and queue
of both stacks in both authentication configurations.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match
from cdk_nag import HIPAASecurityChecks, NIST80053R5Checks

from app import build_app
from tests.infra.conftest import ROOT, Synthesized, project_context

SECURITY_DOC = ROOT / "docs" / "security.md"
REPORT = ROOT / "build" / "nag-report.json"
PACK_PATTERN = r"^(HIPAA\.Security|NIST\.800\.53\.R5)-"
BLOCK_ALL = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}
DENY_PLAIN_HTTP = {"Bool": {"aws:SecureTransport": "false"}}


def denies_plain_http(statements: list[dict[str, Any]], action: str) -> bool:
    """A statement denies ``action`` to everyone when the request did not use TLS."""
    return any(
        s["Effect"] == "Deny"
        and s.get("Condition") == DENY_PLAIN_HTTP
        and s.get("Principal") in ("*", {"AWS": "*"})
        and action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        for s in statements
    )


def referenced_ids(value: Any) -> set[str]:
    """Logical IDs a policy's target refers to (Ref / Fn::GetAtt)."""
    text = json.dumps(value)
    return set(re.findall(r'"Ref": "([A-Za-z0-9]+)"', text)) | set(
        re.findall(r'"Fn::GetAtt": \["([A-Za-z0-9]+)"', text)
    )


@pytest.mark.parametrize("which", ["synth", "synth_api_key"])
def test_every_bucket_blocks_public_access_and_has_its_own_tls_only_policy(
    which: str, request: pytest.FixtureRequest
) -> None:
    # given both stacks of one configuration
    synth: Synthesized = request.getfixturevalue(which)
    buckets_seen = 0
    for template in (synth.data, synth.main):
        buckets = template.find_resources("AWS::S3::Bucket")
        policies = template.find_resources("AWS::S3::BucketPolicy").values()
        buckets_seen += len(buckets)
        for logical_id, bucket in buckets.items():
            # then every bucket blocks every kind of public access
            assert bucket["Properties"]["PublicAccessBlockConfiguration"] == BLOCK_ALL, logical_id
            # and a policy attached to that very bucket denies requests without TLS
            own = [p for p in policies if logical_id in referenced_ids(p["Properties"]["Bucket"])]
            assert len(own) == 1, logical_id
            assert denies_plain_http(own[0]["Properties"]["PolicyDocument"]["Statement"], "s3:*"), logical_id
    assert buckets_seen >= 2


@pytest.mark.parametrize("which", ["synth", "synth_api_key"])
def test_every_queue_and_topic_denies_plain_http(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(which)
    for template in (synth.data, synth.main):
        # (CDK's enforce_ssl denies every SQS action, and sns:Publish on topics)
        for kind, policy_kind, target, action in (
            ("AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "Queues", "sqs:*"),
            ("AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "Topics", "sns:Publish"),
        ):
            policies = template.find_resources(policy_kind).values()
            for logical_id in template.find_resources(kind):
                own = [p for p in policies if logical_id in referenced_ids(p["Properties"][target])]
                assert own, (kind, logical_id)
                statements = [s for p in own for s in p["Properties"]["PolicyDocument"]["Statement"]]
                assert denies_plain_http(statements, action), (kind, logical_id)


# -- cdk-nag HIPAA and NIST 800-53 rev 5 ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def nag_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A separate app (cdk.json's context) with both extra packs; counts per stack and rule, written out.

    It is separate so the packs never touch the app tests/infra checks with AwsSolutions."""
    app = cdk.App(context=project_context(), outdir=str(tmp_path_factory.mktemp("nag-packs")))
    app, stateful, pipeline = build_app(app)
    cdk.Aspects.of(app).add(HIPAASecurityChecks())
    cdk.Aspects.of(app).add(NIST80053R5Checks())
    app.synth()
    stacks: dict[str, Any] = {}
    for stack in (stateful, pipeline):
        annotations = Annotations.from_stack(stack)
        findings = [
            (level, str(m.entry.data), m.id)
            for level, found in (
                ("error", annotations.find_error("*", Match.string_like_regexp(PACK_PATTERN))),
                ("warning", annotations.find_warning("*", Match.string_like_regexp(PACK_PATTERN))),
            )
            for m in found
        ]
        counts = Counter(data.split(":", 1)[0] for _, data, _ in findings)
        stacks[stack.stack_name] = {
            rule: {
                "count": counts[rule],
                "levels": sorted({level for level, data, _ in findings if data.startswith(rule + ":")}),
                "resources": sorted(path for _, data, path in findings if data.startswith(rule + ":")),
            }
            for rule in sorted(counts)
        }
    report = {
        "packs": ["HIPAA.Security", "NIST.800.53.R5"],
        "context": "cdk.json",
        "stacks": stacks,
        "totals": {
            pack: sum(
                entry["count"]
                for rules in stacks.values()
                for rule, entry in rules.items()
                if rule.startswith(pack)
            )
            for pack in ("HIPAA.Security", "NIST.800.53.R5")
        },
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    return report


def documented_counts(doc: str) -> dict[str, dict[str, int]]:
    """The ```json nag-counts block of docs/security.md."""
    match = re.search(r"```json nag-counts\n(.*?)\n```", doc, re.DOTALL)
    assert match, "docs/security.md has no ```json nag-counts block"
    return dict(json.loads(match.group(1)))


def test_hipaa_and_nist_finding_counts_match_the_security_doc(nag_report: dict[str, Any]) -> None:
    # given the findings of both packs on the synthesized app (written to build/nag-report.json)
    actual = {
        stack: {rule: entry["count"] for rule, entry in rules.items()}
        for stack, rules in nag_report["stacks"].items()
    }
    # then docs/security.md states exactly these counts per stack and rule
    doc = SECURITY_DOC.read_text()
    assert documented_counts(doc) == actual
    # and its totals per pack
    for pack, total in nag_report["totals"].items():
        assert f"**{total} {pack}**" in " ".join(doc.split()), pack
    assert json.loads(Path(REPORT).read_text())["stacks"] == nag_report["stacks"]


def test_every_finding_rule_is_explained_in_the_security_doc(nag_report: dict[str, Any]) -> None:
    # given the security doc's headings
    doc = SECURITY_DOC.read_text()
    headings = [line for line in doc.splitlines() if line.startswith("### ")]
    rules = {rule for rules in nag_report["stacks"].values() for rule in rules}
    assert rules
    for rule in rules:
        # then each rule has its own section, with what it checks and what is done about it
        (heading,) = [h for h in headings if rule in h]
        section = doc.split(heading, 1)[1].split("\n### ", 1)[0]
        assert "**What:**" in section and "**Decision:**" in section, rule


def test_the_extra_packs_do_not_leak_into_the_aws_solutions_app(synth: Synthesized) -> None:
    # given the app tests/infra checks with AwsSolutions only
    for stack in (synth.stateful, synth.pipeline):
        annotations = Annotations.from_stack(stack)
        # then none of the HIPAA / NIST findings appear there
        assert annotations.find_error("*", Match.string_like_regexp(PACK_PATTERN)) == []
        assert annotations.find_warning("*", Match.string_like_regexp(PACK_PATTERN)) == []
