"""Review-only jobs (labeling_store.review_given): label-error finding's flagged objects wait for a reviewer,
who accepts the given label or fixes it; the output feeds the corrected training manifest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gtpipe_shared import labeling_store as store
from gtpipe_shared.label_errors import LabelIssue
from gtpipe_shared.label_errors_manifest import corrected_manifest
from gtpipe_shared.labeling_store import review

from tests.lambdas.conftest import DATA_BUCKET
from tests.lambdas.test_handler_labeling import (  # noqa: F401 - the fixture
    JOB,
    MANIFEST_KEY,
    NOW,
    PREFIX,
    RUN,
    Labeling,
    labeling,
    open_event,
)

REVIEWER = "reviewer-1"
# Training-manifest line index, given label, the model's class (label_errors' flag step writes these).
FLAGGED = [(4, 0, 1), (9, 1, 2)]


def flagged_line(index: int, given: int, suggested: int) -> dict[str, Any]:
    return {
        "source-ref": f"s3://{DATA_BUCKET}/images/{index:03d}.jpg",
        "category": given,
        "category-metadata": {
            "class-name": ["cat", "dog", "bird"][given],
            "label-error": {"index": index, "given": given, "suggested": suggested},
        },
        "gtpipe-suggestion": {"label": suggested, "confidence": 0.9},
    }


def open_review(labeling: Labeling, lines: list[dict[str, Any]] | None = None) -> None:  # noqa: F811
    body = "".join(json.dumps(line) + "\n" for line in lines or [flagged_line(*f) for f in FLAGGED])
    version = str(labeling.cloud.put(MANIFEST_KEY, body)["VersionId"])
    labeling.invoke({**open_event(version_id=version), "review_given": True})


def decide(labeling: Labeling, decision: str, label: Any = None) -> review.DecisionOutcome:  # noqa: F811
    task = review.lease_review(labeling.tasks, JOB, REVIEWER, NOW + 10)
    assert task is not None
    given = review.Decision(JOB, task.index, REVIEWER, task.lease_id, decision, label=label, email="r@x")
    return review.decide(labeling.tasks, given, NOW + 20)


def test_open_asks_no_answers_and_puts_every_given_label_up_for_review(labeling: Labeling) -> None:  # noqa: F811
    # When a review-only job opens on the two flagged objects
    open_review(labeling)
    # Then nothing is left to label, both wait for review, and nobody can lease a labeling task
    job = labeling.job()
    assert (job["objects_done"], job["object_count"], job["reviews_open"]) == (2, 2, 2)
    assert job["review"]["max_rounds"] == 0 and float(job["min_labeled_share"]) == 0.0
    assert store.lease(labeling.tasks, JOB, "labeler-1", NOW + 5) is None
    # and the reviewer sees the given label beside the model's class (the object's suggestion)
    task = review.lease_review(labeling.tasks, JOB, REVIEWER, NOW + 10)
    assert task is not None and task.selected_because == "label-error" and task.answers == []
    assert task.label == {"label": 0} and task.as_dict()["suggestion"] == {"label": 1, "confidence": 0.9}


def test_a_reject_is_refused_since_nobody_would_label_the_object_anew(labeling: Labeling) -> None:  # noqa: F811
    # Given an open review-only job; when a reviewer rejects; then the store refuses (the API's 400)
    open_review(labeling)
    with pytest.raises(store.InvalidAnswer, match="accept the label or fix it"):
        decide(labeling, "reject")


def test_decisions_complete_the_job_and_its_output_corrects_the_training_manifest(
    labeling: Labeling,  # noqa: F811
) -> None:
    # Given a review-only job; when the reviewer fixes the first object to the model's class, accepts the second
    open_review(labeling)
    assert not decide(labeling, "fix", {"label": 1}).job_completed
    assert decide(labeling, "accept").job_completed
    answer = labeling.invoke({"action": "finish", "job_name": JOB}, at=NOW + 30)
    # Then the job succeeds with both objects labeled by review, the label-error entry kept on each line
    assert answer["status"] == "COMPLETED"
    [success] = labeling.sfn.named("success")
    assert json.loads(success["output"])["counters"]["TotalLabeled"] == 2
    lines = labeling.cloud.read(PREFIX + "manifests/output/output.manifest").splitlines()
    out = [json.loads(line) for line in lines]
    assert [line["category"] for line in out] == [1, 1]
    assert [line["category-verification"] for line in out] == ["0", "1"]
    assert [line["category-metadata"]["label-error"]["index"] for line in out] == [4, 9]
    # and label-error finding puts the fixed label back into the training manifest
    training = [json.dumps({"source-ref": f"s3://b/{i}.jpg", "category": i % 2}).encode() for i in range(10)]
    issues = [LabelIssue(index, given, suggested, 0.1, 0.9) for index, given, suggested in FLAGGED]
    corrected, summary = corrected_manifest(training, "category", issues, lines)
    assert json.loads(corrected[4])["category"] == 1 and json.loads(corrected[9])["category"] == 1
    assert (summary["confirmed"], summary["kept"]) == (1, 1)


def test_reviews_left_undecided_at_the_end_keep_the_given_label(labeling: Labeling) -> None:  # noqa: F811
    # Given a review-only job whose reviewer decided one of two objects before the lifetime ended
    open_review(labeling)
    decide(labeling, "accept")
    # When the sweep closes it
    labeling.invoke({"action": "sweep"}, at=NOW + 3600)
    # Then the run goes on (no minimum share), the undecided object is unlabeled but still names its place
    [success] = labeling.sfn.named("success")
    assert json.loads(success["output"])["counters"]["Unlabeled"] == 1
    out = [
        json.loads(line)
        for line in labeling.cloud.read(PREFIX + "manifests/output/output.manifest").splitlines()
    ]
    undecided = [line for line in out if "category" not in line]
    assert len(undecided) == 1 and "failure-reason" in undecided[0]["category-metadata"]
    assert undecided[0]["category-metadata"]["label-error"]["index"] in (4, 9)


def test_a_line_without_a_given_label_fails_the_task_naming_it(labeling: Labeling) -> None:  # noqa: F811
    # Given a review manifest whose second line has no label; when the job opens
    lines = [flagged_line(*FLAGGED[0]), {"source-ref": f"s3://{DATA_BUCKET}/images/x.jpg"}]
    open_review(labeling, lines)
    # Then the run fails at LabelingInputInvalid naming the line, and no job exists
    [failure] = labeling.sfn.named("failure")
    assert (
        failure["error"] == "LabelingInputInvalid"
        and "line 2: a review-only job needs the given label" in failure["cause"]
    )
    with pytest.raises(store.UnknownJob):
        labeling.job()


def test_a_review_only_job_leaves_the_run_s_labeling_progress_to_the_labeling_job(
    labeling: Labeling,  # noqa: F811
) -> None:
    # Given a run whose labeling job recorded its progress on the run item
    labeling.open(count=3)
    before = labeling.cloud.run(RUN)["labeling_progress"]  # type: ignore[index]
    assert before["job_name"] == JOB
    # When the run's label-error review (a second, review-only job of the same run) opens, is decided and ends
    review_job = f"{RUN}-lerev-0"
    body = "".join(json.dumps(flagged_line(*f)) + "\n" for f in FLAGGED)
    version = str(labeling.cloud.put(MANIFEST_KEY, body)["VersionId"])
    event = {**open_event(version_id=version), "review_given": True, "job_name": review_job}
    labeling.invoke(event, at=NOW + 5)
    for _ in FLAGGED:
        task = review.lease_review(labeling.tasks, review_job, REVIEWER, NOW + 10)
        assert task is not None
        given = review.Decision(review_job, task.index, REVIEWER, task.lease_id, "accept", email="r@x")
        review.decide(labeling.tasks, given, NOW + 20)
    assert labeling.invoke({"action": "finish", "job_name": review_job}, at=NOW + 30)["status"] == "COMPLETED"
    # Then the run's labeling_progress is still the labeling job's, unchanged (what gtpipe follow shows)
    assert labeling.cloud.run(RUN)["labeling_progress"] == before  # type: ignore[index]
