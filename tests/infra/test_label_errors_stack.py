"""gtpipe:labelErrors in the stack: the label_errors function exists only when it is on, with exactly its
S3 prefixes, the state machine may invoke it (and nothing else under its name when off), cdk-nag clean."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from infra.constructs.state_machine import LABEL_ERRORS_DISABLED_FUNCTION_NAME
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_security import as_list, policy_statements


@pytest.fixture(scope="module")
def synth_label_errors() -> Synthesized:
    return synthesize(
        labelingBackend="builtin",
        labeling={"review": {"enabled": True}},
        labelErrors={"enabled": True, "folds": 3},
    )


def function_id(synth: Synthesized) -> str | None:
    found = [
        lid
        for lid, fn in synth.main.find_resources("AWS::Lambda::Function").items()
        if fn["Properties"].get("Handler") == "label_errors.handler.lambda_handler"
    ]
    assert len(found) <= 1
    return found[0] if found else None


def machine(synth: Synthesized) -> dict[str, Any]:
    return dict(next(iter(synth.main.find_resources("AWS::StepFunctions::StateMachine").values())))


def s3_grants(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each S3 action the statements allow -> the object prefixes (or the ListBucket prefixes) it is allowed on."""
    grants: dict[str, set[str]] = {}
    for statement in statements:
        for action in as_list(statement["Action"]):
            if not action.startswith("s3:"):
                continue
            if action == "s3:ListBucket":
                grants.setdefault(action, set()).update(statement["Condition"]["StringLike"]["s3:prefix"])
                continue
            for resource in as_list(statement["Resource"]):
                prefix = re.search(r"/([a-z-]+)/\*", json.dumps(resource))
                grants.setdefault(action, set()).add(prefix.group(1) if prefix else json.dumps(resource))
    return grants


def test_the_function_reads_and_writes_only_its_prefixes(synth_label_errors: Synthesized) -> None:
    # Given the stack with label-error finding / Then one label_errors function whose role may only read the
    # split's and transforms' outputs and the review's, write the fold and review manifests, and read and
    # write the label set's dataset (the reviewed labels as its next version)
    logical_id = function_id(synth_label_errors)
    assert logical_id is not None
    role = synth_label_errors.main.find_resources("AWS::Lambda::Function")[logical_id]["Properties"]["Role"]
    role_id = role["Fn::GetAtt"][0]
    statements = [s for lid, s in policy_statements(synth_label_errors.main) if lid.startswith(role_id[:-8])]
    assert s3_grants(statements) == {
        "s3:GetObject": {"splits", "transform", "labeling", "datasets"},
        "s3:GetObjectVersion": {"splits", "transform", "labeling", "datasets"},
        "s3:PutObject": {"splits", "labeling", "datasets"},
        "s3:AbortMultipartUpload": {"splits", "labeling", "datasets"},
        "s3:ListBucket": {"transform/*", "datasets/*"},
    }
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith(("dynamodb:", "states:", "sns:"))}
    # and of SageMaker only describe training jobs (the accuracy of Train's and Retrain's jobs)
    [describe] = [s for s in statements if any(a.startswith("sagemaker:") for a in as_list(s["Action"]))]
    assert as_list(describe["Action"]) == ["sagemaker:DescribeTrainingJob"]
    assert ":training-job/*" in json.dumps(describe["Resource"])


def test_the_state_machine_invokes_it_only_when_it_exists(
    synth_label_errors: Synthesized, synth: Synthesized
) -> None:
    # Given the stack with the setting / Then the definition names the function and its role may invoke it
    logical_id = function_id(synth_label_errors)
    substitution = machine(synth_label_errors)["Properties"]["DefinitionSubstitutions"][
        "LabelErrorsFunctionArn"
    ]
    assert substitution == {"Fn::GetAtt": [logical_id, "Arn"]}
    invoke = [
        s
        for lid, s in policy_statements(synth_label_errors.main)
        if lid.startswith("PipelineStateMachineRole") and "lambda:InvokeFunction" in as_list(s["Action"])
    ]
    assert logical_id in json.dumps(invoke)
    # and without it there is no function, and the name the definition holds is one nothing may invoke
    assert function_id(synth) is None
    default = json.dumps(machine(synth)["Properties"]["DefinitionSubstitutions"]["LabelErrorsFunctionArn"])
    assert LABEL_ERRORS_DISABLED_FUNCTION_NAME in default
    invokable = json.dumps(
        [s for _, s in policy_statements(synth.main) if "lambda:InvokeFunction" in as_list(s["Action"])]
    )
    assert LABEL_ERRORS_DISABLED_FUNCTION_NAME not in invokable


def test_cdk_nag_is_clean_with_label_errors(synth_label_errors: Synthesized) -> None:
    for stack in (synth_label_errors.stateful, synth_label_errors.pipeline):
        annotations = Annotations.from_stack(stack)
        errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert errors == [] and warnings == [], [e.entry.data for e in errors + warnings][:5]
