"""label_errors ``correct`` against moto S3 (versioned bucket): the reviewed labels become the next version of
the label set's dataset training manifest, written with If-Match so another run's version is never lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from label_errors import dataset, handler

from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext
from tests.lambdas.test_handler_label_errors import RUN, TRAIN_KEY, call, given, simulate_transforms, truth
from tests.lambdas.test_handler_label_errors import prepared as prepared  # fixture

DATASET_KEY = "datasets/lf1-0123/train.manifest"
DATASET_URI = f"s3://{DATA_BUCKET}/{DATASET_KEY}"
EXTRA = '{"source-ref":"s3://b/images/another-run.jpg","category":2}'


def review_fixing_object_3(cloud: Cloud, context: FakeContext, folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Flag (objects 3 and 17), and a review that fixes 3 and keeps 17's given label; the correct payload."""
    simulate_transforms(cloud, folds)
    flagged = call(context, "flag", class_names=["cat", "dog", "bird"], max_share=0.2, folds=folds)
    review = [
        json.loads(raw) for raw in cloud.read(f"labeling/{RUN}/label-errors-review.manifest").splitlines()
    ]
    fixed, accepted = sorted(review, key=lambda obj: obj["source-ref"])
    fixed["category"] = 1 - fixed["category"]
    cloud.put(f"labeling/{RUN}/reviewed.manifest", f"{json.dumps(fixed)}\n{json.dumps(accepted)}\n")
    return {
        "issues_uri": flagged["issues_uri"],
        "reviewed_uri": f"s3://{DATA_BUCKET}/labeling/{RUN}/reviewed.manifest",
        "dataset_train_uri": DATASET_URI,
    }


def versions(cloud: Cloud) -> list[dict[str, Any]]:
    listed = cloud.s3.list_object_versions(Bucket=DATA_BUCKET, Prefix=DATASET_KEY).get("Versions", [])
    return [v for v in listed if v["Key"] == DATASET_KEY]


def test_correct_writes_the_reviewed_labels_as_the_dataset_s_next_version(
    cloud: Cloud, context: FakeContext, prepared: dict[str, Any]
) -> None:
    # Given the dataset version the split wrote (the run's training manifest)
    cloud.put(DATASET_KEY, cloud.read(TRAIN_KEY))
    payload = review_fixing_object_3(cloud, context, prepared["folds"])
    # When corrected
    answer = call(context, "correct", **payload)
    # Then the dataset's next version holds both reviewed lines (3 fixed, 17 kept, each with its review
    # recorded) and every other line as it was
    [latest] = [v for v in versions(cloud) if v["IsLatest"]]
    assert answer["dataset"] == {
        "train_uri": DATASET_URI,
        "train_version_id": latest["VersionId"],
        "replaced": 2,
    }
    assert len(versions(cloud)) == 2  # the split's version is kept
    lines = cloud.read(DATASET_KEY).splitlines()
    assert lines == cloud.read(f"splits/{RUN}/label-errors/train.manifest").splitlines()
    assert json.loads(lines[3])["category"] == truth(3) and json.loads(lines[17])["category"] == given(17)


def test_a_line_another_run_rewrote_stays_and_nothing_to_replace_writes_no_version(
    cloud: Cloud, context: FakeContext, prepared: dict[str, Any]
) -> None:
    # Given a dataset a later run rewrote: objects 3 and 17 relabeled there (other lines than those reviewed)
    lines = cloud.read(TRAIN_KEY).splitlines()
    for index in (3, 17):
        relabeled = json.loads(lines[index])
        relabeled["category"] = 2
        lines[index] = json.dumps(relabeled).encode()
    cloud.put(DATASET_KEY, b"".join(line + b"\n" for line in lines))
    payload = review_fixing_object_3(cloud, context, prepared["folds"])
    # When corrected
    answer = call(context, "correct", **payload)
    # Then the later run's labels stay, and no version is written
    assert answer["dataset"] == {"train_uri": DATASET_URI, "train_version_id": None, "replaced": 0}
    assert len(versions(cloud)) == 1
    assert [json.loads(cloud.read(DATASET_KEY).splitlines()[i])["category"] for i in (3, 17)] == [2, 2]


class RacingS3:
    """moto's S3 client, except that before the first conditional put another run writes a version."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.raced = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cloud.s3, name)

    def put_object(self, **kwargs: Any) -> Any:
        if not self.raced:
            self.raced = True
            self.cloud.put(DATASET_KEY, self.cloud.read(DATASET_KEY) + EXTRA.encode() + b"\n")
        return self.cloud.s3.put_object(**kwargs)


def test_a_version_written_meanwhile_is_corrected_not_overwritten(
    cloud: Cloud, context: FakeContext, prepared: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the split's dataset version, and another run writing its version between correct's read and write
    cloud.put(DATASET_KEY, cloud.read(TRAIN_KEY))
    payload = review_fixing_object_3(cloud, context, prepared["folds"])
    racing = RacingS3(cloud)
    monkeypatch.setattr(dataset, "client", lambda name: racing)
    # When corrected
    answer = call(context, "correct", **payload)
    # Then the write failed its If-Match (412) and went again on the other run's version: both changes kept
    assert racing.raced and answer["dataset"]["replaced"] == 2
    lines = cloud.read(DATASET_KEY).splitlines()
    assert lines[-1] == EXTRA.encode() and json.loads(lines[3])["category"] == truth(3)
    assert len(versions(cloud)) == 3


def test_a_missing_dataset_fails_naming_it(
    cloud: Cloud, context: FakeContext, prepared: dict[str, Any]
) -> None:
    # Given no dataset at the URI the split named (deleted meanwhile)
    payload = review_fixing_object_3(cloud, context, prepared["folds"])
    # When corrected / Then the step fails naming the dataset and what S3 answered
    with pytest.raises(
        handler.LabelErrorsError, match=f"dataset training manifest {DATASET_URI} .*NoSuchKey"
    ):
        call(context, "correct", **payload)
