"""label_errors handler against moto S3: prepare the folds, flag from their transform outputs, correct."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from label_errors import handler

from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext, classification_line

RUN = "demo-0123456789abcdef"
TRAIN_KEY = f"splits/{RUN}/train.manifest"
CLASSES = ["cat", "dog", "bird"]
FLIPPED = {3, 17}  # given the wrong label on purpose: 3 is a cat labeled dog, 17 a dog labeled cat
# Train's hyperparameters as the split computes them (num_training_samples: the whole training set's 30)
HYPERPARAMETERS = {"num_classes": "3", "num_training_samples": "30", "epochs": "5"}
TRAIN_JOB = f"{RUN}-train-0"


def truth(index: int) -> int:
    return 0 if index < 15 else 1


def given(index: int) -> int:
    return 1 - truth(index) if index in FLIPPED else truth(index)


def base(**overrides: Any) -> dict[str, Any]:
    return {
        "run_id": RUN,
        "data_bucket": DATA_BUCKET,
        "train_uri": f"s3://{DATA_BUCKET}/{TRAIN_KEY}",
        "label_attribute": "category",
        **overrides,
    }


def call(context: FakeContext, action: str, **payload: Any) -> dict[str, Any]:
    return handler.lambda_handler({"action": action, **base(**payload)}, context)


def simulate_transforms(cloud: Cloud, folds: list[dict[str, Any]]) -> None:
    """What each fold's batch transform writes: ``<output><relative key>.out`` with the true class likely."""
    for fold in folds:
        images = json.loads(cloud.read(fold["images_uri"].split("/", 3)[3]))
        out = fold["output_uri"].split("/", 3)[3]
        for key in images[1:]:
            index = int(key.rsplit("-", 1)[1].split(".")[0])
            probabilities = [0.05, 0.05, 0.05]
            probabilities[truth(index)] = 0.9
            cloud.put(f"{out}{key}.out", json.dumps({"prediction": probabilities}))


@pytest.fixture
def prepared(cloud: Cloud, context: FakeContext) -> dict[str, Any]:
    # given a split's training manifest of 15 cats and 15 dogs, two of them labeled wrong
    cloud.put(TRAIN_KEY, "".join(classification_line(i, given(i)) + "\n" for i in range(30)))
    return call(
        context, "prepare", folds=3, seed=7, hyperparameters=HYPERPARAMETERS, train_job_name=TRAIN_JOB
    )


def test_prepare_writes_each_folds_training_manifest_and_held_out_images(
    cloud: Cloud, prepared: dict[str, Any]
) -> None:
    # then three folds, each training on the others' lines and holding its own out as a ManifestFile
    assert prepared["objects"] == 30 and [f["fold"] for f in prepared["folds"]] == [0, 1, 2]
    held: list[str] = []
    for fold in prepared["folds"]:
        assert (
            fold["train_uri"]
            == f"s3://{DATA_BUCKET}/splits/{RUN}/label-errors/fold-{fold['fold']}/train.manifest"
        )
        assert fold["output_uri"] == f"s3://{DATA_BUCKET}/transform/{RUN}/label-errors/fold-{fold['fold']}/"
        images = json.loads(cloud.read(fold["images_uri"].split("/", 3)[3]))
        assert images[0] == {"prefix": f"s3://{DATA_BUCKET}/images/"}
        refs = {images[0]["prefix"] + key for key in images[1:]}
        trained = {
            json.loads(raw)["source-ref"]
            for raw in cloud.read(fold["train_uri"].split("/", 3)[3]).splitlines()
        }
        assert trained.isdisjoint(refs) and len(trained) + len(refs) == 30
        # and the fold's job gets Train's hyperparameters with its own training count
        assert fold["hyperparameters"] == {**HYPERPARAMETERS, "num_training_samples": str(len(trained))}
        held += refs
    assert len(held) == len(set(held)) == 30
    # and Train's job is handed back, for the accuracy before the fix
    assert prepared["train_job_name"] == TRAIN_JOB


class DescribedJobs:
    """DescribeTrainingJob answers by job name (what the built-in algorithm reported)."""

    def __init__(self, jobs: dict[str, dict[str, Any]]) -> None:
        self.jobs = jobs
        self.asked: list[str] = []

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.asked.append(TrainingJobName)
        if TrainingJobName not in self.jobs:
            raise ClientError(
                {"Error": {"Code": "ValidationException", "Message": "Requested resource not found."}},
                "DescribeTrainingJob",
            )
        return {"TrainingJobName": TrainingJobName, **self.jobs[TrainingJobName]}


def metrics(**values: float) -> dict[str, Any]:
    names = {"validation": "validation:accuracy", "train": "train:accuracy"}
    return {"FinalMetricDataList": [{"MetricName": names[k], "Value": v} for k, v in values.items()]}


@pytest.fixture
def sagemaker(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, dict[str, Any]]], DescribedJobs]:
    def install(jobs: dict[str, dict[str, Any]]) -> DescribedJobs:
        fake = DescribedJobs(jobs)
        real = handler.client
        monkeypatch.setattr(
            handler, "client", lambda service: fake if service == "sagemaker" else real(service)
        )
        return fake

    return install


def test_accuracy_reports_train_s_and_the_retrain_s_validation_accuracy_and_the_change(
    context: FakeContext, sagemaker: Callable[[dict[str, dict[str, Any]]], DescribedJobs]
) -> None:
    # Given Train's job reported validation accuracy 0.9 and the retrain on the corrected labels 0.95
    retrain = f"{RUN}-retrain-0"
    sagemaker({TRAIN_JOB: metrics(train=0.99, validation=0.9), retrain: metrics(validation=0.95)})
    # When the fix is measured
    answer = handler.lambda_handler(
        {"action": "accuracy", "train_job_name": TRAIN_JOB, "served_job_name": retrain}, context
    )
    # Then both are the jobs' validation:accuracy, and the change is after - before
    assert answer == pytest.approx(
        {"metric": "validation:accuracy", "before": 0.9, "after": 0.95, "change": 0.05}
    )


def test_accuracy_without_a_retrain_reports_train_s_only(
    context: FakeContext, sagemaker: Callable[[dict[str, dict[str, Any]]], DescribedJobs]
) -> None:
    # Given nothing was flagged, so the served model is Train's own
    fake = sagemaker({TRAIN_JOB: metrics(validation=0.9)})
    # When measured
    answer = handler.lambda_handler(
        {"action": "accuracy", "train_job_name": TRAIN_JOB, "served_job_name": TRAIN_JOB}, context
    )
    # Then before is Train's, there is no after and no change, and Train's job was described once
    assert answer == {"metric": "validation:accuracy", "before": 0.9, "after": None, "change": None}
    assert fake.asked == [TRAIN_JOB]


def test_accuracy_of_a_job_without_the_metric_is_unknown_and_a_missing_job_fails_naming_it(
    context: FakeContext, sagemaker: Callable[[dict[str, dict[str, Any]]], DescribedJobs]
) -> None:
    # Given Train's job reported no validation accuracy (only train:accuracy)
    sagemaker({TRAIN_JOB: metrics(train=0.99), f"{RUN}-retrain-0": {}})
    # When measured against a retrain that reported no metrics at all; then both are unknown
    answer = handler.lambda_handler(
        {"action": "accuracy", "train_job_name": TRAIN_JOB, "served_job_name": f"{RUN}-retrain-0"}, context
    )
    assert (answer["before"], answer["after"], answer["change"]) == (None, None, None)
    # and a job SageMaker does not know fails the step naming it and SageMaker's error
    with pytest.raises(
        handler.LabelErrorsError,
        match=f"training job {RUN}-gone cannot be described \\(ValidationException\\): Requested resource not found",
    ):
        handler.lambda_handler(
            {"action": "accuracy", "train_job_name": f"{RUN}-gone", "served_job_name": TRAIN_JOB}, context
        )


def test_flag_finds_the_flipped_labels_and_writes_them_for_review(
    cloud: Cloud, context: FakeContext, prepared: dict[str, Any]
) -> None:
    # given each fold's transform output (the true class likely)
    simulate_transforms(cloud, prepared["folds"])
    # when flagged (at most a fifth of the objects)
    answer = call(context, "flag", class_names=CLASSES, max_share=0.2, folds=prepared["folds"])
    # then exactly the two flipped objects go to review, carrying the model's suggestion
    assert (answer["objects"], answer["assessed"], answer["flagged"]) == (30, 30, 2)
    assert answer["review_manifest_uri"] == f"s3://{DATA_BUCKET}/labeling/{RUN}/label-errors-review.manifest"
    review = [
        json.loads(raw) for raw in cloud.read(f"labeling/{RUN}/label-errors-review.manifest").splitlines()
    ]
    assert sorted(obj["source-ref"].rsplit("-", 1)[1] for obj in review) == ["00003.jpg", "00017.jpg"]
    for obj in review:
        found = obj["category-metadata"]["label-error"]
        assert found["given"] == obj["category"] and found["suggested"] == 1 - obj["category"]
        assert found["suggested-class-name"] == CLASSES[found["suggested"]]


def test_nothing_flagged_writes_no_review_manifest(
    cloud: Cloud, context: FakeContext, prepared: dict[str, Any]
) -> None:
    # given transform outputs that agree with every given label
    for fold in prepared["folds"]:
        images = json.loads(cloud.read(fold["images_uri"].split("/", 3)[3]))
        for key in images[1:]:
            index = int(key.rsplit("-", 1)[1].split(".")[0])
            probabilities = [0.05, 0.05, 0.05]
            probabilities[given(index)] = 0.9
            cloud.put(
                f"{fold['output_uri'].split('/', 3)[3]}{key}.out", json.dumps({"prediction": probabilities})
            )
    # when flagged; then nothing goes to review (the state machine skips review and retrain)
    answer = call(context, "flag", class_names=CLASSES, max_share=0.2, folds=prepared["folds"])
    assert answer["flagged"] == 0 and answer["review_manifest_uri"] is None


def test_correct_puts_the_reviewed_labels_back_and_keeps_every_other_line(
    cloud: Cloud, context: FakeContext, prepared: dict[str, Any]
) -> None:
    # given the flagged objects, and a review that fixes one and accepts the other's given label
    simulate_transforms(cloud, prepared["folds"])
    flagged = call(context, "flag", class_names=CLASSES, max_share=0.2, folds=prepared["folds"])
    review = [
        json.loads(raw) for raw in cloud.read(f"labeling/{RUN}/label-errors-review.manifest").splitlines()
    ]
    fixed, accepted = sorted(review, key=lambda obj: obj["source-ref"])
    fixed["category"] = 1 - fixed["category"]
    cloud.put(f"labeling/{RUN}/reviewed.manifest", f"{json.dumps(fixed)}\n{json.dumps(accepted)}\n")
    # when corrected
    answer = call(
        context,
        "correct",
        issues_uri=flagged["issues_uri"],
        reviewed_uri=f"s3://{DATA_BUCKET}/labeling/{RUN}/reviewed.manifest",
    )
    # then object 3 has its true label, object 17 keeps the given one, the other 28 lines are unchanged bytes
    assert answer["train_uri"] == f"s3://{DATA_BUCKET}/splits/{RUN}/label-errors/train.manifest"
    lines = cloud.read(f"splits/{RUN}/label-errors/train.manifest").splitlines()
    labels = [json.loads(raw)["category"] for raw in lines]
    assert labels[3] == truth(3) and labels[17] == given(17)
    original = cloud.read(TRAIN_KEY).splitlines()
    assert [raw for i, raw in enumerate(lines) if i not in FLIPPED] == [
        raw for i, raw in enumerate(original) if i not in FLIPPED
    ]
    summary = answer["summary"]
    assert (summary["flagged"], summary["confirmed"], summary["kept"], summary["unreviewed"]) == (2, 1, 1, 0)


READY = {"hyperparameters": HYPERPARAMETERS, "train_job_name": TRAIN_JOB}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"action": "guess"}, "action must be one of prepare, flag, correct, accuracy; got 'guess'"),
        ({"action": "prepare", **base(folds=1, seed=0)}, "invalid label_errors prepare payload: folds"),
        (
            {"action": "prepare", **base(folds=3, seed=0, train_job_name="j")},
            "invalid label_errors prepare payload: hyperparameters: Field required",
        ),
        (
            {"action": "accuracy", "train_job_name": "j"},
            "invalid label_errors accuracy payload: served_job_name",
        ),
        ({"action": "prepare", **base(folds=3, seed=0, train_uri="s3://nope", **READY)}, "training manifest"),
        (
            {
                "action": "prepare",
                **base(folds=3, seed=0, train_uri=f"s3://{DATA_BUCKET}/splits/missing", **READY),
            },
            "training manifest s3://gtpipe-data-bucket/splits/missing cannot be read: NoSuchKey",
        ),
    ],
)
def test_bad_payloads_fail_naming_the_problem(
    cloud: Cloud, context: FakeContext, event: dict[str, Any], message: str
) -> None:
    # Given a payload the step cannot run on; when invoked; then LabelErrorsError names the problem
    with pytest.raises(handler.LabelErrorsError, match=message.replace("(", r"\(")):
        handler.lambda_handler(event, context)


def test_a_detection_manifest_is_refused_naming_the_line(cloud: Cloud, context: FakeContext) -> None:
    # Given a training manifest whose second line holds boxes, not a class index
    boxes = json.dumps({"source-ref": f"s3://{DATA_BUCKET}/images/x.jpg", "category": {"annotations": []}})
    cloud.put(TRAIN_KEY, classification_line(0, 0) + "\n" + boxes + "\n")
    # When prepared; then the error names the line and what is supported
    with pytest.raises(handler.LabelErrorsError, match="line 2 has no source-ref and class index"):
        call(context, "prepare", folds=2, seed=0, **READY)
