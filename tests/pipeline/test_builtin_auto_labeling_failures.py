"""Automated labeling on the builtin service fails at step ``labeling`` with its reason, whichever loop step
breaks: the labeling function's own action, or a labeling-model training job (harness of
tests/pipeline/harness.py: the real start_run and notify on moto, a scripted SageMaker, a labeling double
answering the loop's views)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from local.sagemaker import fail
from local.sfn import active_handle
from tests.pipeline.harness import FUNCTIONS, Pipeline, input_manifest, make_doubles
from tests.pipeline.harness import pipeline as pipeline  # fixture
from tests.pipeline.harness import pipeline_config as pipeline_config  # fixture


class AutoLabelingFailed(Exception):
    """Named like lambdas/labeling/auto.py's error: the Step Functions error name is the class name."""


def loop_views(pipeline: Pipeline, on_action: Callable[[dict[str, Any]], Any]) -> None:
    """The labeling function answers the loop's actions with ``on_action`` and opens batch jobs as usual."""
    original = make_doubles(pipeline.doubles, pipeline.sfn, pipeline.sagemaker)[FUNCTIONS["labeling"]]

    def handler(event: dict[str, Any], context: Any) -> Any:
        if str(event.get("action", "")).startswith("auto_"):
            pipeline.doubles.calls.append(("labeling", event))
            return on_action(event)
        return original(event, context)

    active_handle().lambdas.register(FUNCTIONS["labeling"], handler)


def drop_and_wait(pipeline: Pipeline) -> tuple[str, list[str], dict[str, Any]]:
    run_id = pipeline.drop("incoming/auto.manifest", input_manifest())["run_id"]
    described, entered = pipeline.wait(run_id)
    assert described["status"] == "FAILED"
    return run_id, entered, pipeline.ledger(run_id)


@pytest.fixture
def builtin_auto(pipeline: Pipeline) -> Pipeline:
    pipeline.configure_builtin()
    pipeline.configure(auto_labeling=True)
    return pipeline


def test_a_loop_action_that_fails_fails_the_run_at_labeling_with_its_reason(builtin_auto: Pipeline) -> None:
    # Given a labeling function that cannot start the loop (e.g. a manifest spanning buckets)
    def refuse(event: dict[str, Any]) -> Any:
        raise AutoLabelingFailed("input manifest s3://x/y: line 3: no source-ref")

    loop_views(builtin_auto, refuse)
    # When a manifest is dropped
    _run_id, entered, run = drop_and_wait(builtin_auto)
    # Then the run went from StartAutoLabeling to FailedLabeling, not to the team's single job
    assert entered[entered.index("FailedLabeling") - 1] == "StartAutoLabeling", entered
    assert "LabelWithTeam" not in entered
    # And the ledger names the step, the error and the reason
    assert run["failure"]["step"] == "labeling"
    assert run["failure"]["error"] == "AutoLabelingFailed"
    assert "line 3: no source-ref" in run["failure"]["cause"]


def test_a_labeling_model_that_does_not_train_fails_the_run_at_labeling(builtin_auto: Pipeline) -> None:
    # Given a loop whose first human batch is labeled, then a training job that fails
    bucket = "s3://gtpipe-data-bucket/labeling/auto/r/round-1/"

    def views(event: dict[str, Any]) -> Any:
        base = {"state_uri": bucket + "state.json", "round": 1, "human": 0, "machine": 0, "remaining": 10}
        if event["action"] == "auto_start":
            return {
                **base,
                "next": "label",
                "batch_manifest_uri": bucket + "batch.manifest",
                "batch_size": 30,
            }
        return {
            **base,
            "next": "train",
            "train_uri": bucket + "train.manifest",
            "validation_uri": bucket + "validation.manifest",
            "hyperparameters": {"num_classes": "10", "num_training_samples": "10"},
            "transform_manifest_uri": bucket + "transform.manifest",
            "transform_output_uri": bucket + "predictions/",
        }

    loop_views(builtin_auto, views)
    builtin_auto.runner.script("training", fail("ClientError: no images in the train channel"))
    # When a manifest is dropped
    run_id, entered, run = drop_and_wait(builtin_auto)
    # Then the batch was labeled by the team, the labeling model's training failed, and the run with it
    assert entered[: entered.index("FailedLabeling")][-4:] == [
        "AddAutoBatch",
        "UseAutoView",
        "ChooseAutoStep",
        "TrainLabelingModel",
    ], entered
    assert "LabelAutoBatch" in entered
    # And the ledger names the labeling step and the training job's reason
    assert run["failure"]["step"] == "labeling"
    assert "no images in the train channel" in run["failure"]["cause"]
    # And the batch job was opened on the loop's batch manifest, named for its round
    opens = [
        event
        for name, event in builtin_auto.doubles.calls
        if name == "labeling" and event["action"] == "open"
    ]
    assert [event["manifest_uri"] for event in opens] == [bucket + "batch.manifest"]
    assert opens[0]["job_name"] == f"{run_id}-al1-0"
