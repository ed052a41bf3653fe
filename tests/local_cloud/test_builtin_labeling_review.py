"""The review stage on the local cloud, end to end (slow): the simulated crowd labels, a simulated reviewer
(group ``labeling-reviewers``, local/labeling_reviewers.py) leases and decides review items over the HTTPS
labeling API, the job completes only when every review is decided, and the run trains and deploys.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.local_cloud.test_builtin_labeling_end_to_end import WORKERS_PER_OBJECT, Labeled, label_and_train

pytestmark = pytest.mark.slow

# One labeler more than answers per object: a reject asks a labeler who has not answered the object.
LABELERS = WORKERS_PER_OBJECT + 1
REVIEW = {"enabled": True, "confidenceThreshold": 0.95, "qaSamplePercent": 20, "maxRounds": 1}


@pytest.fixture(scope="module")
def reviewed_digits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labeled]:
    """24 digits to label (3 answers each) with review on, 4 held out."""
    yield from label_and_train(
        tmp_path_factory,
        "image-classification",
        images=28,
        holdout=0.15,
        epochs=1,
        variant="-review",
        labelers=LABELERS,
        review=REVIEW,
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
