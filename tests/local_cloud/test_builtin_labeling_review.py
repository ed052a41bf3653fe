"""The review stage on the local cloud, end to end (slow): the simulated crowd labels, a simulated reviewer
(group ``labeling-reviewers``, local/labeling_reviewers.py) leases and decides review items over the HTTPS
labeling API, the job completes only when every review is decided, and the run trains and deploys.

The same run mixes in gold objects (``gtpipe:labeling.goldManifest``: the held-out digits with their true
labels, in a bucket of their own): the crowd answers them like any task, and the team statistics in the
ledger record each labeler's gold accuracy and the label accuracy the gold objects estimate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.drivers.demo_tasks import DemoImage, write_reference_answers
from tests.local_cloud.test_builtin_labeling_end_to_end import WORKERS_PER_OBJECT, Labeled, label_and_train

pytestmark = pytest.mark.slow

# One labeler more than answers per object: a reject asks a labeler who has not answered the object.
LABELERS = WORKERS_PER_OBJECT + 1
REVIEW = {"enabled": True, "confidenceThreshold": 0.95, "qaSamplePercent": 20, "maxRounds": 1}
# The gold manifest's URI is fixed at synthesis, so it lives in a bucket of its own (the data bucket's name
# is known only once deployed); its lines name held-out images of the data bucket.
GOLD_BUCKET = "gtpipe-tests-gold"
GOLD_URI = f"s3://{GOLD_BUCKET}/gold/digits.manifest"
GOLD_SHARE = 0.2


def mix_in_gold(cloud: Any, bucket: str, images: list[DemoImage]) -> None:
    """Write the gold manifest (the held-out digits, true labels) and let the crowd answer them too."""
    held = [image for image in images if image.holdout]
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=GOLD_BUCKET)
    lines = [
        {
            "source-ref": image.source_ref,
            "category": image.reference["label"],
            "category-metadata": {"class-name": image.truth},
        }
        for image in held
    ]
    s3.put_object(
        Bucket=GOLD_BUCKET,
        Key=GOLD_URI.split("/", 3)[3],
        Body="".join(json.dumps(line) + "\n" for line in lines),
    )
    write_reference_answers(cloud.settings.reference_labels_path, [image.reference for image in images])


@pytest.fixture(scope="module")
def reviewed_digits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labeled]:
    """24 digits to label (3 answers each) with review on, 4 held out: the gold objects."""
    yield from label_and_train(
        tmp_path_factory,
        "image-classification",
        images=28,
        holdout=0.15,
        epochs=1,
        variant="-review",
        labelers=LABELERS,
        review=REVIEW,
        goldManifest=GOLD_URI,
        goldShare=GOLD_SHARE,
        prepare=mix_in_gold,
    )


def test_a_simulated_reviewer_decides_every_selected_label_before_training(reviewed_digits: Labeled) -> None:
    # Given the builtin backend with review (threshold 0.95, a 20% QA sample, one re-queue)
    result = reviewed_digits
    # Then the run went through the team's labeling and on to training and deployment
    assert result.progress.run_status == "SUCCEEDED", result.run
    assert "LabelWithTeam" in result.states and {"Train", "DeployEndpoint"} <= set(result.states)
    lines = result.output_manifest()
    # And every review selected was decided by the simulated reviewer before the job completed
    crowd = result.cloud.crowd
    assert crowd is not None
    reviewers = [worker for worker in crowd.labelers if worker.name.startswith("reviewer-")]
    assert len(reviewers) == 1
    review = result.run["labeling_team"]["review"]
    assert review["items"] > 0 and review["pending"] == 0
    assert review["accepted"] + review["fixed"] + review["rejected"] == review["items"]
    assert reviewers[0].decisions == review["items"] + review["rounds"]
    # And the output records each review in Ground Truth's verification shape
    verified = [line for line in lines if "category-verification" in line]
    rejected = [line for line in lines if "category" not in line]
    assert len(verified) + len(rejected) == review["items"]
    for line in verified:
        meta = line["category-verification-metadata"]
        assert meta["type"] == "groundtruth/label-verification"
        assert line["category-verification"] == ("1" if meta["review"]["decision"] == "accept" else "0")
        assert line["category-metadata"]["adjustment-status"] in ("adjusted", "unadjusted")
    # And the reviewed labels are right (an accurate reviewer fixes what the crowd got wrong)
    truth = {image.source_ref: image.truth for image in result.labeled}
    labeled = [line for line in lines if "category" in line]
    right = sum(line["category-metadata"]["class-name"] == truth[line["source-ref"]] for line in labeled)
    assert right / len(labeled) >= 0.95, f"{right}/{len(labeled)} labels right"
    print(
        f"\nreviewed classification: {len(lines)} objects, {review['items']} reviewed "
        f"({review['accepted']} accepted, {review['fixed']} fixed, {review['rejected']} rejected, "
        f"{review['rounds']} re-queues, {review['extra_answers']} extra answers), run {result.seconds:.0f}s"
    )


def test_gold_objects_record_each_labelers_accuracy(reviewed_digits: Labeled) -> None:
    # Given the same run, with gold share 0.2 of the data's 24 tasks: all 4 held-out digits are gold
    result = reviewed_digits
    assert result.progress.run_status == "SUCCEEDED", result.run
    team = result.run["labeling_team"]
    gold = team["gold"]
    # Then every gold object was answered like a data object (3 answers each)
    assert gold["objects"] == len(result.holdout) == 4
    assert gold["answers"] == WORKERS_PER_OBJECT * gold["objects"]
    # And the ledger records each labeler's gold accuracy and count, adding up to the gold answers
    scored = [worker for worker in team["workers"] if "gold_accuracy" in worker]
    assert scored and sum(worker["gold_answers"] for worker in scored) == gold["answers"]
    assert all(0.0 <= worker["gold_accuracy"] <= 1.0 for worker in scored)
    # And the label accuracy the gold objects estimate, over all classes (the row without a class name: the
    # ledger drops null attributes), with its interval
    print(f"\ngold: {gold}")
    overall = next(row for row in gold["label_accuracy"] if row.get("class_name") is None)
    assert overall["items"] == gold["objects"]
    assert overall["low"] <= overall["accuracy"] <= overall["high"]
    # And gold objects never reach the output manifest: it holds exactly the data objects
    assert [line["source-ref"] for line in result.output_manifest()] == [i.source_ref for i in result.labeled]
