"""gtpipe:labelErrors through the real definition (harness of tests/pipeline/harness.py: scripted SageMaker
outcomes, the real start_run and notify handlers, test doubles for label_errors and labeling): after Train,
one training job, model and held-out transform per fold, the flags, a review-only job, the corrected
manifest and the retrain whose model goes on; nothing flagged goes on with Train's model."""

from __future__ import annotations

from typing import Any

from gtpipe_shared.ledger import from_dynamo

from tests.pipeline.harness import Pipeline, augmented_manifest
from tests.pipeline.harness import pipeline as pipeline  # fixture
from tests.pipeline.harness import pipeline_config as pipeline_config  # fixture
from tests.pipeline.label_errors_support import (
    ACCURACY_AFTER,
    ACCURACY_BEFORE,
    OBJECTS,
    enable_label_errors,
)

FLAGGED_PATH = [
    "Train",
    "ChooseLabelErrors",
    "PrepareFolds",
    "OutOfFold",
    *["TrainFold", "CreateFoldModel", "TransformFold"] * 2,
    "FlagLabelErrors",
    "AnyLabelErrors",
    "ReviewLabelErrors",
    "CorrectLabels",
    "Retrain",
    "MeasureLabelErrors",
    "RecordLabelErrors",
    "CreateModel",
]


def requests(pipeline: Pipeline, operation: str, run_id: str) -> list[dict[str, Any]]:
    return [
        request
        for called, request in pipeline.sagemaker.calls
        if called == operation and any(str(value).startswith(run_id) for value in request.values())
    ]


def test_flagged_objects_are_reviewed_and_the_model_retrains_on_the_corrected_labels(
    pipeline: Pipeline,
) -> None:
    # Given a stack with label-error finding (2 folds) and a manifest whose labels hold two likely errors
    enable_label_errors(pipeline.configure_builtin)
    # When the run goes through
    run_id = pipeline.drop("incoming/noisy.manifest", augmented_manifest())["run_id"]
    described, entered = pipeline.wait(run_id, timeout=60)
    # Then it deployed, past the label-error states between Train and CreateModel
    assert described["status"] == "SUCCEEDED", described
    train = entered.index("Train")
    assert entered[train : train + len(FLAGGED_PATH)] == FLAGGED_PATH
    # and trained Train, one job per fold on the fold's manifest, and the retrain on the corrected manifest
    trainings = requests(pipeline, "CreateTrainingJob", run_id)
    assert [r["TrainingJobName"] for r in trainings] == [
        f"{run_id}-train-0",
        f"{run_id}-lef0-0",
        f"{run_id}-lef1-0",
        f"{run_id}-retrain-0",
    ]
    channels = [r["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] for r in trainings]
    # each fold job declaring its own training count (prepare's), Train and the retrain the whole set's
    samples = [r["HyperParameters"]["num_training_samples"] for r in trainings]
    assert samples[1] == samples[2] == str(OBJECTS - OBJECTS // 2) and samples[0] == samples[3] != samples[1]
    assert channels[1].endswith(f"/splits/{run_id}/label-errors/fold-0/train.manifest")
    assert channels[3].endswith(f"/splits/{run_id}/label-errors/train.manifest")
    # and each fold's model predicted its held-out images into the fold's prefix
    transforms = [
        r for r in requests(pipeline, "CreateTransformJob", run_id) if "-lex" in r["TransformJobName"]
    ]
    assert [r["TransformOutput"]["S3OutputPath"] for r in transforms] == [
        f"s3://{channels[0].split('/')[2]}/transform/{run_id}/label-errors/fold-{fold}/" for fold in (0, 1)
    ]
    # and the served model is the retrain's
    [model] = [
        r for r in requests(pipeline, "CreateModel", run_id) if r["ModelName"].startswith(f"{run_id}-model")
    ]
    assert f"{run_id}-retrain-0" in model["PrimaryContainer"]["ModelDataUrl"]
    # and the review was a review-only job of the flagged objects, whose output the correction read
    [review] = [e for e in pipeline.doubles.called("labeling") if e.get("review_given")]
    assert review["manifest_uri"].endswith(f"/labeling/{run_id}/label-errors-review.manifest")
    assert review["job_name"] == f"{run_id}-lerev-0"
    actions = [e["action"] for e in pipeline.doubles.called("label_errors")]
    assert actions == ["prepare", "flag", "correct", "accuracy"]
    [measured] = [e for e in pipeline.doubles.called("label_errors") if e["action"] == "accuracy"]
    assert (measured["train_job_name"], measured["served_job_name"]) == (
        f"{run_id}-train-0",
        f"{run_id}-retrain-0",
    )
    [correct] = [e for e in pipeline.doubles.called("label_errors") if e["action"] == "correct"]
    assert correct["reviewed_uri"].endswith(f"/labeling/{run_id}-lerev-0/manifests/output/output.manifest")
    # and wrote the reviewed labels into the label set's dataset version the split wrote
    [split] = [e for e in pipeline.doubles.called("split") if e["run_id"] == run_id]
    assert correct["dataset_train_uri"] == f"s3://{split['data_bucket']}/datasets/lf1-harness/train.manifest"
    # and the runs ledger records what was flagged and what the review confirmed
    step = pipeline.ledger(run_id)["steps"]["labelerrors"]
    assert step["status"] == "Completed"
    assert (step["flags"]["flagged"], step["summary"]["confirmed"], step["summary"]["kept"]) == (2, 1, 1)
    # and the folds and the validation accuracy before (Train's) and after (Retrain's) the fix
    assert step["folds"] == 2
    assert from_dynamo(step["accuracy"]) == {
        "metric": "validation:accuracy",
        "before": ACCURACY_BEFORE,
        "after": ACCURACY_AFTER,
        "change": round(ACCURACY_AFTER - ACCURACY_BEFORE, 4),
    }


def test_nothing_flagged_goes_on_with_train_s_model(pipeline: Pipeline) -> None:
    # Given a stack with label-error finding, and out-of-fold predictions that agree with every label
    enable_label_errors(pipeline.configure_builtin)
    pipeline.doubles.label_errors_flagged = 0
    # When the run goes through
    run_id = pipeline.drop("incoming/clean.manifest", augmented_manifest())["run_id"]
    described, entered = pipeline.wait(run_id, timeout=60)
    # Then there is no review and no retrain: Train's model goes on
    assert described["status"] == "SUCCEEDED", described
    after = entered.index("AnyLabelErrors") + 1
    assert entered[after : after + 4] == [
        "NothingFlagged",
        "MeasureLabelErrors",
        "RecordLabelErrors",
        "CreateModel",
    ]
    assert "ReviewLabelErrors" not in entered and "Retrain" not in entered
    assert [r["TrainingJobName"] for r in requests(pipeline, "CreateTrainingJob", run_id)] == [
        f"{run_id}-train-0",
        f"{run_id}-lef0-0",
        f"{run_id}-lef1-0",
    ]
    # and the ledger still records the step: the objects checked, none flagged, the folds, Train's accuracy
    step = pipeline.ledger(run_id)["steps"]["labelerrors"]
    assert step["status"] == "Completed"
    assert (step["flags"]["objects"], step["flags"]["assessed"], step["flags"]["flagged"]) == (
        OBJECTS,
        OBJECTS,
        0,
    )
    assert step["folds"] == 2 and "summary" not in step  # no review ran
    assert from_dynamo(step["accuracy"]) == {"metric": "validation:accuracy", "before": ACCURACY_BEFORE}
    # and the report is handed the step as it ran (its own tests: tests/lambdas/test_report_label_errors.py)
    [report] = [e for e in pipeline.doubles.called("report") if e.get("outcome") == "succeeded"]
    part = report["state"]["label_errors"]
    assert part["corrected"] == {"summary": None} and part["flags"]["flagged"] == 0
