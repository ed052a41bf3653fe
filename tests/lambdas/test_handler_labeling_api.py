"""The labeling API (API Gateway proxy events from tests/events/labeling-api-*.json) against moto."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from botocore.exceptions import ClientError
from gtpipe_shared import labeling_store as store
from labeling_api import handler

from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext, load_event, put_running_run
from tests.lambdas.labeling_fixtures import LABELING_TABLE, create_labeling_table

RUN = "demo-0123456789abcdef"
JOB = f"{RUN}-label-0"
NOW = 1_800_000_000.0
ANN = "7d3f0c2a-1111-4c6e-9a0b-aaaaaaaaaaaa"


@dataclass
class FakeLambda:
    """Records async invokes; ``fail`` makes them raise like an unreachable Lambda service."""

    invokes: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail:
            raise ClientError({"Error": {"Code": "ServiceException", "Message": "down"}}, "Invoke")
        self.invokes.append(kwargs)
        return {"StatusCode": 202}


@dataclass
class Api:
    cloud: Cloud
    tasks: Any
    lambdas: FakeLambda
    context: FakeContext

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        sub: str = ANN,
        username: str = "ann",
        groups: Any = "labelers",
    ) -> tuple[int, dict[str, Any]]:
        event = copy.deepcopy(
            load_event("labeling-api-jobs.json" if method == "GET" else "labeling-api-answer.json")
        )
        event["httpMethod"] = method
        event["path"] = path
        event["requestContext"]["path"] = "/prod" + path
        event["body"] = None if body is None else json.dumps(body)
        claims = event["requestContext"]["authorizer"]["claims"]
        claims.update({"sub": sub, "cognito:username": username, "cognito:groups": groups})
        response = handler.lambda_handler(event, self.context)
        assert response["headers"]["Content-Type"] == "application/json"
        return response["statusCode"], json.loads(response["body"])

    def lease(self, sub: str = ANN, **kwargs: Any) -> dict[str, Any]:
        status, body = self.call("POST", f"/api/jobs/{JOB}/lease", sub=sub, **kwargs)
        assert status == 200, body
        return dict(body)

    def answer(
        self, task: dict[str, Any], answer: Any, sub: str = ANN, **kwargs: Any
    ) -> tuple[int, dict[str, Any]]:
        path = f"/api/jobs/{JOB}/tasks/{task['index']}/answer"
        return self.call(
            "POST", path, {"lease_id": task["lease_id"], "answer": answer, "seconds": 4.2}, sub=sub, **kwargs
        )


def open_job(tasks: Any, count: int = 2, workers: int = 2, bucket: str = DATA_BUCKET) -> None:
    lines = "".join(
        json.dumps({"source-ref": f"s3://{bucket}/images/{i:03d}.jpg"}) + "\n" for i in range(count)
    )
    spec = store.JobSpec(
        job_name=JOB,
        run_id=RUN,
        task_type="image-classification",
        task_token="token",
        class_names=("cat", "dog", "bird"),
        label_attribute="category",
        manifest_uri=f"s3://{DATA_BUCKET}/incoming/demo.manifest",
        output_path=f"s3://{DATA_BUCKET}/labeling/",
        data_bucket=DATA_BUCKET,
        workers_per_object=workers,
        lease_seconds=300,
        expires_at=int(NOW) + 3600,
        min_labeled_share=0.9,
        title="Cat, dog or bird?",
        instructions="Pick the animal.",
    )
    store.open_job(tasks, spec, store.objects_from_manifest(lines.encode()), NOW)


@pytest.fixture
def api(cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    tasks = create_labeling_table(cloud.dynamodb)
    monkeypatch.setenv("LABELING_TABLE", LABELING_TABLE)
    monkeypatch.setenv("LABELING_FUNCTION_NAME", "gtpipe-labeling")
    monkeypatch.setenv("IMAGE_URL_SECONDS", "120")
    fake = FakeLambda()
    monkeypatch.setattr(handler, "lambda_client", lambda: fake)
    monkeypatch.setattr(handler, "clock", lambda: NOW)
    put_running_run(cloud, RUN)
    open_job(tasks)
    yield Api(cloud, tasks, fake, context)


def test_list_jobs_shows_open_jobs_with_my_answers(api: Api) -> None:
    status, body = api.call("GET", "/api/jobs")
    assert status == 200
    [job] = body["jobs"]
    assert (
        job["job_name"] == JOB
        and job["title"] == "Cat, dog or bird?"
        and job["instructions"] == "Pick the animal."
    )
    assert (job["object_count"], job["objects_done"], job["my_answers"], job["status"]) == (2, 0, 0, "OPEN")
    assert job["class_names"] == ["cat", "dog", "bird"] and job["expires_at"] == int(NOW) + 3600


def test_lease_gives_a_task_with_a_presigned_image_url(api: Api) -> None:
    task = api.lease()["task"]
    assert (task["job_name"], task["index"], task["task_type"]) == (JOB, 0, "image-classification")
    assert task["source_ref"] == f"s3://{DATA_BUCKET}/images/000.jpg"
    assert task["lease_expires_at"] == int(NOW) + 300 and task["class_names"] == ["cat", "dog", "bird"]
    url = urlparse(task["image_url"])
    query = parse_qs(url.query)
    assert DATA_BUCKET in url.netloc + url.path and url.path.endswith("/images/000.jpg")
    assert query["X-Amz-Expires"] == ["120"] and "X-Amz-Signature" in query
    # asking again returns the lease the worker holds
    assert api.lease()["task"]["lease_id"] == task["lease_id"]


def test_images_outside_the_allowed_buckets_are_not_presigned(api: Api) -> None:
    store.end_job(api.tasks, JOB, "FAILED", NOW)
    api.tasks.delete_item(Key={"pk": store.job_pk(JOB), "sk": store.JOB_SK})
    open_job(api.tasks, bucket="someone-elses-bucket")
    task = api.lease()["task"]
    assert task["image_url"] is None and task["source_ref"].startswith("s3://someone-elses-bucket/")


def test_answer_is_accepted_and_counted(api: Api) -> None:
    task = api.lease()["task"]
    status, body = api.answer(task, {"label": 2})
    assert status == 200
    assert body == {"accepted": True, "progress": {"objects": 2, "objects_done": 0, "my_answers": 1}}
    [record] = store.all_answers(api.tasks, JOB)[0]
    assert (record.worker_id, record.username, record.answer, record.seconds) == (
        ANN,
        "ann@example.com",  # the address, not cognito:username (the sub's UUID in a pool signed in by e-mail)
        {"label": 2},
        4.2,
    )
    assert api.lambdas.invokes == []


def test_answer_without_the_lease_is_409(api: Api) -> None:
    task = api.lease()["task"]
    status, body = api.answer(task, {"label": 0}, sub="someone-else")
    assert status == 409 and body["error"] == "LeaseNotHeld" and body["message"]
    api.answer(task, {"label": 0})
    status, body = api.answer(task, {"label": 0})  # sent twice
    assert status == 409 and body["error"] == "LeaseNotHeld"


@pytest.mark.parametrize(
    ("body", "code", "problem"),
    [
        ({"answer": {"label": 9}}, "InvalidAnswer", "label 9 is not a known class id"),
        ({"answer": {"label": "dog"}}, "InvalidAnswer", "label must be an integer"),
        ({"answer": {"label": 1}}, "InvalidRequest", "lease_id"),
        ({}, "InvalidRequest", "lease_id"),
    ],
)
def test_invalid_answers_are_400_naming_the_problem(
    api: Api, body: dict[str, Any], code: str, problem: str
) -> None:
    task = api.lease()["task"]
    if code == "InvalidAnswer":
        body = {**body, "lease_id": task["lease_id"]}
    status, answer = api.call("POST", f"/api/jobs/{JOB}/tasks/0/answer", body)
    assert status == 400 and answer["error"] == code and problem in answer["message"]


def test_a_body_that_is_not_json_is_400(api: Api) -> None:
    event = load_event("labeling-api-answer.json")
    event["path"] = f"/api/jobs/{JOB}/tasks/0/answer"
    event["body"] = "{not json"
    response = handler.lambda_handler(event, api.context)
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"] == "InvalidRequest"


def test_the_completing_answer_starts_the_finish(api: Api) -> None:
    # given a 2-object job with 2 answers each, answered by ann and bob
    for sub, name in ((ANN, "ann"), ("bob-sub", "bob")):
        for _ in range(2):
            task = api.lease(sub=sub, username=name)["task"]
            status, body = api.answer(task, {"label": 1}, sub=sub, username=name)
            assert status == 200
    # then the last answer invoked the labeling function's finish asynchronously, once
    assert body["progress"] == {"objects": 2, "objects_done": 2, "my_answers": 2}
    assert api.lambdas.invokes == [
        {
            "FunctionName": "gtpipe-labeling",
            "InvocationType": "Event",
            "Payload": json.dumps({"action": "finish", "job_name": JOB}).encode(),
        }
    ]
    # and the run shows the progress
    progress = api.cloud.run(RUN)["labeling_progress"]  # type: ignore[index]
    assert int(progress["objects_done"]) == 2 and int(progress["answers_done"]) == 4


def test_a_failed_finish_invoke_still_accepts_the_answer(api: Api) -> None:
    api.lambdas.fail = True
    store.end_job(api.tasks, JOB, "FAILED", NOW)
    api.tasks.delete_item(Key={"pk": store.job_pk(JOB), "sk": store.JOB_SK})
    open_job(api.tasks, count=1, workers=1)
    task = api.lease()["task"]
    status, body = api.answer(task, {"label": 0})
    assert status == 200 and body["accepted"] is True
    assert store.get_job(api.tasks, JOB)["status"] == "CONSOLIDATING"  # the sweep finishes it


def test_release_gives_the_task_back(api: Api) -> None:
    task = api.lease()["task"]
    path = f"/api/jobs/{JOB}/tasks/{task['index']}/release"
    assert api.call("POST", path, {"lease_id": task["lease_id"]}) == (200, {"released": True})
    status, body = api.call("POST", path, {"lease_id": task["lease_id"]})
    assert status == 409 and body["error"] == "LeaseNotHeld"


def test_skip_must_be_a_boolean(api: Api) -> None:
    task = api.lease()["task"]
    path = f"/api/jobs/{JOB}/tasks/{task['index']}/release"
    status, body = api.call("POST", path, {"lease_id": task["lease_id"], "skip": "yes"})
    assert status == 400 and "skip" in body["message"]
    assert api.call("POST", path, {"lease_id": task["lease_id"], "skip": True}) == (200, {"released": True})


@pytest.mark.parametrize("groups", ["reviewers", "", None, "[reviewers, admins]"])
def test_callers_outside_the_labeling_groups_are_403(api: Api, groups: Any) -> None:
    status, body = api.call("GET", "/api/jobs", groups=groups)
    assert status == 403 and body["error"] == "NotALabeler"


def test_a_request_without_identity_is_401(api: Api) -> None:
    event = load_event("labeling-api-jobs.json")
    del event["requestContext"]["authorizer"]
    response = handler.lambda_handler(event, api.context)
    assert response["statusCode"] == 401 and json.loads(response["body"])["error"] == "Unauthorized"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("labelers", {"labelers"}),
        ("[labelers, labeling-admins]", {"labelers", "labeling-admins"}),
        ("labelers,labeling-admins", {"labelers", "labeling-admins"}),
        ("labelers labeling-admins", {"labelers", "labeling-admins"}),
        (["labeling-admins"], {"labeling-admins"}),
        ('["labelers"]', {"labelers"}),
        (None, set()),
    ],
)
def test_groups_are_parsed_from_any_claim_form(raw: Any, expected: set[str]) -> None:
    assert handler.parse_groups(raw) == expected


def test_unknown_job_route_and_method(api: Api) -> None:
    status, body = api.call("POST", "/api/jobs/no-such-job/lease")
    assert status == 404 and body["error"] == "UnknownJob"
    status, body = api.call("POST", f"/api/jobs/{JOB}/tasks/99/release", {"lease_id": "x"})
    assert status == 404 and body["error"] == "UnknownTask"
    status, body = api.call("GET", "/api/nothing-here")
    assert status == 404 and body["error"] == "NotFound"
    status, body = api.call("GET", f"/api/jobs/{JOB}/lease")
    assert status == 405 and body["error"] == "MethodNotAllowed"


def test_progress_for_labelers_and_team_statistics_for_admins(api: Api) -> None:
    for sub in (ANN, "bob-sub"):
        task = api.lease(sub=sub)["task"]
        api.answer(task, {"label": 1}, sub=sub)
    status, body = api.call("GET", f"/api/jobs/{JOB}/progress")
    assert status == 200 and "team" not in body
    assert (body["objects"], body["objects_done"], body["answers_done"], body["my_answers"]) == (2, 1, 2, 1)
    status, body = api.call("GET", f"/api/jobs/{JOB}/progress", groups="[labelers, labeling-admins]")
    assert status == 200 and body["team"]["answers"] == 2
    assert {w["worker_id"] for w in body["team"]["workers"]} == {ANN, "bob-sub"}


def test_unexpected_errors_are_500_without_details(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(store, "lease", broken)
    status, body = api.call("POST", f"/api/jobs/{JOB}/lease")
    assert (status, body) == (500, {"error": "InternalError", "message": "internal error"})
    monkeypatch.delenv("LABELING_TABLE")
    status, body = api.call("GET", "/api/jobs")
    assert status == 500 and body["error"] == "ConfigurationError"
