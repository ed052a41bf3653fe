"""The labeling API's review routes (labeling_api/review_routes.py) against moto."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from gtpipe_shared import labeling_store as store
from labeling_api import handler

from tests.lambdas.conftest import Cloud, FakeContext, put_running_run
from tests.lambdas.labeling_fixtures import LABELING_TABLE, create_labeling_table
from tests.lambdas.test_handler_labeling_api import JOB, NOW, RUN, Api, FakeLambda
from tests.lambdas.test_shared_labeling_store import manifest, spec

REVIEWER = "9c1e0d3b-2222-4c6e-9a0b-bbbbbbbbbbbb"
REVIEWERS = "labeling-reviewers"


@pytest.fixture
def api(cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    tasks = create_labeling_table(cloud.dynamodb)
    monkeypatch.setenv("LABELING_TABLE", LABELING_TABLE)
    monkeypatch.setenv("LABELING_FUNCTION_NAME", "gtpipe-labeling")
    fake = FakeLambda()
    monkeypatch.setattr(handler, "lambda_client", lambda: fake)
    api = Api(cloud, tasks, fake, context)
    monkeypatch.setattr(handler, "clock", lambda: api.now)
    put_running_run(cloud, RUN)
    review = {"confidence_threshold": 0.5, "qa_sample_percent": 0.0, "max_rounds": 1}
    job_spec = replace(spec(workers=2, job_name=JOB), run_id=RUN, review=review)
    store.open_job(tasks, job_spec, store.objects_from_manifest(manifest(1)), NOW)
    yield api


def answer_all(api: Api, labels: dict[str, int], comment: str | None = None) -> None:
    for sub, label in labels.items():
        task = api.lease(sub=sub)["task"]
        path = f"/api/jobs/{JOB}/tasks/{task['index']}/answer"
        body = {
            "lease_id": task["lease_id"],
            "answer": {"label": label},
            **({"comment": comment} if comment else {}),
        }
        status, reply = api.call("POST", path, body, sub=sub)
        assert status == 200, reply


def lease_review(api: Api, groups: Any = REVIEWERS) -> tuple[int, dict[str, Any]]:
    return api.call(
        "POST", f"/api/jobs/{JOB}/review/lease", sub=REVIEWER, groups=groups, email="rev@example.com"
    )


def decide(
    api: Api, review: dict[str, Any], body: dict[str, Any], groups: Any = REVIEWERS
) -> tuple[int, dict[str, Any]]:
    path = f"/api/jobs/{JOB}/review/{review['index']}/decide"
    return api.call("POST", path, {"lease_id": review["lease_id"], **body}, sub=REVIEWER, groups=groups)


def test_labelers_and_admins_are_not_reviewers(api: Api) -> None:
    # Given a disagreeing object waiting for review
    answer_all(api, {"w1": 0, "w2": 1})
    # When a labeler or an admin asks for a review item; then 403 naming the group
    for groups in ("labelers", "labeling-admins"):
        status, body = lease_review(api, groups)
        assert status == 403 and body["error"] == "NotAReviewer" and REVIEWERS in body["message"]
    status, body = decide(api, {"index": 0, "lease_id": "x"}, {"decision": "accept"}, groups="labelers")
    assert status == 403 and body["error"] == "NotAReviewer"


def test_a_reviewer_sees_the_label_answers_comments_and_fixes_it_which_starts_the_finish(api: Api) -> None:
    # Given a disagreeing object with a comment, and the job listed with its open review
    answer_all(api, {"w1": 0, "w2": 1}, comment="the tail is a dog's")
    status, listed = api.call("GET", "/api/jobs", sub=REVIEWER, groups=REVIEWERS)
    assert status == 200 and listed["jobs"][0]["reviews_open"] == 1
    # When a reviewer (only in the reviewers' group) leases it
    status, body = lease_review(api)
    review = body["review"]
    # Then they see the consolidated label, the anonymised answers with comments, and the image
    assert status == 200 and review["index"] == 0 and review["selected_because"] == "disagreed"
    assert [a["labeler"] for a in review["answers"]] == ["Labeler 1", "Labeler 2"]
    assert review["answers"][0]["comment"] == "the tail is a dog's"
    assert "w1" not in str(review) and review["image_url"] and review["rejects_left"] == 1
    # When they fix it; then it is decided and the job's finish starts
    status, reply = decide(api, review, {"decision": "fix", "label": {"label": 1}})
    assert (status, reply) == (200, {"decided": True, "requeued": False, "job_completed": True})
    assert [invoke["InvocationType"] for invoke in api.lambdas.invokes] == ["Event"]
    assert store.get_job(api.tasks, JOB)["status"] == store.CONSOLIDATING


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"decision": "reject"}, 400, "InvalidAnswer", "a reject needs a reason"),
        ({"decision": "fix", "label": {"label": "wolf"}}, 400, "InvalidAnswer", "label"),
        ({"decision": "approve"}, 400, "InvalidAnswer", "decision must be one of"),
        ({"decision": "reject", "reason": "x" * 501}, 400, "InvalidAnswer", "at most 500"),
    ],
)
def test_bad_decisions_are_4xx_json_naming_the_problem(
    api: Api, body: dict[str, Any], status: int, code: str, words: str
) -> None:
    # Given a review item leased to the reviewer
    answer_all(api, {"w1": 0, "w2": 1})
    review = lease_review(api)[1]["review"]
    # When a bad decision is sent; then a 4xx JSON error names the problem
    got, reply = decide(api, review, body)
    assert (got, reply["error"]) == (status, code) and words in reply["message"]
    assert store.get_job(api.tasks, JOB)["reviews_open"] == 1


def test_a_fix_that_changes_nothing_is_refused_and_the_review_stays_open(api: Api) -> None:
    # Given a review item leased to the reviewer, showing the consolidated label
    answer_all(api, {"w1": 0, "w2": 1})
    review = lease_review(api)[1]["review"]
    # When they send that same label as a fix
    status, reply = decide(api, review, {"decision": "fix", "label": review["label"]})
    # Then it is refused (an "adjusted" review must have changed the label) and nothing is decided
    assert (status, reply["error"]) == (400, "InvalidAnswer") and "accept it instead" in reply["message"]
    assert store.get_job(api.tasks, JOB)["reviews_open"] == 1
    # And a fix to the other class is taken
    other = {"label": 1 - review["label"]["label"]}
    assert decide(api, review, {"decision": "fix", "label": other})[0] == 200


def test_reject_requeues_once_then_is_final(api: Api) -> None:
    # Given a disagreeing object and a cap of one re-queue
    answer_all(api, {"w1": 0, "w2": 1})
    review = lease_review(api)[1]["review"]
    # When rejected: it goes back to a labeler who has not answered it
    assert decide(api, review, {"decision": "reject", "reason": "blurry"})[1] == {
        "decided": True,
        "requeued": True,
        "job_completed": False,
    }
    assert api.lease(sub="w1")["task"] is None
    answer_all(api, {"w3": 1})
    # When rejected again: the decision is final and the job's finish starts
    again = lease_review(api)[1]["review"]
    assert again["round"] == 1 and again["rejects_left"] == 0 and len(again["answers"]) == 3
    final = decide(api, again, {"decision": "reject", "reason": "still blurry"})[1]
    assert final["requeued"] is False and final["job_completed"] is True
    assert len(api.lambdas.invokes) == 1


def test_a_too_long_comment_is_refused(api: Api) -> None:
    # Given a leased task; when answered with a comment over the limit; then 400 naming the limit
    task = api.lease(sub="w1")["task"]
    path = f"/api/jobs/{JOB}/tasks/{task['index']}/answer"
    status, body = api.call(
        "POST", path, {"lease_id": task["lease_id"], "answer": {"label": 0}, "comment": "y" * 600}, sub="w1"
    )
    assert status == 400 and body["error"] == "InvalidAnswer" and "at most 500" in body["message"]
