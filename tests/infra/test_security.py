"""Least privilege, cdk-nag AwsSolutions and cfn-lint on the synthesized templates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match
from cfnlint.api import ManualArgs, lint_file

from infra.nag import all_suppressions
from tests.infra.conftest import ROOT, Synthesized

DEFINITION = json.loads((ROOT / "state_machines" / "pipeline.asl.json").read_text())

# What each Task resource of the definition needs, per the Step Functions service-integration IAM docs
# (https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html: `.sync` adds sagemaker:ListTags).
INTEGRATION_ACTIONS = {
    "arn:aws:states:::sagemaker:createLabelingJob.sync": {
        "sagemaker:CreateLabelingJob",
        "sagemaker:DescribeLabelingJob",
        "sagemaker:StopLabelingJob",
        "sagemaker:AddTags",
        "sagemaker:ListTags",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    },
    "arn:aws:states:::sagemaker:createTrainingJob.sync": {
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:AddTags",
        "sagemaker:ListTags",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    },
    "arn:aws:states:::sagemaker:createTransformJob.sync": {
        "sagemaker:CreateTransformJob",
        "sagemaker:DescribeTransformJob",
        "sagemaker:StopTransformJob",
        "sagemaker:AddTags",
        "sagemaker:ListTags",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    },
    "arn:aws:states:::sagemaker:createModel": {"sagemaker:CreateModel", "sagemaker:AddTags", "iam:PassRole"},
    "arn:aws:states:::sagemaker:createEndpointConfig": {
        "sagemaker:CreateEndpointConfig",
        "sagemaker:AddTags",
    },
    # gtpipe:tuning: the tuning job's .sync (its managed rule: StepFunctionsGetEventsForSageMakerTuningJobsRule;
    # listing the trials is granted too, read-only) and the aws-sdk describe of its best training job.
    "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync": {
        "sagemaker:CreateHyperParameterTuningJob",
        "sagemaker:DescribeHyperParameterTuningJob",
        "sagemaker:StopHyperParameterTuningJob",
        "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
        "sagemaker:AddTags",
        "sagemaker:ListTags",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    },
    "arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob": {"sagemaker:DescribeTrainingJob"},
    "arn:aws:states:::lambda:invoke": {"lambda:InvokeFunction"},
    "arn:aws:states:::lambda:invoke.waitForTaskToken": {"lambda:InvokeFunction"},
}
# Task resources only a stack with gtpipe:tuning reaches (ChooseTraining): granted only there.
TUNING_ONLY = {"arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync"}
# Every SageMaker job also passes the execution role; the data key encrypts job outputs and volumes.
COMMON_ACTIONS = {
    "iam:PassRole",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:CreateGrant",
}
# Added by CDK for the state machine's logs and traces.
OBSERVABILITY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
}


def task_resources(states: dict[str, Any]) -> set[str]:
    return {state["Resource"] for state in states.values() if state["Type"] == "Task"}


def policy_statements(template: Any) -> list[tuple[str, dict[str, Any]]]:
    statements: list[tuple[str, dict[str, Any]]] = []
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        statements += [(logical_id, s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    for logical_id, role in template.find_resources("AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            statements += [(logical_id, s) for s in inline["PolicyDocument"]["Statement"]]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("which", ["synth", "synth_api_key", "synth_builtin", "synth_pytorch"])
def test_no_wildcard_actions_and_no_full_access_policies(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(which)
    for template in (synth.data, synth.main):
        for logical_id, statement in policy_statements(template):
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), (logical_id, action)
        for logical_id, role in template.find_resources("AWS::IAM::Role").items():
            assert "FullAccess" not in json.dumps(role["Properties"].get("ManagedPolicyArns", [])), logical_id


@pytest.mark.parametrize("which", ["synth", "synth_tuning"])
def test_state_machine_role_allows_exactly_what_the_definition_uses(
    which: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(which)
    resources = task_resources(DEFINITION["States"])
    assert resources <= set(INTEGRATION_ACTIONS), resources - set(INTEGRATION_ACTIONS)
    if which == "synth":  # no gtpipe:tuning: the tuning job is never created
        resources -= TUNING_ONLY
    needed = set().union(*(INTEGRATION_ACTIONS[r] for r in resources)) | COMMON_ACTIONS
    role_id = next(
        k for k in synth.main.find_resources("AWS::IAM::Role") if k.startswith("PipelineStateMachineRole")
    )
    granted = {
        action
        for logical_id, statement in policy_statements(synth.main)
        if logical_id.startswith(role_id.removesuffix(role_id[-8:]))
        for action in as_list(statement["Action"])
    } - OBSERVABILITY_ACTIONS
    assert granted == needed


def test_pass_role_only_passes_the_sagemaker_role_to_sagemaker(synth: Synthesized) -> None:
    passes = [(lid, s) for lid, s in policy_statements(synth.main) if "iam:PassRole" in as_list(s["Action"])]
    assert passes
    for logical_id, statement in passes:
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
        assert "SageMakerExecutionRole" in json.dumps(statement["Resource"]), logical_id


def test_sagemaker_role_reads_and_writes_only_pipeline_prefixes(synth: Synthesized) -> None:
    statements = [
        s for lid, s in policy_statements(synth.main) if lid.startswith("PipelineSageMakerExecutionRole")
    ]
    by_sid = {s["Sid"]: s for s in statements}
    rendered_read = json.dumps(by_sid["ReadPipelineData"]["Resource"])
    rendered_write = json.dumps(by_sid["WritePipelineOutputs"]["Resource"])
    for prefix in ("incoming/*", "images/*", "labeling/*", "splits/*", "models/*"):
        assert prefix in rendered_read
    for prefix in ("labeling/*", "models/*", "transform/*"):
        assert prefix in rendered_write
    assert "incoming/*" not in rendered_write and "runs/*" not in rendered_write


def test_predict_function_may_only_invoke_the_serving_endpoint(synth: Synthesized) -> None:
    statements = [
        s for lid, s in policy_statements(synth.main) if lid.startswith("ServingPredictFunctionRole")
    ]
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert "sagemaker:InvokeEndpoint" in actions
    assert not any(a.startswith(("states:", "sns:")) for a in actions)
    # Feedback capture (issue 18): PutObject under captured/; large images (issue 19): GetObject under
    # uploads/. Nothing else of S3.
    assert {a for a in actions if a.startswith("s3:")} == {"s3:PutObject", "s3:GetObject"}
    assert object_prefixes(statements, "s3:PutObject") == {"captured/"}
    assert object_prefixes(statements, "s3:GetObject") == {"uploads/"}
    invoke = next(s for s in statements if "sagemaker:InvokeEndpoint" in as_list(s["Action"]))
    assert "endpoint/gtpipe-endpoint" in json.dumps(invoke["Resource"])


@pytest.mark.parametrize(
    "which", ["synth", "synth_api_key", "synth_builtin", "synth_pytorch", "synth_tuning"]
)
def test_cdk_nag_aws_solutions_has_no_unsuppressed_findings(
    which: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(which)
    for stack in (synth.stateful, synth.pipeline):
        annotations = Annotations.from_stack(stack)
        errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert errors == [] and warnings == [], [e.entry.data for e in errors + warnings][:5]


def test_every_suppression_has_a_written_reason() -> None:
    suppressions = all_suppressions()
    assert suppressions
    for suppression in suppressions:
        assert len(suppression.reason) >= 40, suppression.rule
        if suppression.rule == "AwsSolutions-IAM5":
            assert suppression.applies_to, "IAM5 must name the exact findings it covers"


@pytest.mark.parametrize("which", ["synth", "synth_api_key", "synth_builtin", "synth_pytorch"])
def test_cfn_lint_finds_no_errors(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    synth: Synthesized = request.getfixturevalue(which)
    assembly = synth.app.synth()
    templates = [str(Path(assembly.directory) / s.template_file) for s in assembly.stacks]
    errors = []
    for template in templates:
        for match in lint_file(Path(template), config=ManualArgs(regions=["us-east-1"])):
            if match.rule.id.startswith("E"):
                errors.append(f"{match.rule.id} {match.message} ({Path(template).name}:{match.linenumber})")
    assert errors == []


def role_statements(synth: Synthesized, role_prefix: str) -> list[dict[str, Any]]:
    return [s for lid, s in policy_statements(synth.main) if lid.startswith(role_prefix)]


def object_prefixes(statements: list[dict[str, Any]], action: str) -> set[str]:
    """The data-bucket prefixes (`images/`) a role's statements grant `action` on."""
    prefixes = set()
    for statement in statements:
        if action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                rendered = json.dumps(resource)
                prefixes |= set(re.findall(r'"/([a-z]+/)\*"', rendered))
    return prefixes


def test_report_function_reads_run_outputs_and_writes_only_reports(synth: Synthesized) -> None:
    statements = role_statements(synth, "PipelineReportFunctionRole")
    actions = {a for s in statements for a in as_list(s["Action"])}
    # Given the report's grants / Then it reads what a run produced and writes only under reports/
    assert object_prefixes(statements, "s3:GetObject") == {
        "incoming/",
        "images/",
        "labeling/",
        "splits/",
        "transform/",
        "runs/",
    }
    assert object_prefixes(statements, "s3:PutObject") == {"reports/"}
    # one ledger item, no queries, no writes
    assert {a for a in actions if a.startswith("dynamodb:")} == {"dynamodb:GetItem"}
    describe = next(s for s in statements if s.get("Sid") == "DescribeRunJobs")
    assert set(as_list(describe["Action"])) == {
        "sagemaker:DescribeTrainingJob",
        "sagemaker:DescribeLabelingJob",
    }
    tails = sorted(str(r["Fn::Join"][1][-1]) for r in as_list(describe["Resource"]))
    assert tails == [":labeling-job/*", ":training-job/*"]
    logs = next(s for s in statements if s.get("Sid") == "ReadTrainingLogs")
    assert set(as_list(logs["Action"])) == {
        "logs:DescribeLogStreams",
        "logs:GetLogEvents",
        "logs:FilterLogEvents",
    }
    assert all("log-group:/aws/sagemaker/TrainingJobs" in json.dumps(r) for r in as_list(logs["Resource"]))
    assert {a for a in actions if a.startswith("kms:")} == {
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
    }
    assert not any(a.startswith(("states:", "sns:", "sagemaker:Create", "iam:")) for a in actions)


def test_start_run_may_query_only_the_reusable_model_index(synth: Synthesized) -> None:
    statements = role_statements(synth, "PipelineStartRunFunctionRole")
    queries = [s for s in statements if as_list(s["Action"]) == ["dynamodb:Query"]]
    assert len(queries) == 1
    rendered = json.dumps(queries[0]["Resource"])
    assert "LedgerRunsTable" in rendered and "/index/labeling-model-by-fingerprint" in rendered
    # The report function is invoked by the state machine only.
    machine_role = role_statements(synth, "PipelineStateMachineRole")
    invoke = next(s for s in machine_role if "lambda:InvokeFunction" in as_list(s["Action"]))
    assert "PipelineReportFunction" in json.dumps(invoke["Resource"])
