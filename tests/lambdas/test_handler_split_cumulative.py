"""split with the cumulative dataset (gtpipe_shared.dataset) against moto S3: every run's training data
becomes the label set's dataset's next version; a feedback run trains on that dataset plus its new labels,
and the earlier validation objects stay in validation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gtpipe_shared.dataset import dataset_keys
from gtpipe_shared.split import SplitError
from split import handler as split_handler

from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext, classification_line, load_event

FIRST = "labeling/first/manifests/output/output.manifest"
FEEDBACK = "labeling/feedback/manifests/output/output.manifest"
TRAIN_KEY, VALIDATION_KEY = dataset_keys("image-classification", ["cat", "dog", "bird"])


def split(cloud: Cloud, context: FakeContext, run_id: str, manifest: str, source: str) -> dict[str, Any]:
    payload = {
        **load_event("split_payload.json"),
        "run_id": run_id,
        "manifest_uri": f"s3://{DATA_BUCKET}/{manifest}",
        "source_manifest_uri": f"s3://{DATA_BUCKET}/{source}",
    }
    return split_handler.lambda_handler(payload, context)


def refs(cloud: Cloud, key: str) -> list[str]:
    body = cloud.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line)["source-ref"] for line in body.splitlines() if line.strip()]


def test_a_feedback_run_trains_on_the_dataset_plus_its_new_labels(cloud: Cloud, context: FakeContext) -> None:
    # given a first run of 30 images (10 per class) from a hand-dropped manifest
    cloud.put(FIRST, "".join(classification_line(i, i % 3) + "\n" for i in range(30)))
    first = split(cloud, context, "first-0123", FIRST, "incoming/digits.manifest")
    assert first["dataset"]["cumulative"] is False
    first_train = refs(cloud, "splits/first-0123/train.manifest")
    first_validation = refs(cloud, "splits/first-0123/validation.manifest")
    # and its training data is the label set's dataset, version by version
    assert refs(cloud, TRAIN_KEY) == first_train and refs(cloud, VALIDATION_KEY) == first_validation
    version = first["dataset"]["version"]
    assert version["train_uri"] == f"s3://{DATA_BUCKET}/{TRAIN_KEY}" and version["train_version_id"]
    # when a feedback run labels 15 new images and relabels one of the first run's training images
    relabeled = int(first_train[0].rsplit("-", 1)[1].split(".")[0])
    new_lines = [classification_line(100 + i, i % 3) for i in range(15)]
    new_lines.append(classification_line(relabeled, (relabeled + 1) % 3))
    cloud.put(FEEDBACK, "".join(line + "\n" for line in new_lines))
    second = split(cloud, context, "feedback-0123", FEEDBACK, "incoming/feedback-2026-01-03.manifest")
    # then it trains on the first run's data plus the new labels (the relabeled image once, newly labeled)
    dataset = second["dataset"]
    assert dataset["cumulative"] is True
    assert dataset["base"]["train_version_id"] == version["train_version_id"]
    train = refs(cloud, "splits/feedback-0123/train.manifest")
    validation = refs(cloud, "splits/feedback-0123/validation.manifest")
    assert set(first_validation) <= set(validation)
    assert set(first_train) <= set(train) | set(validation)
    assert len(train) + len(validation) == 30 + 15
    assert len(train) == len(set(train)) and not set(train) & set(validation)
    assert dataset["added"]["train"] + dataset["added"]["validation"] == 16
    assert second["counts"]["train"] == len(train) and second["counts"]["validation"] == len(validation)
    assert second["hyperparameters"]["num_training_samples"] == str(len(train))
    relabeled_lines = [
        json.loads(line)
        for key in ("splits/feedback-0123/train.manifest", "splits/feedback-0123/validation.manifest")
        for line in cloud.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read().decode().splitlines()
        if json.loads(line)["source-ref"] == first_train[0]
    ]
    assert [line["category"] for line in relabeled_lines] == [(relabeled + 1) % 3]
    # and the batch transform's images manifest lists every validation image
    images = json.loads(
        cloud.s3.get_object(Bucket=DATA_BUCKET, Key="splits/feedback-0123/validation-images.manifest")[
            "Body"
        ].read()
    )
    assert [images[0]["prefix"] + key for key in images[1:]] == validation
    # and the dataset's next version is this run's training data
    assert refs(cloud, TRAIN_KEY) == train
    assert dataset["version"]["train_version_id"] != version["train_version_id"]


def test_a_feedback_run_without_an_earlier_dataset_trains_on_its_own_labels(
    cloud: Cloud, context: FakeContext
) -> None:
    # given no dataset of the label set yet, when a feedback run splits
    cloud.put(FEEDBACK, "".join(classification_line(i, i % 3) + "\n" for i in range(15)))
    answer = split(cloud, context, "feedback-0123", FEEDBACK, "incoming/feedback-2026-01-03.manifest")
    # then it is not cumulative and says why
    assert answer["dataset"]["cumulative"] is False
    assert answer["dataset"]["reason"] == "no earlier dataset of this label set"
    assert answer["counts"]["train"] + answer["counts"]["validation"] == 15


def test_a_small_harvest_of_one_class_joins_the_training_data_whole(
    cloud: Cloud, context: FakeContext
) -> None:
    # given a dataset of the label set from a first run
    cloud.put(FIRST, "".join(classification_line(i, i % 3) + "\n" for i in range(30)))
    split(cloud, context, "first-0123", FIRST, "incoming/digits.manifest")
    first_validation = refs(cloud, "splits/first-0123/validation.manifest")
    # when a feedback run has two new labels of one class (too few to split on their own)
    cloud.put(FEEDBACK, "".join(classification_line(200 + i, 1) + "\n" for i in range(2)))
    answer = split(cloud, context, "feedback-0123", FEEDBACK, "incoming/feedback-2026-01-03.manifest")
    # then both go to train, added to the dataset; its validation images validate as before
    train = refs(cloud, "splits/feedback-0123/train.manifest")
    assert {f"s3://{DATA_BUCKET}/images/img-{200 + i:05d}.jpg" for i in range(2)} <= set(train)
    assert refs(cloud, "splits/feedback-0123/validation.manifest") == first_validation
    assert answer["dataset"]["added"] == {"train": 2, "validation": 0}
    assert answer["counts"]["train"] == len(train) == 30 - len(first_validation) + 2


def test_without_a_dataset_too_few_labels_still_fail_the_split_naming_why(
    cloud: Cloud, context: FakeContext
) -> None:
    # given no dataset yet, when a feedback run has labels of one class only
    cloud.put(FEEDBACK, "".join(classification_line(200 + i, 1) + "\n" for i in range(2)))
    # then the split fails as any run would, naming the problem
    with pytest.raises(SplitError, match="only 1 class present"):
        split(cloud, context, "feedback-0123", FEEDBACK, "incoming/feedback-2026-01-03.manifest")
