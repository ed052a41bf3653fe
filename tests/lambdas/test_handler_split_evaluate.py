"""split and evaluate handlers against moto S3: the state machine's two data steps."""

from __future__ import annotations

import json
from typing import Any

import pytest
from evaluate import handler as evaluate_handler
from gtpipe_shared.split import SplitError
from split import handler as split_handler

from tests.lambdas.conftest import (
    DATA_BUCKET,
    Cloud,
    FakeContext,
    classification_line,
    detection_line,
    load_event,
)

RUN = "demo-0123456789abcdef"
MANIFEST_KEY = "labeling/demo-0123456789abcdef-label-0/manifests/output/output.manifest"


def put_manifest(cloud: Cloud, lines: list[str]) -> None:
    cloud.put(MANIFEST_KEY, "\n".join(lines) + "\n")


def split(cloud: Cloud, context: FakeContext, **overrides: Any) -> dict[str, Any]:
    payload = {**load_event("split_payload.json"), **overrides}
    return split_handler.lambda_handler(payload, context)


def test_split_writes_outputs_and_returns_contract(cloud: Cloud, context: FakeContext) -> None:
    # given a labeled manifest with 20 cats, 10 dogs, 5 birds
    labels = [0] * 20 + [1] * 10 + [2] * 5
    put_manifest(cloud, [classification_line(i, label) for i, label in enumerate(labels)])
    # when split runs
    answer = split(cloud, context)
    # then the three manifests exist and the answer matches the contract
    base = f"s3://{DATA_BUCKET}/splits/{RUN}/"
    assert answer["train_uri"] == base + "train.manifest"
    assert answer["validation_uri"] == base + "validation.manifest"
    assert answer["validation_images_uri"] == base + "validation-images.manifest"
    assert answer["transform_output_uri"] == f"s3://{DATA_BUCKET}/transform/{RUN}/"
    assert answer["counts"] == {
        "train": 28,
        "validation": 7,
        "skipped": 0,
        "per_class": {
            "cat": {"train": 16, "validation": 4},
            "dog": {"train": 8, "validation": 2},
            "bird": {"train": 4, "validation": 1},
        },
    }
    assert answer["label_attribute"] == "category" and answer["num_classes"] == 3
    assert answer["class_names"] == ["cat", "dog", "bird"]
    assert answer["hyperparameters"] == {
        "num_classes": "3",
        "num_training_samples": "28",
        "epochs": "10",
        "mini_batch_size": "8",
    }
    train = cloud.read(f"splits/{RUN}/train.manifest").splitlines()
    validation = cloud.read(f"splits/{RUN}/validation.manifest").splitlines()
    images = json.loads(cloud.read(f"splits/{RUN}/validation-images.manifest"))
    assert len(train) == 28 and len(validation) == 7
    assert images[0] == {"prefix": f"s3://{DATA_BUCKET}/images/"} and len(images) == 8
    assert len(json.dumps(answer)) < 8000


def test_split_overrides_win_over_computed_hyperparameters(cloud: Cloud, context: FakeContext) -> None:
    put_manifest(cloud, [classification_line(i, i % 2) for i in range(10)])
    answer = split(cloud, context, hyperparameters={"num_classes": "5", "use_pretrained_model": True})
    assert answer["hyperparameters"]["num_classes"] == "5"
    assert answer["hyperparameters"]["use_pretrained_model"] == "true"


def test_split_detection_adds_label_width(cloud: Cloud, context: FakeContext) -> None:
    put_manifest(cloud, [detection_line(i, [(i % 2, 1, 1, 5, 5)] * 80) for i in range(6)])
    answer = split(cloud, context, task_type="object-detection", hyperparameters={})
    assert answer["hyperparameters"]["label_width"] == str(2 + 5 * 80)


@pytest.mark.parametrize(
    ("lines", "overrides", "fragment"),
    [
        (None, {}, "is unreadable"),
        ([], {}, "no lines labeled"),
        ([classification_line(i, 0) for i in range(5)], {}, "only 1 class present"),
        ([classification_line(0, 0)], {"manifest_uri": "not-a-uri"}, "manifest_uri"),
        ([classification_line(0, 0)], {"class_names": []}, "class_names"),
        ([classification_line(0, 0)], {"task_type": "segmentation"}, "unsupported task_type"),
    ],
)
def test_split_errors_are_named(
    cloud: Cloud, context: FakeContext, lines: list[str] | None, overrides: dict[str, Any], fragment: str
) -> None:
    if lines is not None:
        put_manifest(cloud, lines)
    with pytest.raises(SplitError, match=fragment):
        split(cloud, context, **overrides)


def write_outputs(cloud: Cloud, predictions: dict[str, list[float] | None]) -> None:
    for ref, probs in predictions.items():
        if probs is None:
            continue
        relative = ref.split("/images/", 1)[1]
        cloud.put(f"transform/{RUN}/{relative}.out", json.dumps({"prediction": probs}))


def evaluate(cloud: Cloud, context: FakeContext, **overrides: Any) -> dict[str, Any]:
    payload = {**load_event("evaluate_payload.json"), **overrides}
    return evaluate_handler.lambda_handler(payload, context)


def _split_and_predict(cloud: Cloud, context: FakeContext, correct: int) -> list[str]:
    labels = [0] * 20 + [1] * 10 + [2] * 10
    put_manifest(cloud, [classification_line(i, label) for i, label in enumerate(labels)])
    split(cloud, context)
    validation = [json.loads(line) for line in cloud.read(f"splits/{RUN}/validation.manifest").splitlines()]
    predictions: dict[str, list[float] | None] = {}
    for index, obj in enumerate(validation):
        label = obj["category"] if index < correct else (obj["category"] + 1) % 3
        predictions[obj["source-ref"]] = [0.9 if k == label else 0.05 for k in range(3)]
    write_outputs(cloud, predictions)
    return [obj["source-ref"] for obj in validation]


def test_evaluate_passes_the_gate(cloud: Cloud, context: FakeContext) -> None:
    refs = _split_and_predict(cloud, context, correct=8)  # 8 validation objects, all right
    assert len(refs) == 8
    answer = evaluate(cloud, context)
    assert answer["passed"] is True and answer["accuracy"] == 1.0
    assert answer["metric_name"] == "accuracy" and answer["metric_value"] == 1.0
    assert answer["quality_threshold"] == 0.8
    assert answer["metrics_uri"] == f"s3://{DATA_BUCKET}/runs/{RUN}/metrics.json"
    assert set(answer["per_class"]) == {"cat", "dog", "bird"}
    report = json.loads(cloud.read(f"runs/{RUN}/metrics.json"))
    assert report["confusion_matrix"]["matrix"] == [[4, 0, 0], [0, 2, 0], [0, 0, 2]]
    assert len(json.dumps(answer)) < 8000


def test_evaluate_rejects_below_threshold_and_counts_missing(cloud: Cloud, context: FakeContext) -> None:
    refs = _split_and_predict(cloud, context, correct=6)
    relative = refs[0].split("/images/", 1)[1]
    cloud.s3.delete_object(Bucket=DATA_BUCKET, Key=f"transform/{RUN}/{relative}.out")
    answer = evaluate(cloud, context)
    assert answer["passed"] is False
    assert answer["accuracy"] == pytest.approx(5 / 8) and answer["missing"] == 1


def test_evaluate_without_outputs_fails_clearly(cloud: Cloud, context: FakeContext) -> None:
    labels = [0] * 5 + [1] * 5
    put_manifest(cloud, [classification_line(i, label) for i, label in enumerate(labels)])
    split(cloud, context)
    with pytest.raises(evaluate_handler.EvaluationError, match="no usable transform output"):
        evaluate(cloud, context)


def test_evaluate_recomputes_prefix_without_images_manifest(cloud: Cloud, context: FakeContext) -> None:
    _split_and_predict(cloud, context, correct=8)
    answer = evaluate(cloud, context, validation_images_uri=None)
    assert answer["accuracy"] == 1.0


def test_evaluate_payload_errors(cloud: Cloud, context: FakeContext) -> None:
    with pytest.raises(evaluate_handler.EvaluationError, match="quality_threshold"):
        evaluate(cloud, context, quality_threshold=3)
    with pytest.raises(evaluate_handler.EvaluationError, match="is unreadable"):
        evaluate(cloud, context)
    with pytest.raises(evaluate_handler.EvaluationError, match="not supported"):
        evaluate(cloud, context, task_type="segmentation")


def test_evaluate_object_detection_map(cloud: Cloud, context: FakeContext) -> None:
    # given a detection split: every image has one 100x100 box at (10, 10) in a 640x480 image
    put_manifest(cloud, [detection_line(i, [(i % 2, 10, 10, 100, 100)]) for i in range(10)])
    split(cloud, context, task_type="object-detection", hyperparameters={})
    validation = [json.loads(line) for line in cloud.read(f"splits/{RUN}/validation.manifest").splitlines()]
    # and the model finds each box exactly (normalized coordinates), plus one low-score false positive
    for obj in validation:
        class_id = obj["category"]["annotations"][0]["class_id"]
        box = [class_id, 0.95, 10 / 640, 10 / 480, 110 / 640, 110 / 480]
        relative = obj["source-ref"].split("/images/", 1)[1]
        cloud.put(
            f"transform/{RUN}/{relative}.out",
            json.dumps({"prediction": [box, [1 - class_id, 0.1, 0, 0, 0.1, 0.1]]}),
        )
    answer = evaluate(cloud, context, task_type="object-detection", quality_threshold=0.5)
    assert answer["metric_name"] == "map_50" and answer["metric_value"] == 1.0 and answer["passed"] is True
    assert answer["map"] == 1.0
    assert answer["accuracy"] is None and answer["per_class"]["cat"]["support"] == 1
