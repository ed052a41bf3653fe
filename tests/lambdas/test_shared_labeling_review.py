"""The review stage (gtpipe_shared.labeling_review, labeling_store.review) against moto DynamoDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from gtpipe_shared import labeling_review as rules
from gtpipe_shared import labeling_store as store
from gtpipe_shared.labeling_output import OUTPUT_MANIFEST_KEY, UNLABELED_MANIFEST_KEY
from gtpipe_shared.labeling_store import dynamo, review
from moto import mock_aws

from tests.lambdas.labeling_fixtures import create_labeling_table
from tests.lambdas.test_shared_labeling_store import JOB, NOW, manifest, spec

REVIEWER = "reviewer-sub"


@pytest.fixture
def table(_clients: Any) -> Iterator[Any]:
    with mock_aws():
        yield create_labeling_table(_clients.dynamodb)


def open_reviewed(table: Any, count: int = 2, **settings: Any) -> None:
    chosen = {"confidence_threshold": 0.5, "qa_sample_percent": 0.0, "max_rounds": 1, **settings}
    job_spec = replace(spec(workers=3), review=rules.ReviewSettings(**chosen).as_mapping())
    store.open_job(table, job_spec, store.objects_from_manifest(manifest(count)), NOW)


def answer(table: Any, worker: str, label: int, comment: str = "") -> store.AnswerOutcome:
    lease = store.lease(table, JOB, worker, NOW)
    assert lease is not None, f"{worker} got no task"
    given = store.Answering(
        JOB, lease.index, worker, lease.lease_id, {"label": label}, 2.0, worker, None, comment
    )
    return store.submit(table, given, NOW)


def label_all(table: Any, labels: dict[str, list[int]]) -> list[store.AnswerOutcome]:
    """Each worker answers objects 0, 1, ... with the labels given, in turn."""
    outcomes = []
    for number in range(max(len(v) for v in labels.values())):
        for worker, given in labels.items():
            if number < len(given):
                outcomes.append(answer(table, worker, given[number]))
    return outcomes


def decide(table: Any, task: review.ReviewTask, decision: str, **extra: Any) -> review.DecisionOutcome:
    given = review.Decision(
        JOB, task.index, REVIEWER, task.lease_id, decision, email="rev@example.com", **extra
    )
    return review.decide(table, given, NOW)


def output_lines(table: Any) -> tuple[list[dict[str, Any]], store.labeling_output.LabelingOutput]:
    output = store.job_output(table, store.get_job(table, JOB), NOW)
    key = next(k for k in output.files if k.endswith(OUTPUT_MANIFEST_KEY))
    return [json.loads(line) for line in output.files[key].splitlines()], output


def test_the_qa_sample_is_seeded_and_near_its_share() -> None:
    # Given 2,000 objects of one job and a 10% sample
    drawn = [rules.in_sample(JOB, index, 10.0) for index in range(2000)]
    # Then the same objects are drawn again, and about a tenth of them
    assert drawn == [rules.in_sample(JOB, index, 10.0) for index in range(2000)]
    assert 150 <= sum(drawn) <= 250
    assert not any(rules.in_sample(JOB, index, 0.0) for index in range(200))


@pytest.mark.parametrize(
    ("labels", "threshold", "sample", "reason"),
    [
        ([0, 0, 1], 0.5, 0.0, "disagreed"),
        ([0], 0.8, 0.0, "low-confidence"),
        ([0, 0, 0], 0.5, 100.0, "qa-sample"),
        ([0, 0, 0], 0.5, 0.0, None),
    ],
)
def test_selection_names_why_an_object_is_reviewed(
    labels: list[int], threshold: float, sample: float, reason: str | None
) -> None:
    # Given an object's answers and review settings; when it is judged
    settings = rules.ReviewSettings(threshold, sample, 1)
    chosen, label, _ = rules.selection_reason(
        "image-classification", [{"label": x} for x in labels], 3, settings, job_name=JOB, index=0
    )
    # Then the reason is the first rule that holds, and the label is the majority
    assert chosen == reason and label == {"label": 0}


def test_a_disagreeing_object_waits_for_review_and_a_fix_completes_the_job(table: Any) -> None:
    # Given a reviewed job of two objects: the first answered alike, the second disagreeing
    open_reviewed(table)
    outcomes = label_all(table, {"w1": [0, 0], "w2": [0, 0], "w3": [0, 1]})
    # Then every object has its answers but the job waits for the review
    job = store.get_job(table, JOB)
    assert job["objects_done"] == 2 and job["reviews_open"] == 1 and job["status"] == store.OPEN
    assert not any(outcome.job_completed for outcome in outcomes)
    # When the reviewer leases the item: the consolidated label and the anonymised answers
    task = review.lease_review(table, JOB, REVIEWER, NOW)
    assert task is not None and task.index == 1 and task.label == {"label": 0}
    assert [a["labeler"] for a in task.answers] == ["Labeler 1", "Labeler 2", "Labeler 3"]
    assert "w1" not in json.dumps(task.as_dict())
    # When they fix it to class 1
    outcome = decide(table, task, rules.FIX, label={"label": 1})
    # Then the job completes (once) and the output records the review as Ground Truth's verification
    assert outcome.job_completed and not outcome.requeued
    assert store.get_job(table, JOB)["status"] == store.CONSOLIDATING
    lines, output = output_lines(table)
    assert "category-verification" not in lines[0]
    assert lines[1]["category"] == 1 and lines[1]["category-metadata"]["class-name"] == "dog"
    assert lines[1]["category-metadata"]["adjustment-status"] == "adjusted"
    assert lines[1]["category-verification"] == "0"
    meta = lines[1]["category-verification-metadata"]
    assert meta["type"] == "groundtruth/label-verification" and meta["class-name"] == "invalid"
    assert meta["review"] == {"decision": "fix", "rounds": 0, "selected-because": "disagreed"}
    assert output.team["review"]["fixed"] == 1 and output.team["review"]["items"] == 1


def test_an_accepted_label_is_recorded_valid(table: Any) -> None:
    # Given a reviewed job where every object is in the QA sample
    open_reviewed(table, count=1, qa_sample_percent=100.0)
    label_all(table, {"w1": [2], "w2": [2], "w3": [2]})
    task = review.lease_review(table, JOB, REVIEWER, NOW)
    assert task is not None and task.selected_because == "qa-sample"
    # When the reviewer accepts it
    assert decide(table, task, rules.ACCEPT).job_completed
    # Then the label stays and is verified valid
    lines, _ = output_lines(table)
    assert lines[0]["category"] == 2 and lines[0]["category-verification"] == "1"
    assert lines[0]["category-metadata"]["adjustment-status"] == "unadjusted"


def test_a_reject_requeues_to_a_new_labeler_until_the_cap_then_is_final(table: Any) -> None:
    # Given a reviewed job (one re-queue allowed) whose only object disagrees
    open_reviewed(table, count=1, max_rounds=1)
    label_all(table, {"w1": [0], "w2": [1], "w3": [2]})
    task = review.lease_review(table, JOB, REVIEWER, NOW)
    assert task is not None and task.rejects_left == 1
    # When the reviewer rejects it
    outcome = decide(table, task, rules.REJECT, reason="three different classes")
    # Then it asks one more answer, from someone who has not answered it
    assert outcome.requeued and not outcome.job_completed
    assert store.lease(table, JOB, "w1", NOW) is None
    answer(table, "w4", 1)
    job = store.get_job(table, JOB)
    assert job["objects_done"] == 1 and job["reviews_open"] == 1 and not job.get("requeued")
    # When it is reviewed again and rejected again (no re-queue left)
    again = review.lease_review(table, JOB, REVIEWER, NOW)
    assert again is not None and again.round == 1 and again.rejects_left == 0
    assert len(again.answers) == 4 and again.label == {"label": 1}
    final = decide(table, again, rules.REJECT, reason="still unclear")
    # Then the decision is final: the job completes and the object is unlabeled, naming the reject
    assert final.job_completed and not final.requeued
    lines, output = output_lines(table)
    assert "category" not in lines[0]
    assert (
        "rejected in review after 1 rounds: still unclear" in lines[0]["category-metadata"]["failure-reason"]
    )
    assert output.counters["Unlabeled"] == 1 and output.counters["TotalLabeled"] == 0
    unlabeled = next(v for k, v in output.files.items() if k.endswith(UNLABELED_MANIFEST_KEY))
    assert json.loads(unlabeled)["source-ref"].endswith("000.jpg")
    assert output.team["review"] | {"selected_because": {}} == {
        "items": 1,
        "accepted": 0,
        "fixed": 0,
        "rejected": 1,
        "pending": 0,
        "rounds": 1,
        "extra_answers": 1,
        "selected_because": {},
    }


def test_decisions_need_the_lease_a_known_decision_and_a_reason(table: Any) -> None:
    # Given a review item leased to the reviewer
    open_reviewed(table, count=1)
    label_all(table, {"w1": [0], "w2": [1], "w3": [1]})
    task = review.lease_review(table, JOB, REVIEWER, NOW)
    assert task is not None
    # Then another reviewer gets nothing, and asking again returns the same lease
    assert review.lease_review(table, JOB, "other-reviewer", NOW) is None
    again = review.lease_review(table, JOB, REVIEWER, NOW)
    assert again is not None and again.resumed and again.lease_id == task.lease_id
    # Then bad decisions are refused, naming the problem, and nothing is decided
    with pytest.raises(store.InvalidAnswer, match="decision must be one of accept, fix, reject"):
        decide(table, task, "maybe")
    with pytest.raises(store.InvalidAnswer, match="a reject needs a reason"):
        decide(table, task, rules.REJECT)
    with pytest.raises(store.InvalidAnswer, match="a fix needs the corrected label"):
        decide(table, task, rules.FIX)
    with pytest.raises(store.InvalidAnswer, match="label"):
        decide(table, task, rules.FIX, label={"label": 7})
    with pytest.raises(store.LeaseNotHeld):
        decide(table, replace(task, lease_id="not-the-lease"), rules.ACCEPT)
    assert store.get_job(table, JOB)["reviews_open"] == 1


def test_nobody_reviews_an_object_they_answered_and_comments_reach_reviewer_and_output(table: Any) -> None:
    # Given a reviewed job where a labeler comments on a disagreeing object
    open_reviewed(table, count=1)
    answer(table, "w1", 0, comment="  looks like a fox  ")
    answer(table, "w2", 1)
    answer(table, "w3", 1)
    # Then a labeler who answered it cannot review it; the reviewer sees the comment, not who wrote it
    assert review.lease_review(table, JOB, "w1", NOW) is None
    task = review.lease_review(table, JOB, REVIEWER, NOW)
    assert task is not None and task.answers[0]["comment"] == "looks like a fox"
    decide(table, task, rules.ACCEPT)
    # And the output carries it as Ground Truth's worker feedback
    lines, _ = output_lines(table)
    assert lines[0]["category-metadata"]["worker-feedback"] == [{"comment": "looks like a fox"}]


def test_a_job_without_review_is_unchanged(table: Any) -> None:
    # Given a job without review whose object disagrees
    store.open_job(table, spec(workers=3), store.objects_from_manifest(manifest(1)), NOW)
    with pytest.raises(review.NoSuchReview, match="has no review stage"):
        review.decide(table, review.Decision(JOB, 0, REVIEWER, "x", "accept"), NOW)
    outcomes = label_all(table, {"w1": [0], "w2": [1], "w3": [1]})
    # Then the last answer completes the job, no review item exists, and the output has no review
    assert outcomes[-1].job_completed
    assert not list(dynamo.query_prefix(table, JOB, review.REVIEW_PREFIX))
    lines, output = output_lines(table)
    assert "category-verification" not in lines[0] and "review" not in output.team


BOX_SIZE = {"width": 640, "height": 480}
BOX_LINE = {
    "source-ref": "s3://gtpipe-data-bucket/images/000.jpg",
    "category": {
        "image_size": [{"width": 640, "height": 480, "depth": 3}],
        "annotations": [{"class_id": 0, "left": 10, "top": 20, "width": 100, "height": 80}],
    },
    "category-metadata": {
        "objects": [{"confidence": 0.61}],
        "class-map": {"0": "cat"},
        "type": "groundtruth/object-detection",
        "human-annotated": "yes",
        "creation-date": "2026-01-01T00:00:00.000000",
        "job-name": f"labeling-job/{JOB}",
    },
}


def test_fixed_boxes_are_recorded_as_ground_truths_adjusted_bounding_box_label() -> None:
    # Given a consolidated box line and a reviewer's fix: the cat moved, a dog added (image pixels)
    fixed = [
        {"class_id": 0, "left": 14, "top": 22, "width": 104, "height": 80},
        {"class_id": 1, "left": 300, "top": 200, "width": 50, "height": 60},
    ]
    review_ = rules.Review(0, rules.FIX, 0, "disagreed", label={"boxes": fixed, "image_size": BOX_SIZE})
    # When the review is recorded on the line
    line = rules.reviewed_line(
        BOX_LINE,
        "category",
        review_,
        class_names=["cat", "dog", "bird"],
        task_type="object-detection",
        job_name=JOB,
        date="2026-01-02T00:00:00.000000",
    )
    # Then the label has the fixed boxes in the bounding-box shape, the image size kept, every box the
    # reviewer's (confidence 1.0), the class map of the classes present, and the adjustment recorded
    assert line["category"] == {"image_size": BOX_LINE["category"]["image_size"], "annotations": fixed}
    meta = line["category-metadata"]
    assert meta["objects"] == [{"confidence": 1.0}, {"confidence": 1.0}]
    assert meta["class-map"] == {"0": "cat", "1": "dog"} and meta["type"] == "groundtruth/object-detection"
    assert meta["adjustment-status"] == "adjusted" and line["category-verification"] == "0"
    # and the consolidated line given is not modified
    assert (
        BOX_LINE["category"]["annotations"][0]["left"] == 10
        and "adjustment-status" not in BOX_LINE["category-metadata"]
    )


def test_a_box_fix_for_another_image_size_is_refused_naming_the_size(table: Any) -> None:
    # Given a reviewed box job whose object's image the server knows as 640x480, answered two ways
    chosen = {"confidence_threshold": 0.5, "qa_sample_percent": 0.0, "max_rounds": 1}
    job_spec = replace(spec(workers=2, task_type="object-detection"), review=chosen)
    store.open_job(table, job_spec, store.objects_from_manifest(manifest(1)), NOW)
    store.record_image_size(table, JOB, 0, (640, 480))
    for worker, boxes in (("w1", BOX_LINE["category"]["annotations"]), ("w2", [])):
        lease = store.lease(table, JOB, worker, NOW)
        assert lease is not None
        given = store.Answering(
            JOB, 0, worker, lease.lease_id, {"boxes": boxes, "image_size": BOX_SIZE}, 2.0, worker, (640, 480)
        )
        store.submit(table, given, NOW)
    task = review.lease_review(table, JOB, REVIEWER, NOW)
    assert task is not None and task.selected_because == "disagreed"
    # When the reviewer's fix says the image is 320x240 (boxes from a wrongly scaled view)
    wrong = {
        "boxes": [{"class_id": 0, "left": 5, "top": 10, "width": 50, "height": 40}],
        "image_size": {"width": 320, "height": 240},
    }
    with pytest.raises(store.InvalidAnswer, match="320x240 is not the image's size"):
        decide(table, task, rules.FIX, label=wrong)
    # Then nothing is decided: the review still waits
    assert store.get_job(table, JOB)["reviews_open"] == 1
    assert [item["state"] for item in review.reviews(table, JOB)] == [rules.PENDING]
