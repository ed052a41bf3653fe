"""labeling_api: the builtin labeling service's REST API (API Gateway proxy, Cognito authorizer).

Routes (docs/labeling-service.md, "Labeling API"), all JSON:

* ``GET /api/jobs``: the open jobs with the caller's answer count;
* ``POST /api/jobs/{job}/lease``: a task for the caller (``{"task": {...}}`` with a short-lived presigned
  image URL), or ``{"task": null, "reason"}`` when nothing is left for this worker;
* ``POST /api/jobs/{job}/tasks/{index}/answer``: ``{"lease_id", "answer", "seconds"}`` ->
  ``{"accepted": true, "progress"}``; the answer that completes the job starts its finish (an async
  invoke of the labeling function; if that fails the sweep finishes the job later);
* ``POST /api/jobs/{job}/tasks/{index}/release``: ``{"lease_id", "skip"?}`` -> ``{"released": true}``
  (``skip: true``: never offer this object to this worker again);
* ``GET /api/jobs/{job}/progress``: the job's progress, for ``labeling-admins`` (with the team statistics)
  and for labelers while the job is open or when they answered in it (others: 404 like an unknown job);
* the review stage's routes for ``labeling-reviewers`` (``labeling_api/review_routes.py``); an answer may
  carry ``comment`` (text, at most 500 characters) for the reviewers.

The worker is the authorizer's Cognito ``sub`` (answers are stored under it, the ``email`` claim beside it);
callers must be in group ``labelers``, ``labeling-admins`` or ``labeling-reviewers`` (403 ``NotALabeler``). With ``USER_POOL_ID``
set, each caller's standing in the pool is checked too (at most every :data:`USER_CHECK_SECONDS` per
user): a user who was deleted, disabled or taken out of both groups gets 403 ``LockedOut`` although their
token is still valid, and the groups are the pool's current ones. Errors are ``{"error": "<Code>",
"message"}`` with 4xx; an unexpected error is a 500 without details. Paths may carry the stage
(``/prod/api/...``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared import labeling_store as store
from gtpipe_shared.aws import client, error_code, table
from gtpipe_shared.config import ConfigError, json_list_env, require_env
from gtpipe_shared.http import json_response, never_raising
from gtpipe_shared.image_header import stored_displayed_size
from gtpipe_shared.labeling_review import check_comment
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri
from gtpipe_shared.tasks import task_spec

from labeling_api import review_routes

logger = Logger()
tracer = Tracer()

LABELERS = "labelers"
ADMINS = "labeling-admins"
REVIEWERS = review_routes.REVIEWERS
TEAM = frozenset({LABELERS, ADMINS, REVIEWERS})
DEFAULT_IMAGE_URL_SECONDS = 300
MAX_BODY_BYTES = 256 * 1024
# How long a user's standing in the pool (exists, enabled, groups) is trusted before it is read again: a
# removal locks the person out within this time, at two Cognito reads per user and warm function.
USER_CHECK_SECONDS = 15


class ApiError(Exception):
    """A client error with its status and code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def api_error(status: int, code: str, message: str) -> dict[str, Any]:
    """``{"error": code, "message": message}`` with the status (the labeling API's error shape)."""
    return json_response(status, {"error": code, "message": message})


def clock() -> float:
    """Now, in epoch seconds (tests replace this function)."""
    return time.time()


@cache
def presigner() -> Any:
    """An S3 client signing with SigV4 (objects under SSE-KMS refuse other signatures), regional endpoint."""
    return boto3.client("s3", config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))


def lambda_client() -> Any:
    """The Lambda client that starts finishes (tests replace this function)."""
    return client("lambda")


def tasks() -> Any:
    """The tasks table."""
    return table(require_env("LABELING_TABLE"))


def cognito() -> Any:
    """The Cognito user pools client (tests replace this function)."""
    return client("cognito-idp")


# --- caller -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """The signed-in worker: Cognito ``sub`` (the stable id), e-mail (the display name: the address, else
    the user name), groups, and ``login`` (``cognito:username``, the pool's name of the user)."""

    worker_id: str
    username: str
    groups: frozenset[str]
    login: str = ""

    @property
    def is_admin(self) -> bool:
        """Member of ``labeling-admins``."""
        return ADMINS in self.groups


def parse_groups(raw: Any) -> frozenset[str]:
    """``cognito:groups`` as a set: API Gateway passes a string (``"labelers"``, ``"[labelers, x]"``,
    ``"labelers,x"`` or space separated); other front ends pass a list."""
    if isinstance(raw, list | tuple):
        items = [str(item) for item in raw]
    elif isinstance(raw, str):
        items = re.split(r"[\s,]+", raw.strip().strip("[]"))
    else:
        items = []
    return frozenset(item.strip().strip("\"'") for item in items if item.strip().strip("\"'"))


def caller(event: dict[str, Any]) -> Caller:
    """The caller from the authorizer's claims; 401 without a ``sub``, 403 outside the labeling groups."""
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    if isinstance(claims, str):  # some front ends pass the claims as JSON text
        try:
            claims = json.loads(claims)
        except json.JSONDecodeError:
            claims = {}
    sub = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(sub, str) or not sub:
        raise ApiError(401, "Unauthorized", "no signed-in user (the request carries no Cognito identity)")
    groups = parse_groups(claims.get("cognito:groups"))
    if not groups & TEAM:
        raise ApiError(
            403, "NotALabeler", f"user is not in the group '{LABELERS}', '{ADMINS}' or '{REVIEWERS}'"
        )
    # The team pool signs in by e-mail, so cognito:username is the sub's UUID: the address names a person.
    username = str(claims.get("email") or claims.get("cognito:username") or sub)
    return Caller(sub, username, groups, str(claims.get("cognito:username") or sub))


# sub -> (checked until, the pool's groups of the user then)
_standing: dict[str, tuple[float, frozenset[str]]] = {}


def forget_users() -> None:
    """Forget the cached standings (tests)."""
    _standing.clear()


def in_good_standing(who: Caller, now: float) -> Caller:
    """The caller with the pool's current groups; 403 ``LockedOut`` when the user is gone, disabled, not
    the token's user any more, or in neither labeling group. Without ``USER_POOL_ID`` the token decides."""
    pool = os.environ.get("USER_POOL_ID")
    if not pool:
        return who
    until, groups = _standing.get(who.worker_id, (0.0, frozenset()))
    if until <= now:
        groups = pool_groups(pool, who)
        _standing[who.worker_id] = (now + USER_CHECK_SECONDS, groups)
    if not groups & TEAM:
        raise ApiError(403, "LockedOut", "this user was removed from the labeling team")
    return Caller(who.worker_id, who.username, groups, who.login)


def pool_groups(pool: str, who: Caller) -> frozenset[str]:
    """The user's groups in the pool now; empty when the user is gone, disabled or another user (a new
    account with the same name has another sub). 503 when Cognito cannot answer (fail closed)."""
    try:
        user = cognito().admin_get_user(UserPoolId=pool, Username=who.login)
        subs = [a["Value"] for a in user.get("UserAttributes", []) if a.get("Name") == "sub"]
        if not user.get("Enabled", True) or subs != [who.worker_id]:
            return frozenset()
        pages = cognito().get_paginator("admin_list_groups_for_user")
        return frozenset(
            group["GroupName"]
            for page in pages.paginate(UserPoolId=pool, Username=who.login)
            for group in page.get("Groups", [])
        )
    except ClientError as exc:
        if error_code(exc) == "UserNotFoundException":
            return frozenset()
        logger.error("could not check the user's standing", extra={"error": str(exc)[:300]})
        raise ApiError(503, "ServiceUnavailable", "could not check your account; try again shortly") from exc


# --- request helpers --------------------------------------------------------------------------------


def body_of(event: dict[str, Any]) -> dict[str, Any]:
    """The JSON object body (empty object when there is none); 400 when it is not a JSON object."""
    raw = event.get("body")
    if raw in (None, ""):
        return {}
    if not isinstance(raw, str):
        raise ApiError(400, "InvalidRequest", "request body must be JSON text")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ApiError(400, "InvalidRequest", "request body is not valid base64 UTF-8") from exc
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "PayloadTooLarge", f"request body is over {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "InvalidRequest", f"request body is not JSON ({exc.msg})") from exc
    except RecursionError as exc:
        raise ApiError(400, "InvalidRequest", "request body is nested too deeply") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequest", "request body must be a JSON object")
    return body


def lease_id_of(body: dict[str, Any]) -> str:
    """The body's ``lease_id``; 400 when it is missing."""
    lease_id = body.get("lease_id")
    if not isinstance(lease_id, str) or not lease_id:
        raise ApiError(400, "InvalidRequest", "lease_id (the lease's id, a string) is required")
    return lease_id


def image_buckets() -> frozenset[str]:
    """Buckets whose images may be presigned: the data bucket plus ``IMAGE_BUCKETS`` (JSON list, optional)."""
    return frozenset([require_env("DATA_BUCKET"), *json_list_env("IMAGE_BUCKETS")])


def image_url(source_ref: str) -> str | None:
    """A presigned GET URL for an image in an allowed bucket (None otherwise: never presign foreign refs)."""
    try:
        bucket, key = parse_s3_uri(source_ref)
    except S3UriError:
        return None
    if bucket not in image_buckets():
        logger.warning("image bucket not allowed for presigning", extra={"bucket": bucket})
        return None
    seconds = int(os.environ.get("IMAGE_URL_SECONDS") or DEFAULT_IMAGE_URL_SECONDS)
    return str(
        presigner().generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
        )
    )


def server_image_size(job_name: str, index: int) -> tuple[int, int] | None:
    """The image's ``(width, height)`` as the server knows it: recorded on the object, else read from the
    image header (then recorded), else the manifest line's ``image_size``; None when none tells."""
    obj, known = store.image_size(tasks(), job_name, index)
    if known:
        return known
    size = header_size(obj.source_ref) or line_size(obj.line)
    if size:
        store.record_image_size(tasks(), job_name, index, size)
    return size


def header_size(source_ref: str) -> tuple[int, int] | None:
    """``(width, height)`` as shown (EXIF orientation applied) from a PNG/JPEG header in an allowed bucket
    (None: unreadable or another format)."""
    try:
        bucket, key = parse_s3_uri(source_ref)
    except S3UriError:
        return None
    if bucket not in image_buckets():
        return None
    try:
        return stored_displayed_size(client("s3"), bucket, key)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("could not read the image header", extra={"error": str(exc)[:300]})
        return None


def line_size(line: str) -> tuple[int, int] | None:
    """``image_size`` of a manifest line (``{"width", "height"}`` or Ground Truth's one-element list)."""
    size: Any = json.loads(line).get("image_size")
    if isinstance(size, list) and len(size) == 1:
        size = size[0]
    if not isinstance(size, dict):
        return None
    width, height = size.get("width"), size.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return None


def start_finish(job_name: str) -> bool:
    """Invoke the labeling function's ``finish`` asynchronously; False (logged) when it could not be sent
    (the sweep finishes the job later)."""
    try:
        lambda_client().invoke(
            FunctionName=require_env("LABELING_FUNCTION_NAME"),
            InvocationType="Event",
            Payload=json.dumps({"action": "finish", "job_name": job_name}).encode(),
        )
    except (ClientError, BotoCoreError, ConfigError) as exc:
        logger.error(
            "could not start the finish; the sweep will",
            extra={"job_name": job_name, "error": str(exc)[:300]},
        )
        return False
    return True


def record_progress(job: dict[str, Any], progress: store.Progress, now: float) -> None:
    """``labeling_progress`` on the run (best effort: a ledger hiccup must not refuse a stored answer)."""
    try:
        store.record_ledger_progress(table(require_env("RUNS_TABLE")), str(job["run_id"]), progress, now)
    except (ClientError, BotoCoreError, ConfigError) as exc:
        logger.warning("could not record labeling progress", extra={"error": str(exc)[:300]})


# --- routes -----------------------------------------------------------------------------------------


def list_jobs(who: Caller, _params: dict[str, str], _event: dict[str, Any]) -> dict[str, Any]:
    """``GET /api/jobs``."""
    return {"jobs": store.list_open_jobs(tasks(), who.worker_id, now=clock())}


def lease_task(who: Caller, params: dict[str, str], _event: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/jobs/{job}/lease``."""
    job_name = params["job"]
    now = clock()
    job = store.get_job(tasks(), job_name)  # one read for the lease and the task's settings
    lease = store.lease(tasks(), job_name, who.worker_id, now, job=job)
    if lease is None:
        return {"task": None, "reason": "no task is left for you in this job (all answered or leased)"}
    return {
        "task": {
            "job_name": job_name,
            "index": lease.index,
            "lease_id": lease.lease_id,
            "lease_expires_at": lease.lease_expires_at,
            # The lease's remaining length: the app counts it down on the browser's clock, which may
            # be off from the service's by any amount (a labeler's laptop with a wrong date).
            "lease_seconds_left": max(0, int(lease.lease_expires_at) - int(now)),
            "task_type": job["task_type"],
            "class_names": list(job.get("class_names") or []),
            "instructions": job.get("instructions", ""),
            "image_url": image_url(lease.source_ref),
            "source_ref": lease.source_ref,
            # Pre-annotation: the model's suggestion the app shows for the person to accept or correct.
            **({"suggestion": lease.suggestion} if lease.suggestion is not None else {}),
        }
    }


def answer_task(who: Caller, params: dict[str, str], event: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/jobs/{job}/tasks/{index}/answer``."""
    body = body_of(event)
    lease_id = lease_id_of(body)
    if "answer" not in body:
        raise ApiError(400, "InvalidAnswer", "answer is required")
    now = clock()
    job_name, index = params["job"], int(params["index"])
    size = None
    job = store.get_job(tasks(), job_name)  # one read for the answer, its checks and the run's progress
    if task_spec(job.get("task_type")).boxes:
        size = server_image_size(job_name, index)
    try:
        comment = check_comment(body.get("comment"))
    except ValueError as exc:
        raise ApiError(400, "InvalidAnswer", str(exc)) from None
    given = store.Answering(
        job_name,
        index,
        who.worker_id,
        lease_id,
        body["answer"],
        body.get("seconds"),
        who.username,
        size,
        comment,
    )
    outcome = store.submit(tasks(), given, now, job=job)
    if outcome.object_completed:
        record_progress(job, outcome.progress, now)
    if outcome.job_completed:
        logger.info("labeling job complete; starting its finish", extra={"job_name": job_name})
        start_finish(job_name)
    progress = outcome.progress
    return {
        "accepted": True,
        "progress": {
            "objects": progress.objects,
            "objects_done": progress.objects_done,
            "my_answers": progress.my_answers,
        },
    }


def release_task(who: Caller, params: dict[str, str], event: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/jobs/{job}/tasks/{index}/release``."""
    body = body_of(event)
    skip = body.get("skip", False)
    if not isinstance(skip, bool):
        raise ApiError(400, "InvalidRequest", f"skip must be true or false; got {skip!r}")
    store.release(tasks(), params["job"], int(params["index"]), who.worker_id, lease_id_of(body), skip=skip)
    return {"released": True}


def job_progress(who: Caller, params: dict[str, str], _event: dict[str, Any]) -> dict[str, Any]:
    """``GET /api/jobs/{job}/progress``: admins (with the team statistics so far); labelers while the job
    is open (it is in their list) or when they answered in it; anyone else learns what an unknown job
    tells."""
    job_name = params["job"]
    job = store.get_job(tasks(), job_name)
    now = clock()
    open_now = job.get("status") == store.OPEN and int(job.get("expires_at", 0)) > now
    if not (who.is_admin or open_now or store.took_part(tasks(), job_name, who.worker_id)):
        raise store.UnknownJob(f"no labeling job named {job_name}")
    answer = store.progress(tasks(), job_name, who.worker_id).as_dict()
    if who.is_admin:
        answer["team"] = team_so_far(job, now)
    return answer


def team_so_far(job: dict[str, Any], now: float) -> dict[str, Any] | None:
    """The team statistics over the answers so far (objects with all their answers consolidated)."""
    job_name = str(job["job_name"])
    try:
        return store.job_output(tasks(), job, now).team
    except ValueError as exc:
        logger.warning("team statistics unavailable", extra={"job_name": job_name, "error": str(exc)[:300]})
        return None


def lease_review(who: Caller, params: dict[str, str], _event: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/jobs/{job}/review/lease`` (review_routes)."""
    return review_routes.lease_review(tasks(), params["job"], who.worker_id, who.groups, clock(), image_url)


def decide_review(who: Caller, params: dict[str, str], event: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/jobs/{job}/review/{index}/decide`` (review_routes) -> ``{"decided", "requeued",
    "job_completed"}``; the decision that completes the job starts its finish."""
    job_name = params["job"]
    answer, completed = review_routes.decide(
        tasks(),
        job_name,
        int(params["index"]),
        (who.worker_id, who.username, who.groups),
        body_of(event),
        clock(),
    )
    if completed:
        logger.info("labeling job reviewed; starting its finish", extra={"job_name": job_name})
        start_finish(job_name)
    # The app goes back to the jobs instead of asking a complete job for more.
    return {**answer, "job_completed": completed}


Handler = Callable[[Caller, dict[str, str], dict[str, Any]], dict[str, Any]]
_JOB = r"(?P<job>[^/]+)"
_INDEX = r"(?P<index>\d{1,8})"
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"^/api/jobs/?$"), list_jobs),
    ("POST", re.compile(rf"^/api/jobs/{_JOB}/lease/?$"), lease_task),
    ("POST", re.compile(rf"^/api/jobs/{_JOB}/tasks/{_INDEX}/answer/?$"), answer_task),
    ("POST", re.compile(rf"^/api/jobs/{_JOB}/tasks/{_INDEX}/release/?$"), release_task),
    ("GET", re.compile(rf"^/api/jobs/{_JOB}/progress/?$"), job_progress),
    ("POST", re.compile(rf"^/api/jobs/{_JOB}/review/lease/?$"), lease_review),
    ("POST", re.compile(rf"^/api/jobs/{_JOB}/review/{_INDEX}/decide/?$"), decide_review),
]


def route(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    """The handler and path parameters; 404 for an unknown path, 405 for a known path's other methods."""
    # The stage may or may not be in the path (custom domains, local front ends): match from "/api/".
    start = path.find("/api/")
    relative = path[start:] if start >= 0 else path
    allowed = []
    for route_method, pattern, handler in ROUTES:
        match = pattern.match(relative)
        if match:
            if route_method == method:
                return handler, {key: unquote(value) for key, value in match.groupdict().items()}
            allowed.append(route_method)
    if allowed:
        raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed here (use {', '.join(allowed)})")
    raise ApiError(404, "NotFound", f"no route {method} {relative[:200]}")


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """The whole request, as an API Gateway proxy response."""
    try:
        method = str(event.get("httpMethod") or "GET").upper()
        handler, params = route(method, str(event.get("path") or ""))
        who = in_good_standing(caller(event), clock())
        return json_response(200, handler(who, params, event))
    except ApiError as exc:
        return api_error(exc.status, exc.code, exc.message)
    except store.LabelingError as exc:
        return api_error(exc.status, exc.code, exc.message)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy event -> proxy response; never raises (no stack traces reach clients)."""
    return never_raising(event, handle, logger=logger, error=api_error)
