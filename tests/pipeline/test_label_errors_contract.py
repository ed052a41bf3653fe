"""gtpipe:labelErrors in the definition: the fold jobs and the retrain are Train's (and CreateModel's,
Transform's) requests on other manifests, valid for botocore with names inside SageMaker's pattern; the
Map hands each fold what those requests read; failures are label-error failures (retrain: training)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from tests.pipeline.asl_paths import render
from tests.pipeline.test_definition_contract import (
    LONGEST_RUN_ID,
    SAGEMAKER_NAME,
    STATES,
    definition_with_substitutions,
    sample_state,
)
from tests.pipeline.test_definition_contract import pipeline_config_json as pipeline_config_json  # fixture

CONTEXT = {"State": {"RetryCount": 0}, "Task": {"Token": "t"}}
FOLD_STATES = {
    "TrainFold": "CreateTrainingJob",
    "CreateFoldModel": "CreateModel",
    "TransformFold": "CreateTransformJob",
}
NAMES = {"TrainFold": "TrainingJobName", "CreateFoldModel": "ModelName", "TransformFold": "TransformJobName"}


def processor(definition: dict[str, Any]) -> dict[str, Any]:
    return definition["States"]["OutOfFold"]["ItemProcessor"]["States"]


def fold_state(state: dict[str, Any], fold: int) -> dict[str, Any]:
    """The Map's input for one fold: its ItemSelector rendered with the fold as the item, plus what the
    processor's states leave (the fold model's training and model results)."""
    selector = STATES["OutOfFold"]["ItemSelector"]
    item = render(selector, state, {"Map": {"Item": {"Value": state["label_errors"]["folds"][fold]}}})
    return {**item, "training": state["training"], "model": state["model"]}


def sagemaker_request(name: str, state: dict[str, Any], retry: int = 0) -> dict[str, Any]:
    task = processor(definition_with_substitutions())[name]
    return dict(render(task["Parameters"], state, {"State": {"RetryCount": retry}, "Task": {"Token": "t"}}))


@pytest.mark.parametrize("name", sorted(FOLD_STATES))
def test_every_fold_request_is_valid_for_botocore_with_names_in_the_pattern(
    pipeline_config_json: str, name: str
) -> None:
    # Given the longest run id, the last fold and a late retry
    state = sample_state(pipeline_config_json, "augmented", run_id=LONGEST_RUN_ID)
    request = sagemaker_request(name, fold_state(state, 1), retry=99)
    # Then botocore accepts the request and its name fits SageMaker's pattern
    shape = get_session().get_service_model("sagemaker").operation_model(FOLD_STATES[name]).input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert SAGEMAKER_NAME.match(request[NAMES[name]]), request[NAMES[name]]


def test_a_fold_trains_train_s_request_on_its_own_manifest(pipeline_config_json: str) -> None:
    # Given one sample state / When Train and fold 1's TrainFold render their requests
    state = sample_state(pipeline_config_json, "augmented")
    train = render(definition_with_substitutions()["States"]["Train"]["Parameters"], state, CONTEXT)
    fold = sagemaker_request("TrainFold", fold_state(state, 1))
    # Then everything is Train's but the job's name, the training channel's manifest and the fold's own
    # num_training_samples (prepare's count of the fold's training lines; the built-in algorithm requires it)
    assert fold.pop("TrainingJobName") == f"{state['run_id']}-lef1-0"
    assert (
        fold["InputDataConfig"][0]["DataSource"]["S3DataSource"]
        .pop("S3Uri")
        .endswith("/label-errors/fold-1/train.manifest")
    )
    assert fold["HyperParameters"].pop("num_training_samples") == "40"
    train.pop("TrainingJobName")
    train["InputDataConfig"][0]["DataSource"]["S3DataSource"].pop("S3Uri")
    assert train["HyperParameters"].pop("num_training_samples") != "40"
    assert fold == train
    # and prepare is handed Train's hyperparameters and job name (the latter for the accuracy before the fix)
    payload = render(STATES["PrepareFolds"]["Parameters"]["Payload"], state, CONTEXT)
    assert payload["hyperparameters"] == state["split"]["hyperparameters"]
    assert payload["train_job_name"] == state["training"]["job_name"]


def test_a_fold_s_model_predicts_its_held_out_images_as_transform_does(pipeline_config_json: str) -> None:
    # Given one sample state / When CreateModel and Transform render, and the fold's model and transform
    state = sample_state(pipeline_config_json, "augmented")
    definition = definition_with_substitutions()["States"]
    model = render(definition["CreateModel"]["Parameters"], state, CONTEXT)
    transform = render(definition["Transform"]["Parameters"], state, CONTEXT)
    item = fold_state(state, 0)
    fold_model = sagemaker_request("CreateFoldModel", item)
    fold_transform = sagemaker_request("TransformFold", item)
    # Then they differ only in names, the held-out images and the fold's output prefix
    assert fold_model.pop("ModelName") == f"{state['run_id']}-lefm0-0"
    model.pop("ModelName")
    assert fold_model == model
    assert fold_transform.pop("TransformJobName") == f"{state['run_id']}-lex0-0"
    transform.pop("TransformJobName")
    fold = state["label_errors"]["folds"][0]
    assert fold_transform["TransformInput"]["DataSource"]["S3DataSource"].pop("S3Uri") == fold["images_uri"]
    assert fold_transform["TransformOutput"].pop("S3OutputPath") == fold["output_uri"]
    transform["TransformInput"]["DataSource"]["S3DataSource"].pop("S3Uri")
    transform["TransformOutput"].pop("S3OutputPath")
    assert fold_transform == transform
    # and each fold state retries as its pipeline original, the Map catching their failures
    for name, original in (
        ("TrainFold", "Train"),
        ("CreateFoldModel", "CreateModel"),
        ("TransformFold", "Transform"),
    ):
        assert processor(definition_with_substitutions())[name]["Retry"] == STATES[original]["Retry"], name
        assert "Catch" not in processor(definition_with_substitutions())[name], name
    assert [c["Next"] for c in STATES["OutOfFold"]["Catch"]] == ["FailedLabelErrors"]


def test_retrain_is_train_on_the_corrected_manifest_and_goes_on_as_train_would(
    pipeline_config_json: str,
) -> None:
    # Given one sample state / When Train and Retrain render their requests
    state = sample_state(pipeline_config_json, "augmented")
    definition = definition_with_substitutions()["States"]
    train = render(definition["Train"]["Parameters"], state, CONTEXT)
    retrain = render(definition["Retrain"]["Parameters"], state, CONTEXT)
    # Then everything is Train's but the name and the corrected training manifest
    assert retrain.pop("TrainingJobName") == f"{state['run_id']}-retrain-0"
    channel = retrain["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert channel.pop("S3Uri") == state["label_errors"]["corrected"]["train_uri"]
    train.pop("TrainingJobName")
    train["InputDataConfig"][0]["DataSource"]["S3DataSource"].pop("S3Uri")
    assert retrain == train
    # and its model goes on (measured, recorded, then to CreateModel) with Train's result, retries and failures
    for key in ("Resource", "ResultSelector", "ResultPath", "TimeoutSeconds", "Retry", "Catch"):
        assert STATES["Retrain"][key] == STATES["Train"][key], key
    assert STATES["Retrain"]["Next"] == "MeasureLabelErrors"


def test_the_steps_go_in_order_and_every_label_error_step_fails_at_label_errors() -> None:
    order = ["PrepareFolds", "OutOfFold", "FlagLabelErrors", "AnyLabelErrors"]
    assert [STATES[name]["Next"] for name in order[:-1]] == order[1:]
    assert STATES["AnyLabelErrors"]["Choices"] == [
        {"Variable": "$.label_errors.flags.flagged", "NumericGreaterThan": 0, "Next": "ReviewLabelErrors"}
    ]
    # nothing flagged: no review and no retrain, but the step is still measured and recorded
    assert STATES["AnyLabelErrors"]["Default"] == "NothingFlagged"
    assert STATES["NothingFlagged"]["Result"] == {"summary": None}
    assert STATES["NothingFlagged"]["ResultPath"] == "$.label_errors.corrected"
    assert STATES["NothingFlagged"]["Next"] == "MeasureLabelErrors"
    reviewed = ["ReviewLabelErrors", "CorrectLabels", "Retrain", "MeasureLabelErrors", "RecordLabelErrors"]
    assert [STATES[name]["Next"] for name in reviewed[:-1]] == reviewed[1:]
    assert STATES["RecordLabelErrors"]["Next"] == "CreateModel"
    # the fix is measured on Train's job and the served model's (Retrain's, or Train's when nothing was flagged)
    measure = STATES["MeasureLabelErrors"]
    assert measure["Parameters"]["FunctionName"] == "${LabelErrorsFunctionArn}"
    assert measure["Parameters"]["Payload"] == {
        "action": "accuracy",
        "train_job_name.$": "$.label_errors.train_job_name",
        "served_job_name.$": "$.training.job_name",
    }
    assert measure["ResultPath"] == "$.label_errors.accuracy"
    assert STATES["PrepareFolds"]["ResultSelector"]["train_job_name.$"] == "$.Payload.train_job_name"
    # the ledger's steps.labelerrors records the folds, the flags, the review's summary and the accuracies
    # (a ledger failure: FailedRecord)
    payload = STATES["RecordLabelErrors"]["Parameters"]["Payload"]
    assert (payload["action"], payload["step"], payload["status"]) == ("step", "labelerrors", "Completed")
    assert payload["flags.$"] == "$.label_errors.flags"
    assert payload["summary.$"] == "$.label_errors.corrected.summary"
    assert payload["folds.$"] == "$.config.label_errors.folds"
    assert payload["accuracy.$"] == "$.label_errors.accuracy"
    assert [c["Next"] for c in STATES["RecordLabelErrors"]["Catch"]] == ["FailedRecord"]
    for name in (
        "PrepareFolds",
        "OutOfFold",
        "FlagLabelErrors",
        "ReviewLabelErrors",
        "CorrectLabels",
        "MeasureLabelErrors",
    ):
        assert [c["Next"] for c in STATES[name]["Catch"]] == ["FailedLabelErrors"], name
    # The review is a review-only job of the builtin labeling function, answered like LabelWithTeam's
    review = STATES["ReviewLabelErrors"]
    assert review["Parameters"]["FunctionName"] == "${LabelingFunctionArn}"
    assert review["Parameters"]["Payload"]["review_given"] is True
    assert review["Parameters"]["Payload"]["manifest_uri.$"] == "$.label_errors.flags.review_manifest_uri"
    for key in ("Resource", "HeartbeatSeconds", "TimeoutSeconds", "Retry"):
        assert review[key] == STATES["LabelWithTeam"][key], key


def test_only_a_run_with_the_setting_and_no_warm_start_finds_label_errors(pipeline_config_json: str) -> None:
    # Given ChooseLabelErrors' rule, which both Train and TrainIncremental reach
    assert STATES["Train"]["Next"] == STATES["TrainIncremental"]["Next"] == "ChooseLabelErrors"
    [rule] = STATES["ChooseLabelErrors"]["Choices"]
    present, not_null, not_warm = rule["And"]
    assert present == {"Variable": "$.config.label_errors", "IsPresent": True}
    assert not_null == {"Variable": "$.config.label_errors", "IsNull": False}
    # Then a warm-started feedback run keeps its model (Retrain is Train's request, without the model channel)
    assert not_warm == {
        "Not": {
            "And": [
                {"Variable": "$.split.warm_start.model_uri", "IsPresent": True},
                {"Variable": "$.split.warm_start.model_uri", "IsString": True},
            ]
        }
    }
    assert rule["Next"] == "PrepareFolds" and STATES["ChooseLabelErrors"]["Default"] == "CreateModel"
    # and a stack without the setting (the default) leaves the key out of the runs' config
    assert "label_errors" not in json.loads(pipeline_config_json)
