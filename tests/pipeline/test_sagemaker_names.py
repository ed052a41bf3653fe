"""The names the state machine builds stay within SageMaker's limits for the longest possible run id.

Run ids are ``<slug of the manifest's file stem, at most 20>-<16 hex>`` (gtpipe_shared.naming); the Task
states name their jobs ``States.Format('{}-<step>-{}', $.run_id, $$.State.RetryCount)`` (automated labeling's
with its round in the middle, ``'{}-alt{}-{}', $.run_id, $.auto.round, ...``). SageMaker allows 63
characters matching ``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`` for job, model and endpoint config names
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html and the other Create*
pages); the limits are read from botocore's model, as the local SageMaker enforces them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gtpipe_shared.naming import SLUG_MAX, run_id_for

from local.sagemaker.api import service_model
from local.sagemaker.validation import constraint_phrases

ROOT = Path(__file__).resolve().parents[2]
FORMAT = re.compile(
    r"^States\.Format\('\{\}(?P<literal>[^{}']*)(?:\{\}(?P<after_round>[^{}']*))?\{\}', \$\.run_id, "
    r"(?P<round>\$\.auto\.round, )?\$\$\.State\.RetryCount\)$"
)
# Automated labeling's round (labeling/auto.py): one per human batch, at most one batch per object; a
# 10-million-line manifest (gtpipe:maxManifestLines' limit) has at most 7 digits of rounds.
LONGEST_ROUND = "9" * 7
SAGEMAKER_TASK = re.compile(r"^arn:aws:states:::sagemaker:(?P<action>\w+?)(\.sync)?$")


def sagemaker_named_tasks() -> list[tuple[str, str, str, dict[str, Any]]]:
    """``(state, API operation, name member, state)`` of every SageMaker Task naming a resource by format."""
    states = json.loads((ROOT / "state_machines" / "pipeline.asl.json").read_text())["States"]
    found = []
    for name, state in states.items():
        match = SAGEMAKER_TASK.match(state.get("Resource", ""))
        if not match:
            continue
        operation = match.group("action")[0].upper() + match.group("action")[1:]
        for key, value in state.get("Parameters", {}).items():
            if key.endswith("Name.$") and isinstance(value, str) and value.startswith("States.Format"):
                found.append((name, operation, key.removesuffix(".$"), state))
    return found


def longest_run_id() -> str:
    """A real run id with the longest slug: a manifest whose file stem slugs to more than SLUG_MAX."""
    run_id = run_id_for("bucket", "incoming/" + "Z" * (SLUG_MAX + 30) + ".manifest", "v" * 1024)
    assert len(run_id) == SLUG_MAX + 1 + 16
    return run_id


def most_retries(state: dict[str, Any]) -> int:
    """The largest ``$$.State.RetryCount`` the state can reach: every retrier's MaxAttempts (default 3)."""
    return sum(retrier.get("MaxAttempts", 3) for retrier in state.get("Retry", []))


def test_every_formatted_name_fits_sagemakers_limits_for_the_longest_run_id() -> None:
    # given the SageMaker tasks that name their resources from the run id, and the longest run id
    tasks = sagemaker_named_tasks()
    assert {operation for _, operation, _, _ in tasks} == {
        "CreateLabelingJob",
        "CreateTrainingJob",
        "CreateModel",
        "CreateTransformJob",
        "CreateEndpointConfig",
    }
    run_id = longest_run_id()
    problems = {}
    for state_name, operation, member, state in tasks:
        match = FORMAT.match(state["Parameters"][f"{member}.$"])
        assert match, (state_name, state["Parameters"][f"{member}.$"])
        # when the name is built with the most retries the state allows
        middle = f"{LONGEST_ROUND}{match.group('after_round')}" if match.group("round") else ""
        name = f"{run_id}{match.group('literal')}{middle}{most_retries(state)}"
        shape = service_model().operation_model(operation).input_shape.members[member]
        # then it breaks none of the model's constraints for that member
        if phrases := constraint_phrases(name, shape):
            problems[state_name] = (name, phrases)
    assert problems == {}


def test_the_check_would_see_a_run_id_too_long_for_a_name() -> None:
    # given a run id 20 characters longer than the longest real one
    run_id = longest_run_id() + "a" * 20
    shape = service_model().operation_model("CreateTrainingJob").input_shape.members["TrainingJobName"]
    # when a training job name is built from it / then the model's 63-character limit refuses it
    assert constraint_phrases(f"{run_id}-train-6", shape) == [
        "Member must have length less than or equal to 63"
    ]


def test_the_run_id_fits_the_execution_name_and_the_tag_value() -> None:
    # given the longest run id, used as the Step Functions execution name and as a SageMaker tag value
    run_id = longest_run_id()
    execution_name = (
        (__import__("botocore.session").session.get_session().get_service_model("stepfunctions"))
        .operation_model("StartExecution")
        .input_shape.members["name"]
    )
    tag_value = service_model().shape_for("TagValue")
    # when checked against both shapes / then it is within their maximum lengths
    assert len(run_id) <= execution_name.metadata["max"] and constraint_phrases(run_id, tag_value) == []
