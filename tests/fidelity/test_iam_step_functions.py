"""Finding 7: the state machine role against AWS's published policies for the SageMaker integrations.

"IAM policies for Amazon SageMaker AI" (Step Functions developer guide) publishes, per integration and pattern,
what the state machine's role needs; the `.sync` pattern adds ``sagemaker:ListTags`` and the managed EventBridge
rule Step Functions creates for the job type. AWS publishes managed rules for training and transform jobs only.
Each documented request is evaluated against the synthesized role policy with :mod:`local.iam_policy`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fidelity.iam_support import ACCOUNT, REGION, Request, denied, statements, without_sids
from tests.infra.conftest import ROOT, Synthesized
from tests.infra.conftest import synth_tuning as synth_tuning  # fixture

SFN_SAGEMAKER_DOCS = "https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html"
ROLE = "PipelineStateMachineRole"
SAGEMAKER_ROLE = "${GetAtt:PipelineSageMakerExecutionRole"  # rendered GetAtt prefix of the execution role ARN
PASS_ROLE_CONTEXT = {"iam:PassedToService": "sagemaker.amazonaws.com"}


def job(kind: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/run-0123456789abcdef-step-0"


def rule(name: str) -> str:
    return f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"


def sync(kind: str, noun: str, managed_rule: str | None) -> list[Request]:
    requests = [Request(f"sagemaker:{verb}{noun}", job(kind)) for verb in ("Create", "Describe", "Stop")]
    requests.append(Request("sagemaker:ListTags", "*"))
    if managed_rule:
        requests += [
            Request(f"events:{verb}", rule(managed_rule))
            for verb in ("PutTargets", "PutRule", "DescribeRule")
        ]
    return requests


# The published policy of each integration the definition uses (Resource ARN -> requests).
PUBLISHED: dict[str, list[Request]] = {
    "arn:aws:states:::sagemaker:createTrainingJob.sync": sync(
        "training-job", "TrainingJob", "StepFunctionsGetEventsForSageMakerTrainingJobsRule"
    ),
    "arn:aws:states:::sagemaker:createTransformJob.sync": sync(
        "transform-job", "TransformJob", "StepFunctionsGetEventsForSageMakerTransformJobsRule"
    ),
    # No managed rule is published for labeling jobs: the job's own actions and ListTags.
    "arn:aws:states:::sagemaker:createLabelingJob.sync": sync("labeling-job", "LabelingJob", None),
}
PUBLISHED_RULES = {
    rule("StepFunctionsGetEventsForSageMakerTrainingJobsRule"),
    rule("StepFunctionsGetEventsForSageMakerTransformJobsRule"),
}


def definition_resources() -> set[str]:
    definition = json.loads((ROOT / "state_machines" / "pipeline.asl.json").read_text())
    return {s["Resource"] for s in definition["States"].values() if s["Type"] == "Task"}


@pytest.mark.parametrize("integration", sorted(PUBLISHED))
def test_the_role_allows_the_published_policy_of_each_sync_integration(
    synth: Synthesized, integration: str
) -> None:
    # Given an integration the definition uses
    assert integration in definition_resources()
    # Then the role allows every request of its published policy (else the Task fails with AccessDenied or
    # "not authorized to create managed-rule")
    assert denied(statements(synth, ROLE), PUBLISHED[integration]) == [], SFN_SAGEMAKER_DOCS


def test_the_role_passes_only_the_execution_role_to_sagemaker(synth: Synthesized) -> None:
    found = statements(synth, ROLE)
    passes = [s for s in found if "iam:PassRole" in s["Action"] or s["Action"] == "iam:PassRole"]
    assert passes and all(s["Condition"] == {"StringEquals": PASS_ROLE_CONTEXT} for s in passes)
    assert all(str(s["Resource"]).startswith(SAGEMAKER_ROLE) for s in passes)


def test_events_grants_name_only_the_published_managed_rules(synth: Synthesized) -> None:
    found: list[dict[str, Any]] = statements(synth, ROLE)
    granted = {
        str(resource)
        for s in found
        if any(
            str(a).startswith("events:")
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        )
        for resource in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    }
    # an undocumented rule name (the former ...LabelingJobsRule) is a grant on a rule Step Functions never creates
    assert granted == PUBLISHED_RULES


def test_without_list_tags_every_sync_integration_is_refused(synth: Synthesized) -> None:
    # Given the policy before the fix: no sagemaker:ListTags
    before = without_sids(statements(synth, ROLE), "SyncIntegrationTags")
    for integration, requests in PUBLISHED.items():
        assert [r.action for r in denied(before, requests)] == ["sagemaker:ListTags"], integration


def test_with_tuning_the_role_allows_the_tuning_job_and_describing_its_best_trial(
    synth_tuning: Synthesized, synth: Synthesized
) -> None:
    # Given what the local interpreter asks IAM for Tune (.sync, tagged) and DescribeBestTrainingJob (aws-sdk)
    from local.sfn.iam import sagemaker_requests

    name = "0123456789abcdef0123456789abcdef"
    tune = sagemaker_requests(
        "createHyperParameterTuningJob",
        {"HyperParameterTuningJobName": name, "Tags": [{"Key": "k", "Value": "v"}]},
        sync=True,
        region=REGION,
        account=ACCOUNT,
    )
    describe = sagemaker_requests(
        "describeTrainingJob",
        {"TrainingJobName": f"{name}-002-1a2b3c4d"},
        sync=False,
        region=REGION,
        account=ACCOUNT,
    )
    assert describe == [
        Request(
            "sagemaker:DescribeTrainingJob", job("training-job").rsplit("/", 1)[0] + f"/{name}-002-1a2b3c4d"
        )
    ]
    assert Request("events:PutRule", rule("StepFunctionsGetEventsForSageMakerTuningJobsRule")) in tune
    # Then the synthesized role allows all of them
    assert denied(statements(synth_tuning, ROLE), tune + describe) == [], SFN_SAGEMAKER_DOCS
    # and a stack without gtpipe:tuning may not create tuning jobs
    assert Request("sagemaker:CreateHyperParameterTuningJob", tune[0].resource) in denied(
        statements(synth, ROLE), tune
    )
