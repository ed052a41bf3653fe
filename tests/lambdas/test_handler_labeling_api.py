"""The labeling API (API Gateway proxy events from tests/events/labeling-api-*.json) against moto."""

from __future__ import annotations

import copy
import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
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
    now: float = NOW

    def call(self, method: str, path: str, body: Any = None, **caller: Any) -> tuple[int, dict[str, Any]]:
        """``respond``'s status code and parsed body; ``caller`` as ``respond``'s keyword arguments."""
        response = self.respond(method, path, body, **caller)
        return response["statusCode"], json.loads(response["body"])

    def respond(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        sub: str = ANN,
        username: str = "ann",
        groups: Any = "labelers",
        email: str = "ann@example.com",
        raw_body: str | None = None,
    ) -> dict[str, Any]:
        event = copy.deepcopy(
            load_event("labeling-api-jobs.json" if method == "GET" else "labeling-api-answer.json")
        )
        event["httpMethod"] = method
        event["path"] = path
        event["requestContext"]["path"] = "/prod" + path
        event["body"] = raw_body if raw_body is not None else None if body is None else json.dumps(body)
        claims = event["requestContext"]["authorizer"]["claims"]
        claims.update({"sub": sub, "cognito:username": username, "cognito:groups": groups, "email": email})
        response = handler.lambda_handler(event, self.context)
        assert response["headers"]["Content-Type"] == "application/json"
        return dict(response)

    def lease(self, sub: str = ANN, **kwargs: Any) -> dict[str, Any]:
        status, body = self.call("POST", f"/api/jobs/{JOB}/lease", sub=sub, **kwargs)
        assert status == 200, body
        return dict(body)

    def answer(
        self, task: dict[str, Any], answer: Any, sub: str = ANN, seconds: Any = 4.2, **kwargs: Any
    ) -> tuple[int, dict[str, Any]]:
        path = f"/api/jobs/{JOB}/tasks/{task['index']}/answer"
        body = {"lease_id": task["lease_id"], "answer": answer, "seconds": seconds}
        return self.call("POST", path, body, sub=sub, **kwargs)


def open_job(
    tasks: Any,
    count: int = 2,
    workers: int = 2,
    bucket: str = DATA_BUCKET,
    task_type: str = "image-classification",
) -> None:
    lines = "".join(
        json.dumps({"source-ref": f"s3://{bucket}/images/{i:03d}.jpg"}) + "\n" for i in range(count)
    )
    spec = job_spec(
        task_type=task_type,
        workers_per_object=workers,
        title="Cat, dog or bird?",
        instructions="Pick the animal.",
    )
    store.open_job(tasks, spec, store.objects_from_manifest(lines.encode()), NOW)


def job_spec(job_name: str = JOB, **overrides: Any) -> store.JobSpec:
    """The tests' cat/dog/bird classification job (one answer per object unless ``overrides`` say
    otherwise), open for an hour from NOW."""
    settings: dict[str, Any] = {
        "job_name": job_name,
        "run_id": RUN,
        "task_type": "image-classification",
        "task_token": "token",
        "class_names": ("cat", "dog", "bird"),
        "label_attribute": "category",
        "manifest_uri": f"s3://{DATA_BUCKET}/incoming/demo.manifest",
        "output_path": f"s3://{DATA_BUCKET}/labeling/",
        "data_bucket": DATA_BUCKET,
        "workers_per_object": 1,
        "lease_seconds": 300,
        "expires_at": int(NOW) + 3600,
        "min_labeled_share": 0.9,
    }
    return store.JobSpec(**{**settings, **overrides})


@pytest.fixture
def api(cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    tasks = create_labeling_table(cloud.dynamodb)
    monkeypatch.setenv("LABELING_TABLE", LABELING_TABLE)
    monkeypatch.setenv("LABELING_FUNCTION_NAME", "gtpipe-labeling")
    monkeypatch.setenv("IMAGE_URL_SECONDS", "120")
    fake = FakeLambda()
    monkeypatch.setattr(handler, "lambda_client", lambda: fake)
    api = Api(cloud, tasks, fake, context)
    monkeypatch.setattr(handler, "clock", lambda: api.now)
    put_running_run(cloud, RUN)
    open_job(tasks)
    yield api


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
    assert job["hotkeys"] == {}  # none configured: the app's default keys


def test_lease_gives_a_task_with_a_presigned_image_url(api: Api) -> None:
    task = api.lease()["task"]
    assert (task["job_name"], task["index"], task["task_type"]) == (JOB, 0, "image-classification")
    assert task["source_ref"] == f"s3://{DATA_BUCKET}/images/000.jpg"
    assert task["lease_expires_at"] == int(NOW) + 300 and task["class_names"] == ["cat", "dog", "bird"]
    # The app counts the lease down from its length, not from the service's clock.
    assert task["lease_seconds_left"] == 300
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
    api.now = NOW + 5  # the worker reports 4.2 s of the 5 s the lease was held
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


# --- issue 20: hardening -----------------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    """A valid PNG of ``width`` x ``height`` black pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def box_job(api: Api, count: int = 1, workers: int = 2) -> None:
    """A box job over 32x32 PNG images (under .jpg names: the header, not the name, tells the size)."""
    store.end_job(api.tasks, JOB, "FAILED", NOW)
    api.tasks.delete_item(Key={"pk": store.job_pk(JOB), "sk": store.JOB_SK})
    for index in range(count):
        api.cloud.put(f"images/{index:03d}.jpg", png(32, 32))
    open_job(api.tasks, count=count, workers=workers, task_type="object-detection")


BOX = {"class_id": 0, "left": 2, "top": 3, "width": 10, "height": 12}


def test_a_box_answer_whose_image_size_is_not_the_images_is_400(api: Api) -> None:
    # given a box job over a 32x32 image
    box_job(api)
    task = api.lease()["task"]
    # when a labeler claims the image is 100000x100000
    status, body = api.answer(task, {"boxes": [BOX], "image_size": {"width": 100000, "height": 100000}})
    # then the answer is refused, naming the image's size
    assert status == 400 and body["error"] == "InvalidAnswer" and "32x32" in body["message"]
    # and the true size (or none: the server knows it) is accepted and stored with the server's size
    assert api.answer(task, {"boxes": [BOX]})[0] == 200
    [record] = store.all_answers(api.tasks, JOB)[0]
    assert record.answer["image_size"] == {"width": 32, "height": 32}


def test_one_answer_cannot_fail_a_box_job_whatever_size_it_stored(api: Api) -> None:
    # given a box job whose object has two answers stored with different sizes (data from before the check)
    box_job(api)
    for sub in (ANN, "bob-sub"):
        task = api.lease(sub=sub)["task"]
        assert (
            api.answer(task, {"boxes": [BOX], "image_size": {"width": 32, "height": 32}}, sub=sub)[0] == 200
        )
    api.tasks.update_item(
        Key={"pk": store.job_pk(JOB), "sk": store.answer_sk(0, "bob-sub")},
        UpdateExpression="SET answer = :a",
        ExpressionAttributeValues={
            ":a": json.dumps({"boxes": [BOX], "image_size": {"width": 100000, "height": 100000}})
        },
    )
    # when an admin reads the team statistics (the consolidation the finish runs)
    status, body = api.call("GET", f"/api/jobs/{JOB}/progress", groups="labeling-admins")
    # then the objects are consolidated at the server's size, not failed
    assert status == 200 and body["team"] is not None and body["team"]["objects"] == 1


@pytest.mark.parametrize("seconds", [9.9e125, 1e308, 3600.0])
def test_reported_seconds_are_bounded_by_the_time_the_lease_was_held(api: Api, seconds: float) -> None:
    # given a task leased 7 seconds ago
    task = api.lease()["task"]
    api.now = NOW + 7
    # when the labeler reports a huge time
    status, _body = api.answer(task, {"label": 1}, seconds=seconds)
    # then the answer is kept with the time the server measured
    assert status == 200
    [record] = store.all_answers(api.tasks, JOB)[0]
    assert record.seconds == 7.0
    worker = api.tasks.get_item(Key={"pk": store.job_pk(JOB), "sk": store.worker_sk(ANN)})["Item"]
    assert float(worker["seconds_total"]) == 7.0


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-1", '"slow"', "true"])
def test_seconds_that_are_not_a_finite_non_negative_number_are_400(api: Api, raw: str) -> None:
    task = api.lease()["task"]
    body = f'{{"lease_id": "{task["lease_id"]}", "answer": {{"label": 1}}, "seconds": {raw}}}'
    status, answer = api.call("POST", f"/api/jobs/{JOB}/tasks/0/answer", raw_body=body)
    assert status == 400 and answer["error"] == "InvalidAnswer" and "seconds" in answer["message"]


def test_answers_and_leases_after_the_jobs_lifetime_are_refused(api: Api) -> None:
    # given a task leased 100 seconds before the job's lifetime ends (lease_seconds 300)
    api.now = NOW + 3500
    task = api.lease()["task"]
    # then the lease ends with the job, not after it
    assert task["lease_expires_at"] == int(NOW) + 3600 and task["lease_seconds_left"] == 100
    # when the answer arrives after the lifetime ended (before the sweep closed the job)
    api.now = NOW + 3601
    status, body = api.answer(task, {"label": 1})
    # then it is refused with a clear error, and so is a new lease
    assert status == 410 and body["error"] == "JobExpired" and "lifetime" in body["message"]
    status, body = api.call("POST", f"/api/jobs/{JOB}/lease", sub="bob-sub")
    assert status == 410 and body["error"] == "JobExpired"
    assert store.all_answers(api.tasks, JOB) == {}


def test_answers_are_stored_under_the_user_id_with_the_email_beside_it(api: Api) -> None:
    # given a labeler who answered, then changed their e-mail and answered again
    task = api.lease()["task"]
    api.answer(task, {"label": 1})
    task = api.lease()["task"]
    api.answer(task, {"label": 1}, email="ann.new@example.com")
    # then both answers are stored under the Cognito sub, each with the e-mail it came with
    items = api.tasks.query(
        KeyConditionExpression="pk = :pk AND begins_with(sk, :ans)",
        ExpressionAttributeValues={":pk": store.job_pk(JOB), ":ans": "ANS#"},
    )["Items"]
    assert {(item["worker_id"], item["email"]) for item in items} == {
        (ANN, "ann@example.com"),
        (ANN, "ann.new@example.com"),
    }
    # and the team statistics show one worker, named by their current e-mail
    status, body = api.call("GET", f"/api/jobs/{JOB}/progress", groups="labeling-admins")
    assert status == 200
    [worker] = body["team"]["workers"]
    assert (worker["worker_id"], worker["username"], worker["answers"]) == (ANN, "ann.new@example.com", 2)


def test_answers_stored_before_the_email_attribute_stay_readable(api: Api) -> None:
    task = api.lease()["task"]
    api.answer(task, {"label": 1})
    api.tasks.update_item(
        Key={"pk": store.job_pk(JOB), "sk": store.answer_sk(0, ANN)}, UpdateExpression="REMOVE email"
    )
    [record] = store.all_answers(api.tasks, JOB)[0]
    assert (record.worker_id, record.username) == (ANN, "ann@example.com")


def test_a_deeply_nested_body_is_400(api: Api) -> None:
    status, body = api.call("POST", f"/api/jobs/{JOB}/tasks/0/answer", raw_body="[" * 100_000 + "]" * 100_000)
    assert status == 400 and body["error"] == "InvalidRequest"


def test_every_response_says_nosniff(api: Api) -> None:
    for method, path in (("GET", "/api/jobs"), ("POST", f"/api/jobs/{JOB}/lease"), ("GET", "/api/nothing")):
        assert api.respond(method, path)["headers"]["X-Content-Type-Options"] == "nosniff"
    assert (
        api.respond("GET", "/api/jobs", groups="reviewers")["headers"]["X-Content-Type-Options"] == "nosniff"
    )


def test_labelers_read_the_progress_of_open_jobs_and_jobs_they_worked_on_only(api: Api) -> None:
    # given a job ann answered in, and a job that ended before bob took part
    task = api.lease()["task"]
    api.answer(task, {"label": 1})
    store.close_job(api.tasks, JOB, NOW)
    store.end_job(api.tasks, JOB, "COMPLETED", NOW)
    path = f"/api/jobs/{JOB}/progress"
    # then ann (who worked on it) and admins read its progress, bob gets what an unknown job gets
    assert api.call("GET", path)[0] == 200
    assert api.call("GET", path, sub="admin-sub", groups="labeling-admins")[0] == 200
    status, body = api.call("GET", path, sub="bob-sub", email="bob@example.com")
    assert status == 404 and body["error"] == "UnknownJob"


# --- lockout (the user's status and groups in the pool, checked on each call) -------------------------


@dataclass
class Pool:
    cognito: Any
    pool_id: str
    sub: str  # ann's


@pytest.fixture
def pool(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pool]:
    """A team pool with ann in ``labelers``; the API checks it (USER_POOL_ID) with a fresh cache."""
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    pool_id = cognito.create_user_pool(PoolName="team")["UserPool"]["Id"]
    cognito.create_group(UserPoolId=pool_id, GroupName="labelers")
    user = cognito.admin_create_user(UserPoolId=pool_id, Username="ann")["User"]
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username="ann", GroupName="labelers")
    monkeypatch.setenv("USER_POOL_ID", pool_id)
    handler.forget_users()
    sub = next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")
    yield Pool(cognito, pool_id, sub)
    handler.forget_users()


def remove(pool: Pool, how: str) -> None:
    cognito, pool_id = pool.cognito, pool.pool_id
    if how == "disable":
        cognito.admin_disable_user(UserPoolId=pool_id, Username="ann")
    elif how == "leave-group":
        cognito.admin_remove_user_from_group(UserPoolId=pool_id, Username="ann", GroupName="labelers")
    elif how == "delete":
        cognito.admin_delete_user(UserPoolId=pool_id, Username="ann")
    else:  # deleted and invited again: a new account (another sub) under the same name
        cognito.admin_delete_user(UserPoolId=pool_id, Username="ann")
        cognito.admin_create_user(UserPoolId=pool_id, Username="ann")
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username="ann", GroupName="labelers")


@pytest.mark.parametrize("removal", ["disable", "leave-group", "delete", "recreate"])
def test_a_removed_person_is_locked_out_within_seconds(api: Api, pool: Pool, removal: str) -> None:
    # given ann, signed in, labeling
    assert api.call("GET", "/api/jobs", sub=pool.sub)[0] == 200
    # when an admin disables her, takes her out of the group or deletes her (her ID token stays valid)
    remove(pool, removal)
    # then once the short cache has passed, every call is refused
    api.now = NOW + handler.USER_CHECK_SECONDS
    status, body = api.call("POST", f"/api/jobs/{JOB}/lease", sub=pool.sub)
    assert status == 403 and body["error"] == "LockedOut"


def test_the_pools_groups_count_not_the_tokens(api: Api, pool: Pool) -> None:
    # a token that still says labeling-admins does not make ann an admin once the pool says otherwise
    status, body = api.call("GET", f"/api/jobs/{JOB}/progress", sub=pool.sub, groups="labeling-admins")
    assert status == 200 and "team" not in body


def test_the_user_check_is_cached_briefly(api: Api, pool: Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = handler.cognito

    def counting() -> Any:
        calls.append(1)
        return real()

    monkeypatch.setattr(handler, "cognito", counting)
    for _ in range(3):
        assert api.call("GET", "/api/jobs", sub=pool.sub)[0] == 200
    assert len(calls) == 2  # one AdminGetUser, one AdminListGroupsForUser
    api.now = NOW + handler.USER_CHECK_SECONDS
    assert api.call("GET", "/api/jobs", sub=pool.sub)[0] == 200
    assert len(calls) == 4


def test_cognito_errors_fail_closed_with_503(api: Api, pool: Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    class Down:
        def admin_get_user(self, **_kwargs: Any) -> None:
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException", "Message": "slow"}}, "AdminGetUser"
            )

    monkeypatch.setattr(handler, "cognito", Down)
    status, body = api.call("GET", "/api/jobs", sub=pool.sub)
    assert status == 503 and body["error"] == "ServiceUnavailable"
