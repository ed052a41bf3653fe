"""IAM enforced on the real synthesized template with label-error finding (gtpipe:labelErrors): the label_errors
function measures the fix with DescribeTrainingJob (its ``accuracy`` action, state MeasureLabelErrors), and
that is the one SageMaker action its role allows. Without the statement the local cloud refuses the call with
AWS's answer; with it, SageMaker is reached (an unknown job: SageMaker's own "Requested resource not found").

Deploys the label-error assembly twice (edited, then as synthesized), as tests/fidelity/test_iam_synthesized_template.py
does for the default one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.synth import synthesize
from tests.fidelity.synthesized_cloud import (
    deployed,
    edited_assembly,
    function_named,
    role_name,
    without_role_statement,
)
from tests.fidelity.test_iam_synthesized_template import DENIED
from tests.local_cloud.conftest import ROOT, small_context

JOB = "run-1-train-0"


@pytest.fixture(scope="module")
def assembly() -> Path:
    """The end-to-end tests' app with the builtin labeling service, its review stage and label-error finding."""
    context = {
        **small_context(),
        "gtpipe:labelingBackend": "builtin",
        "gtpipe:labeling": {"review": {"enabled": True}},
        "gtpipe:labelErrors": {"enabled": True, "folds": 2},
    }
    return synthesize(ROOT / ".local" / "cdk.out-tests-label-errors", context)


def accuracy_request() -> str:
    return json.dumps({"action": "accuracy", "train_job_name": JOB, "served_job_name": JOB})


def test_the_label_errors_function_without_its_describe_statement_cannot_measure_the_fix(
    assembly: Path, tmp_path: Path
) -> None:
    # Given the synthesized app whose label_errors role lacks DescribeRunTrainingJobs
    edit = without_role_statement(
        "PipelineLabelErrorsFunctionRole", lambda s: s.get("Sid") == "DescribeRunTrainingJobs"
    )
    edited = edited_assembly(assembly, tmp_path / "edited", edit)
    with deployed(edited, tmp_path / "denied") as cloud:
        spec = function_named(cloud, "PipelineLabelErrorsFunction")
        # When the deployed function measures Train's job
        response = cloud.registry.invoke(spec.name, accuracy_request())
        # Then SageMaker refuses DescribeTrainingJob for the function's role with AWS's text
        env = cloud.environment
        expected = DENIED.format(
            account=env.account_id,
            role=role_name(cloud, "PipelineLabelErrorsFunctionRole"),
            session=spec.name,
            action="sagemaker:DescribeTrainingJob",
            resource=f"arn:aws:sagemaker:{env.region}:{env.account_id}:training-job/{JOB}",
        )
        assert response.get("FunctionError"), response
        assert expected in response["Payload"]["errorMessage"], response
    # And with the synthesized template the same call reaches SageMaker, which does not know the job
    with deployed(assembly, tmp_path / "allowed") as cloud:
        response = cloud.registry.invoke(
            function_named(cloud, "PipelineLabelErrorsFunction").name, accuracy_request()
        )
        assert response.get("FunctionError"), response
        message = response["Payload"]["errorMessage"]
        assert f"training job {JOB} cannot be described (" in message, response
        assert "Requested resource not found" in message and "not authorized" not in message, response
