"""The builtin labeling service's tasks table (docs/labeling-service.md, "Tasks table").

One DynamoDB table, one partition per job (``pk = JOB#<job_name>``) holding the job item (``#JOB``), one
object item per manifest line (``OBJ#<index, 8 digits>``), one answer item per (object, worker)
(``ANS#<index, 8 digits>#<worker_id>``) and one worker item per worker (``WRK#<worker_id>``). The sparse
index ``open-jobs`` (partition ``open_jobs``, sort ``created_at``) lists the jobs that are not finished:
``open_jobs`` is ``"OPEN"`` while a job takes answers and ``"CONSOLIDATING"`` while its output is written;
it is removed when the job ends.

Every change is a conditional write (no locks), so any number of API and sweep invocations can run at once:

* a lease takes a free slot of an object the worker has not touched (``slots_open > 0`` and no entry in
  ``workers``), or reclaims another worker's expired lease in the same update; a worker holds at most one
  lease per job (asking again returns the lease it holds) and never gets an object it answered;
* an answer is one transaction: the object's entry moves ``leased -> answered`` (conditional on the lease
  id and on the answer count read before), the answer item is created, the worker's and the job's counters
  grow (conditional on the job being ``OPEN``); the answer that completes the last object moves the job
  ``OPEN -> CONSOLIDATING`` with a conditional update, so exactly one caller sees ``job_completed``.

Functions take the table as a boto3 ``Table`` resource; batch and transaction calls go through its
``meta.client`` (which accepts plain Python values like the resource). Times are epoch seconds (``now``
arguments are floats, stored epochs are whole seconds) except the ISO strings the contracts name.
"""

from __future__ import annotations

import io
import json
import math
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from gtpipe_shared import labeling_output, ledger
from gtpipe_shared.aws import error_code
from gtpipe_shared.images import MAX_IMAGE_PIXELS
from gtpipe_shared.manifest import IMAGE_CLASSIFICATION, OBJECT_DETECTION, TASK_TYPES, is_blank, iter_lines
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri

OPEN = "OPEN"
CONSOLIDATING = "CONSOLIDATING"
COMPLETED = "COMPLETED"
INCOMPLETE = "INCOMPLETE"
FAILED = "FAILED"
FINAL_STATUSES = (COMPLETED, INCOMPLETE, FAILED)
OPEN_JOBS_INDEX = "open-jobs"
JOB_SK = "#JOB"
LEASED = "leased"
ANSWERED = "answered"
# A worker who skipped an object is never offered it again; the slot stays open for the others.
SKIPPED = "skipped"
TTL_ATTRIBUTE = "expires_ttl"
TTL_SECONDS = 90 * 86400
BATCH_SIZE = 25
# Objects read per page while looking for a task to lease (the first free one is usually in the first page).
OBJECT_PAGE = 25
MAX_BOXES = 500
# A box may overshoot the image edge by this share of the side (mouse drags end a pixel outside); it is
# clipped. Anything further out is a client bug and is refused.
EDGE_TOLERANCE = 0.02
# A finish that claimed a job and has not ended after this long is presumed dead (Lambda timeout is less).
FINISH_CLAIM_SECONDS = 900


class LabelingError(Exception):
    """A labeling request that cannot be served; ``status`` and ``code`` (the class name) are the API's
    answer."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = type(self).__name__


class UnknownJob(LabelingError):
    """No job of that name."""

    status = 404


class UnknownTask(LabelingError):
    """The job has no object with that index."""

    status = 404


class JobNotOpen(LabelingError):
    """The job does not take leases or answers any more (closed, finished, or its lifetime ended)."""

    status = 409


class JobExpired(JobNotOpen):
    """The job's lifetime has ended (the sweep closes it soon): no more leases or answers."""

    status = 410


class LeaseNotHeld(LabelingError):
    """The worker does not hold that lease (expired and reclaimed, released, answered, or never held)."""

    status = 409


class InvalidAnswer(LabelingError):
    """The answer does not fit the task; the message names the problem."""

    status = 400


class InvalidManifest(ValueError):
    """The input manifest cannot be turned into tasks; the message names the lines at fault."""


# --- keys -------------------------------------------------------------------------------------------


def job_pk(job_name: str) -> str:
    """The partition of a job."""
    return f"JOB#{job_name}"


def object_sk(index: int) -> str:
    """The sort key of object ``index``."""
    return f"OBJ#{index:08d}"


def answer_sk(index: int, worker_id: str) -> str:
    """The sort key of a worker's answer for object ``index``."""
    return f"ANS#{index:08d}#{worker_id}"


def worker_sk(worker_id: str) -> str:
    """The sort key of a worker's item."""
    return f"WRK#{worker_id}"


def iso(now: float) -> str:
    """Epoch seconds as the ledger's fixed-width ISO string."""
    return ledger.now_iso(datetime.fromtimestamp(now, tz=UTC))


def _epoch(now: float) -> int:
    return math.floor(now)


# --- values -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelingObject:
    """One manifest line to label: its 0-based index among the data lines, source-ref and JSON text."""

    index: int
    source_ref: str
    line: str


@dataclass(frozen=True)
class JobSpec:
    """Everything a new job item records (docs/labeling-service.md, job item)."""

    job_name: str
    run_id: str
    task_type: str
    task_token: str
    class_names: tuple[str, ...]
    label_attribute: str
    manifest_uri: str
    output_path: str
    data_bucket: str
    workers_per_object: int
    lease_seconds: int
    expires_at: int
    min_labeled_share: float
    title: str = ""
    description: str = ""
    instructions: str = ""


@dataclass(frozen=True)
class OpenOutcome:
    """``created`` False: the job existed (a retried open); its token was replaced."""

    created: bool
    job: dict[str, Any]


@dataclass(frozen=True)
class Lease:
    """A task leased to a worker."""

    job_name: str
    index: int
    lease_id: str
    lease_expires_at: int
    source_ref: str
    resumed: bool = False


@dataclass(frozen=True)
class Progress:
    """A job's progress; ``my_answers`` is None when no worker was named."""

    job_name: str
    status: str
    objects: int
    objects_done: int
    answers_done: int
    answers_needed: int
    expires_at: int
    my_answers: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``my_answers`` left out when None)."""
        data = {
            "job_name": self.job_name,
            "status": self.status,
            "objects": self.objects,
            "objects_done": self.objects_done,
            "answers_done": self.answers_done,
            "answers_needed": self.answers_needed,
            "expires_at": self.expires_at,
        }
        if self.my_answers is not None:
            data["my_answers"] = self.my_answers
        return data


@dataclass(frozen=True)
class AnswerOutcome:
    """What an accepted answer did: ``job_completed`` is True for exactly one answer per job."""

    object_completed: bool
    job_completed: bool
    progress: Progress


@dataclass(frozen=True)
class StoredObject:
    """An object item without its lease map."""

    index: int
    source_ref: str
    line: str
    answer_count: int
    image_size: tuple[int, int] | None = None


# --- manifest -> objects ----------------------------------------------------------------------------


def objects_from_manifest(
    data: bytes, *, max_line_bytes: int = 100_000, max_issues: int = 5
) -> list[LabelingObject]:
    """The data lines of an input manifest as objects to label, in order.

    Every line must be a JSON object with an ``s3://`` ``source-ref`` (duplicates refused: Ground Truth
    labels an image once per job); trailing blank lines are skipped. InvalidManifest names the first
    ``max_issues`` problems and counts the rest.
    """
    objects: list[LabelingObject] = []
    problems: list[str] = []
    problem_count = 0
    seen: set[str] = set()
    blank_at: int | None = None

    def problem(number: int, message: str) -> None:
        nonlocal problem_count
        problem_count += 1
        if len(problems) < max_issues:
            problems.append(f"line {number}: {message}")

    for number, content in iter_lines(io.BytesIO(data), max_line_bytes=max_line_bytes):
        if content is None:
            problem(number, f"line is longer than {max_line_bytes} bytes")
            continue
        if is_blank(content):
            blank_at = blank_at or number
            continue
        if blank_at is not None:
            problem(blank_at, "blank line inside the manifest")
            blank_at = None
        try:
            obj = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            problem(number, "not a JSON object")
            continue
        if not isinstance(obj, dict):
            problem(number, "not a JSON object")
            continue
        ref: Any = obj.get("source-ref")
        try:
            parse_s3_uri(ref)
        except S3UriError as exc:
            problem(number, f"source-ref: {exc}" if ref is not None else "missing 'source-ref'")
            continue
        if ref in seen:
            problem(number, f"duplicate source-ref {ref[:200]}")
            continue
        seen.add(ref)
        objects.append(LabelingObject(index=len(objects), source_ref=ref, line=json.dumps(obj)))
    if not objects and not problem_count:
        problem(0, "manifest is empty (no JSON lines)")
    if problem_count:
        more = f" (and {problem_count - len(problems)} more)" if problem_count > len(problems) else ""
        raise InvalidManifest("; ".join(p.removeprefix("line 0: ") for p in problems) + more)
    return objects


# --- answers ----------------------------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _class_id(value: Any, class_count: int, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidAnswer(f"{where} must be an integer class id, got {json.dumps(value)[:40]}")
    if not 0 <= value < class_count:
        raise InvalidAnswer(f"{where} {value} is not a known class id (0..{class_count - 1})")
    return value


def validate_answer(
    task_type: str,
    answer: Any,
    class_names: Sequence[str],
    image_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The answer in its stored form, or InvalidAnswer naming the problem.

    Classification: ``{"label": <class id>}``. Bounding boxes: ``{"boxes": [{"class_id", "left", "top",
    "width", "height"}], "image_size": {"width", "height"}}`` in pixels of the image; an empty list says the
    image shows none of the classes; ``image_size`` must be whole pixels. ``image_size`` (the server's
    ``(width, height)`` of the image, when known) is the size stored: the answer may leave its own out, and
    one that differs is refused. Boxes overshooting an edge by up to 2 % of the side are clipped; stored
    boxes are whole pixels (``labeling_output.validate_answer``, the form the output writer reads).
    """
    if not isinstance(answer, dict):
        raise InvalidAnswer("answer must be a JSON object")
    if task_type == IMAGE_CLASSIFICATION:
        if "label" not in answer:
            raise InvalidAnswer("answer needs 'label' (a class id)")
        return {"label": _class_id(answer["label"], len(class_names), "label")}
    if task_type != OBJECT_DETECTION:
        raise InvalidAnswer(f"unknown task type {task_type}")
    width, height = _answer_size(answer.get("image_size"), image_size)
    boxes = answer.get("boxes")
    if not isinstance(boxes, list):
        raise InvalidAnswer("answer needs 'boxes' (a list, empty when the image shows no object)")
    if len(boxes) > MAX_BOXES:
        raise InvalidAnswer(f"at most {MAX_BOXES} boxes per image, got {len(boxes)}")
    cleaned = []
    for number, box in enumerate(boxes):
        where = f"boxes[{number}]"
        if not isinstance(box, dict):
            raise InvalidAnswer(f"{where} must be an object")
        class_id = _class_id(box.get("class_id"), len(class_names), f"{where}.class_id")
        edges = {}
        for name in ("left", "top", "width", "height"):
            if not _number(box.get(name)):
                raise InvalidAnswer(f"{where}.{name} must be a number")
            edges[name] = float(box[name])
        if edges["width"] <= 0 or edges["height"] <= 0:
            raise InvalidAnswer(f"{where} must have a positive width and height")
        left, right = _clip_span(edges["left"], edges["width"], float(width), where, "width")
        top, bottom = _clip_span(edges["top"], edges["height"], float(height), where, "height")
        cleaned.append(
            {"class_id": class_id, "left": left, "top": top, "width": right - left, "height": bottom - top}
        )
    try:
        # The output writer's normal form (whole pixels, integer image size), so finish never refuses it.
        return labeling_output.validate_answer(
            task_type, list(class_names), {"boxes": cleaned, "image_size": {"width": width, "height": height}}
        )
    except ValueError as exc:
        raise InvalidAnswer(str(exc)) from None


def _answer_size(size: Any, known: tuple[int, int] | None) -> tuple[float, float]:
    """The image size a box answer is drawn on: the server's ``known`` size (the answer's own, when it
    gives one, must equal it), else the answer's, bounded like images the service takes."""
    if size is None and known is not None:
        return float(known[0]), float(known[1])
    if not isinstance(size, dict):
        raise InvalidAnswer("answer needs 'image_size': {width, height}")
    width: Any = size.get("width")
    height: Any = size.get("height")
    if not (_number(width) and _number(height) and width > 0 and height > 0):
        raise InvalidAnswer("image_size width and height must be positive numbers")
    if known is not None and (width, height) != known:
        raise InvalidAnswer(
            f"image_size {width:g}x{height:g} is not the image's size ({known[0]}x{known[1]}); "
            "draw on the image as served"
        )
    if width * height > MAX_IMAGE_PIXELS:
        raise InvalidAnswer(f"image_size {width:g}x{height:g} is larger than any image the service labels")
    return float(width), float(height)


def _clip_span(start: float, length: float, side: float, where: str, axis: str) -> tuple[float, float]:
    tolerance = EDGE_TOLERANCE * side
    end = start + length
    if start < -tolerance or end > side + tolerance:
        raise InvalidAnswer(f"{where} lies outside the image ({axis} {side:g})")
    start, end = max(start, 0.0), min(end, side)
    if end - start <= 0:
        raise InvalidAnswer(f"{where} has no area inside the image")
    return start, end


def _seconds(value: Any, leased_at: float | None, now: float, lease_seconds: int) -> float:
    """The seconds an answer took: the time since the lease started (at most the lease's length), or less
    when the worker reports less (e.g. time away from the page); reported values must be finite and
    non-negative (InvalidAnswer)."""
    if value is not None and (not _number(value) or value < 0):
        raise InvalidAnswer("seconds must be a finite, non-negative number")
    held = min(max(now - leased_at, 0.0), float(lease_seconds)) if leased_at is not None else 0.0
    return round(min(float(value), held) if value is not None else held, 3)


# --- table helpers ----------------------------------------------------------------------------------


def _plain(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return ledger.from_dynamo(dict(item)) if item else None


def _query(table: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        response = table.query(**kwargs)
        for item in response.get("Items", []):
            yield ledger.from_dynamo(item)
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def _prefix(table: Any, job_name: str, prefix: str, **extra: Any) -> Iterator[dict[str, Any]]:
    names = {"#pk": "pk", "#sk": "sk", **extra.pop("ExpressionAttributeNames", {})}
    values = {":pk": job_pk(job_name), ":prefix": prefix, **extra.pop("ExpressionAttributeValues", {})}
    return _query(
        table,
        KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ConsistentRead=True,
        **extra,
    )


def _conditional(call: Any, **kwargs: Any) -> dict[str, Any] | None:
    """Run a conditional write; None when its condition failed."""
    try:
        return dict(call(**kwargs))
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise


def batch_put(table: Any, items: Sequence[Mapping[str, Any]], *, attempts: int = 8) -> None:
    """BatchWriteItem in chunks of 25, retrying unprocessed items with backoff; RuntimeError if some stay."""
    client = table.meta.client
    for start in range(0, len(items), BATCH_SIZE):
        pending = [
            {"PutRequest": {"Item": ledger.to_dynamo(dict(i))}} for i in items[start : start + BATCH_SIZE]
        ]
        for attempt in range(attempts):
            response = client.batch_write_item(RequestItems={table.name: pending})
            pending = response.get("UnprocessedItems", {}).get(table.name, [])
            if not pending:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))
        if pending:
            raise RuntimeError(
                f"{len(pending)} items stayed unprocessed after {attempts} BatchWriteItem attempts"
            )


def get_job(table: Any, job_name: str) -> dict[str, Any]:
    """The job item (plain numbers); UnknownJob when there is none."""
    item = table.get_item(Key={"pk": job_pk(job_name), "sk": JOB_SK}, ConsistentRead=True).get("Item")
    if not item:
        raise UnknownJob(f"no labeling job named {job_name}")
    return ledger.from_dynamo(item)


def _open_job_item(table: Any, job_name: str, now: float) -> dict[str, Any]:
    job = get_job(table, job_name)
    if job.get("status") != OPEN:
        raise JobNotOpen(f"job {job_name} is {job.get('status')}: it takes no more answers")
    _check_lifetime(job, now)
    return job


def _check_lifetime(job: Mapping[str, Any], now: float) -> None:
    """JobExpired once the job's lifetime has ended (before the sweep closes it)."""
    if int(job.get("expires_at", 0)) <= _epoch(now):
        raise JobExpired(f"job {job['job_name']} has reached the end of its lifetime: it takes no more work")


# --- jobs -------------------------------------------------------------------------------------------


def job_item(spec: JobSpec, object_count: int, now: float) -> dict[str, Any]:
    """The job item of a new job."""
    if spec.task_type not in TASK_TYPES:
        raise ValueError(f"unknown task type {spec.task_type}")
    return {
        "pk": job_pk(spec.job_name),
        "sk": JOB_SK,
        "job_name": spec.job_name,
        "run_id": spec.run_id,
        "task_type": spec.task_type,
        "status": OPEN,
        "open_jobs": OPEN,
        "task_token": spec.task_token,
        "created_at": iso(now),
        "expires_at": int(spec.expires_at),
        "lease_seconds": int(spec.lease_seconds),
        "workers_per_object": int(spec.workers_per_object),
        "object_count": object_count,
        "objects_done": 0,
        "answers_done": 0,
        "class_names": list(spec.class_names),
        "label_attribute": spec.label_attribute,
        "manifest_uri": spec.manifest_uri,
        "output_path": spec.output_path,
        "data_bucket": spec.data_bucket,
        "title": spec.title,
        "description": spec.description,
        "instructions": spec.instructions,
        "min_labeled_share": float(spec.min_labeled_share),
    }


def open_job(table: Any, spec: JobSpec, objects: Sequence[LabelingObject], now: float) -> OpenOutcome:
    """Create the job and its object items; on a retried open (the job exists) only replace the token.

    Objects are written before the job item, so a job is visible (and leasable) only when all its objects
    exist; an open that died half way is repeated in full by its retry (the puts are idempotent).
    """
    if not objects:
        raise ValueError("a labeling job needs at least one object")
    if spec.workers_per_object < 1:
        raise ValueError("workers_per_object must be at least 1")
    existing = table.get_item(Key={"pk": job_pk(spec.job_name), "sk": JOB_SK}, ConsistentRead=True).get(
        "Item"
    )
    if existing:
        return OpenOutcome(created=False, job=set_task_token(table, spec.job_name, spec.task_token))
    batch_put(
        table,
        [
            {
                "pk": job_pk(spec.job_name),
                "sk": object_sk(obj.index),
                "index": obj.index,
                "source_ref": obj.source_ref,
                "line": obj.line,
                "slots_open": spec.workers_per_object,
                "answer_count": 0,
                "workers": {},
            }
            for obj in objects
        ],
    )
    item = job_item(spec, len(objects), now)
    created = _conditional(
        table.put_item, Item=ledger.to_dynamo(item), ConditionExpression="attribute_not_exists(pk)"
    )
    if created is None:  # a concurrent open of the same job won
        return OpenOutcome(created=False, job=set_task_token(table, spec.job_name, spec.task_token))
    return OpenOutcome(created=True, job=item)


def set_task_token(table: Any, job_name: str, task_token: str) -> dict[str, Any]:
    """Replace the job's task token; the job item after the update."""
    response = _conditional(
        table.update_item,
        Key={"pk": job_pk(job_name), "sk": JOB_SK},
        UpdateExpression="SET task_token = :token",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":token": task_token},
        ReturnValues="ALL_NEW",
    )
    if response is None:
        raise UnknownJob(f"no labeling job named {job_name}")
    return ledger.from_dynamo(response["Attributes"])


def jobs_with_index_status(table: Any, status: str = OPEN) -> list[dict[str, Any]]:
    """Jobs whose ``open_jobs`` is ``status`` (``OPEN`` or ``CONSOLIDATING``), oldest first, re-read
    consistently (the index lags); jobs whose item says otherwise are left out."""
    jobs = []
    for entry in _query(
        table,
        IndexName=OPEN_JOBS_INDEX,
        KeyConditionExpression="open_jobs = :status",
        ExpressionAttributeValues={":status": status},
    ):
        try:
            job = get_job(table, str(entry["job_name"]) if "job_name" in entry else entry["pk"][4:])
        except UnknownJob:
            continue
        if job.get("status") == status:
            jobs.append(job)
    return jobs


def my_answer_count(table: Any, job_name: str, worker_id: str) -> int:
    """How many answers the worker gave in the job."""
    item = table.get_item(Key={"pk": job_pk(job_name), "sk": worker_sk(worker_id)}, ConsistentRead=True).get(
        "Item"
    )
    return int(item.get("answers", 0)) if item else 0


def list_open_jobs(table: Any, worker_id: str, now: float | None = None) -> list[dict[str, Any]]:
    """The jobs taking answers, as the API's ``GET /api/jobs`` lists them (``my_answers`` for the worker)."""
    current = time.time() if now is None else now
    listed = []
    for job in jobs_with_index_status(table, OPEN):
        if int(job.get("expires_at", 0)) <= _epoch(current):
            continue
        listed.append(
            {
                **{key: job.get(key) for key in ("job_name", "run_id", "task_type", "title", "description")},
                "instructions": job.get("instructions", ""),
                "class_names": list(job.get("class_names") or []),
                "object_count": int(job.get("object_count", 0)),
                "objects_done": int(job.get("objects_done", 0)),
                "my_answers": my_answer_count(table, str(job["job_name"]), worker_id),
                "expires_at": int(job.get("expires_at", 0)),
                "status": job.get("status"),
            }
        )
    return listed


def progress(table: Any, job_name: str, worker_id: str | None = None) -> Progress:
    """The job's progress (and the worker's answer count when named)."""
    return _progress(get_job(table, job_name), table, worker_id)


def _progress(job: Mapping[str, Any], table: Any, worker_id: str | None) -> Progress:
    objects = int(job.get("object_count", 0))
    name = str(job["job_name"])
    return Progress(
        job_name=name,
        status=str(job.get("status")),
        objects=objects,
        objects_done=int(job.get("objects_done", 0)),
        answers_done=int(job.get("answers_done", 0)),
        answers_needed=objects * int(job.get("workers_per_object", 1)),
        expires_at=int(job.get("expires_at", 0)),
        my_answers=my_answer_count(table, name, worker_id) if worker_id else None,
    )


# --- leasing ----------------------------------------------------------------------------------------


def _unfinished_objects(table: Any, job: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Objects still short of answers, in index order, from the job's ``first_unfinished`` mark on (every
    object before it has all its answers), read a page of :data:`OBJECT_PAGE` at a time: a lease reads
    the objects near the labeling frontier, not the whole job."""
    return _query(
        table,
        KeyConditionExpression="#pk = :pk AND #sk BETWEEN :from AND :to",
        ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
        ExpressionAttributeValues={
            ":pk": job_pk(str(job["job_name"])),
            ":from": object_sk(int(job.get("first_unfinished", 0))),
            ":to": "OBJ#~",  # after every 8-digit index
            ":needed": int(job.get("workers_per_object", 1)),
        },
        FilterExpression="answer_count < :needed",
        ConsistentRead=True,
        Limit=OBJECT_PAGE,
    )


def _advance_first_unfinished(table: Any, job: Mapping[str, Any], index: int) -> None:
    """Move the job's ``first_unfinished`` mark up to ``index`` (answers are never taken back, so objects
    before the first unfinished one stay finished); never down, whoever else moves it."""
    if index <= int(job.get("first_unfinished", 0)):
        return
    _conditional(
        table.update_item,
        Key={"pk": job_pk(str(job["job_name"])), "sk": JOB_SK},
        UpdateExpression="SET first_unfinished = :index",
        ConditionExpression="attribute_not_exists(first_unfinished) OR first_unfinished < :index",
        ExpressionAttributeValues={":index": index},
    )


def _lease_entry(lease_id: str, now: float, lease_seconds: int) -> dict[str, Any]:
    return {
        "state": LEASED,
        "lease_id": lease_id,
        "expires_at": _epoch(now) + lease_seconds,
        "leased_at": _epoch(now),
    }


def lease(table: Any, job_name: str, worker_id: str, now: float) -> Lease | None:
    """Lease a task of the job to the worker; None when nothing is left for this worker.

    Objects are visited in index order from the labeling frontier: the first one with a free slot that the
    worker never touched is taken, or another worker's expired lease on it is reclaimed, each with one
    conditional update (a lost race moves on to the next object). A worker's own unexpired lease met on
    the way is given back (``resumed``), an expired one renewed; so a worker holds one lease per job unless
    an earlier object's slot opened again meanwhile.
    """
    job = _open_job_item(table, job_name, now)
    # A lease never outlives the job: its answer would come after the lifetime and be refused.
    lease_seconds = min(int(job.get("lease_seconds", 300)), int(job["expires_at"]) - _epoch(now))
    first = True
    for obj in _unfinished_objects(table, job):
        if first:
            _advance_first_unfinished(table, job, int(obj["index"]))
            first = False
        entry = (obj.get("workers") or {}).get(worker_id)
        if entry is None:
            taken = _take(table, job_name, obj, worker_id, now, lease_seconds)
            if taken:
                return taken
        elif entry.get("state") == LEASED:
            if int(entry.get("expires_at", 0)) > _epoch(now):
                return Lease(
                    job_name,
                    int(obj["index"]),
                    str(entry["lease_id"]),
                    int(entry["expires_at"]),
                    str(obj["source_ref"]),
                    resumed=True,
                )
            renewed = _renew(table, job_name, obj, worker_id, str(entry["lease_id"]), now, lease_seconds)
            if renewed:
                return renewed
    return None


def _renew(
    table: Any,
    job_name: str,
    obj: Mapping[str, Any],
    worker_id: str,
    old_lease: str,
    now: float,
    seconds: int,
) -> Lease | None:
    lease_id = uuid.uuid4().hex
    entry = _lease_entry(lease_id, now, seconds)
    done = _conditional(
        table.update_item,
        Key={"pk": job_pk(job_name), "sk": obj["sk"]},
        UpdateExpression="SET workers.#w = :lease",
        ConditionExpression="workers.#w.#state = :leased AND workers.#w.lease_id = :old",
        ExpressionAttributeNames={"#w": worker_id, "#state": "state"},
        ExpressionAttributeValues={":lease": entry, ":leased": LEASED, ":old": old_lease},
    )
    if done is None:
        return None
    return Lease(job_name, int(obj["index"]), lease_id, entry["expires_at"], str(obj["source_ref"]))


def _take(
    table: Any, job_name: str, obj: Mapping[str, Any], worker_id: str, now: float, seconds: int
) -> Lease | None:
    key = {"pk": job_pk(job_name), "sk": obj["sk"]}
    for _attempt in range(3):
        lease_id = uuid.uuid4().hex
        entry = _lease_entry(lease_id, now, seconds)
        if int(obj.get("slots_open", 0)) > 0:
            done = _conditional(
                table.update_item,
                Key=key,
                UpdateExpression="SET workers.#w = :lease, slots_open = slots_open - :one",
                ConditionExpression="attribute_not_exists(workers.#w) AND slots_open > :zero",
                ExpressionAttributeNames={"#w": worker_id},
                ExpressionAttributeValues={":lease": entry, ":one": 1, ":zero": 0},
            )
        else:
            expired = [
                (other, value)
                for other, value in (obj.get("workers") or {}).items()
                if value.get("state") == LEASED and int(value.get("expires_at", 0)) <= _epoch(now)
            ]
            if not expired:
                return None
            other, value = expired[0]
            # Reclaim: the other worker's expired lease makes room for this one; the slot count stays.
            done = _conditional(
                table.update_item,
                Key=key,
                UpdateExpression="REMOVE workers.#o SET workers.#w = :lease",
                ConditionExpression=(
                    "attribute_not_exists(workers.#w) AND workers.#o.#state = :leased "
                    "AND workers.#o.lease_id = :old AND workers.#o.expires_at <= :now"
                ),
                ExpressionAttributeNames={"#w": worker_id, "#o": other, "#state": "state"},
                ExpressionAttributeValues={
                    ":lease": entry,
                    ":leased": LEASED,
                    ":old": value.get("lease_id"),
                    ":now": _epoch(now),
                },
            )
        if done is not None:
            return Lease(job_name, int(obj["index"]), lease_id, entry["expires_at"], str(obj["source_ref"]))
        # Lost a race: look at the object again (another slot or another expired lease may be left).
        fresh = _plain(table.get_item(Key=key, ConsistentRead=True).get("Item"))
        if fresh is None or worker_id in (fresh.get("workers") or {}):
            return None
        obj = fresh
    return None


def release(
    table: Any, job_name: str, index: int, worker_id: str, lease_id: str, *, skip: bool = False
) -> None:
    """Give a leased task back to the pool; LeaseNotHeld when the worker does not hold that lease.

    ``skip``: the worker does not want this object: it goes back to the others but is never offered to this
    worker again (a plain release may come back to them, e.g. after leaving the page)."""
    get_job(table, job_name)
    values: dict[str, Any] = {":one": 1, ":leased": LEASED, ":lease": lease_id}
    if skip:
        update = "SET workers.#w = :skipped, slots_open = slots_open + :one"
        values[":skipped"] = {"state": SKIPPED}
    else:
        update = "REMOVE workers.#w SET slots_open = slots_open + :one"
    done = _conditional(
        table.update_item,
        Key={"pk": job_pk(job_name), "sk": object_sk(index)},
        UpdateExpression=update,
        ConditionExpression="workers.#w.#state = :leased AND workers.#w.lease_id = :lease",
        ExpressionAttributeNames={"#w": worker_id, "#state": "state"},
        ExpressionAttributeValues=values,
    )
    if done is None:
        _object(table, job_name, index)  # UnknownTask first
        raise LeaseNotHeld(
            f"lease {lease_id[:64]} on task {index} is not held (expired, answered or released)"
        )


def reclaim_expired(table: Any, job_name: str, now: float) -> int:
    """Return every expired lease of the job to the pool; how many were reclaimed."""
    job = get_job(table, job_name)
    count = 0
    for obj in _unfinished_objects(table, job):
        for worker_id, entry in (obj.get("workers") or {}).items():
            if entry.get("state") != LEASED or int(entry.get("expires_at", 0)) > _epoch(now):
                continue
            done = _conditional(
                table.update_item,
                Key={"pk": obj["pk"], "sk": obj["sk"]},
                UpdateExpression="REMOVE workers.#w SET slots_open = slots_open + :one",
                ConditionExpression="workers.#w.#state = :leased AND workers.#w.lease_id = :lease",
                ExpressionAttributeNames={"#w": worker_id, "#state": "state"},
                ExpressionAttributeValues={":one": 1, ":leased": LEASED, ":lease": entry.get("lease_id")},
            )
            count += done is not None
    return count


def _object(table: Any, job_name: str, index: int) -> dict[str, Any]:
    item = table.get_item(Key={"pk": job_pk(job_name), "sk": object_sk(index)}, ConsistentRead=True).get(
        "Item"
    )
    if not item:
        raise UnknownTask(f"job {job_name} has no task {index}")
    return ledger.from_dynamo(item)


# --- answers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answering:
    """Who answers which task with what: the input of :func:`answer`. ``worker_id`` is the stable user id
    (Cognito ``sub``), ``email`` the address shown beside it; ``seconds`` as reported (None: measured);
    ``image_size``: the server's ``(width, height)`` of the image, when known (box answers must match)."""

    job_name: str
    index: int
    worker_id: str
    lease_id: str
    answer: Any
    seconds: Any = None
    email: str = ""
    image_size: tuple[int, int] | None = None


def answer(
    table: Any,
    job_name: str,
    index: int,
    worker_id: str,
    lease_id: str,
    answer_value: Any,
    seconds: Any,
    now: float,
    *,
    username: str = "",
    image_size: tuple[int, int] | None = None,
) -> AnswerOutcome:
    """Store a worker's answer for a leased task (see :func:`submit`); ``username`` is the worker's e-mail."""
    return submit(
        table,
        Answering(job_name, index, worker_id, lease_id, answer_value, seconds, username, image_size),
        now,
    )


def submit(table: Any, given: Answering, now: float) -> AnswerOutcome:
    """Store a worker's answer for a leased task (one transaction) and count it.

    Raises UnknownJob/UnknownTask (404), InvalidAnswer (400), LeaseNotHeld or JobNotOpen (409), JobExpired
    (410: the job's lifetime has ended). The answer that gives the last object its last answer also moves
    the job ``OPEN -> CONSOLIDATING``; only that call returns ``job_completed`` True.
    """
    job = get_job(table, given.job_name)
    if job.get("status") != OPEN:
        raise JobNotOpen(f"job {given.job_name} is {job.get('status')}: it takes no more answers")
    _check_lifetime(job, now)
    stored = validate_answer(
        str(job["task_type"]), given.answer, list(job.get("class_names") or []), given.image_size
    )
    needed = int(job.get("workers_per_object", 1))
    for _attempt in range(8):
        obj = _object(table, given.job_name, given.index)
        entry = (obj.get("workers") or {}).get(given.worker_id)
        if not entry or entry.get("state") != LEASED or entry.get("lease_id") != given.lease_id:
            raise LeaseNotHeld(
                f"lease {str(given.lease_id)[:64]} on task {given.index} is not held "
                "(expired, answered or released)"
            )
        old_count = int(obj.get("answer_count", 0))
        completes = old_count + 1 >= needed
        spent = _seconds(given.seconds, entry.get("leased_at"), now, int(job.get("lease_seconds", 300)))
        items = _answer_items(table.name, given, stored, entry, old_count, completes, spent, now)
        try:
            table.meta.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) not in ("TransactionCanceledException", "TransactionConflictException"):
                raise
            closed = get_job(table, given.job_name)
            if closed.get("status") != OPEN:
                raise JobNotOpen(f"job {given.job_name} closed before the answer arrived") from exc
            _check_lifetime(closed, now)
            continue  # another answer for the same object changed its count: read it again
        job_completed = completes and complete_if_done(table, given.job_name, now)
        return AnswerOutcome(completes, job_completed, progress(table, given.job_name, given.worker_id))
    raise LeaseNotHeld(f"task {given.index} changed too often while answering; lease it again")


def _answer_items(
    table_name: str,
    given: Answering,
    stored: Mapping[str, Any],
    entry: Mapping[str, Any],
    old_count: int,
    completes: bool,
    spent: float,
    now: float,
) -> list[dict[str, Any]]:
    """The answer's transaction: the object's lease -> answered, the answer item (under the worker's id,
    the e-mail beside it), the worker's counters, the job's counters (while it is open and alive)."""
    pk, worker_id = job_pk(given.job_name), given.worker_id
    answer_item = {
        "pk": pk,
        "sk": answer_sk(given.index, worker_id),
        "index": given.index,
        "worker_id": worker_id,
        "email": given.email,
        # "username" is what answers stored before the "email" attribute carry; kept for their readers.
        "username": given.email,
        "answer": json.dumps(stored, separators=(",", ":")),
        "accepted_at": iso(float(entry.get("leased_at", now))),
        "submitted_at": iso(now),
        "seconds": spent,
    }
    object_values = {":answered": ANSWERED, ":leased": LEASED, ":lease": given.lease_id, ":old": old_count}
    return [
        {
            "Update": {
                "TableName": table_name,
                "Key": {"pk": pk, "sk": object_sk(given.index)},
                "UpdateExpression": "SET workers.#w.#state = :answered, workers.#w.answered_at = :now, "
                "answer_count = :new",
                "ConditionExpression": "workers.#w.#state = :leased AND workers.#w.lease_id = :lease "
                "AND answer_count = :old",
                "ExpressionAttributeNames": {"#w": worker_id, "#state": "state"},
                "ExpressionAttributeValues": {**object_values, ":new": old_count + 1, ":now": _epoch(now)},
            }
        },
        {
            "Put": {
                "TableName": table_name,
                "Item": ledger.to_dynamo(answer_item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Update": {
                "TableName": table_name,
                "Key": {"pk": pk, "sk": worker_sk(worker_id)},
                "UpdateExpression": "SET worker_id = :w, email = :e, username = :e, "
                "first_at = if_not_exists(first_at, :at), last_at = :at ADD answers :one, seconds_total :s",
                "ExpressionAttributeValues": ledger.to_dynamo(
                    {":w": worker_id, ":e": given.email, ":at": iso(now), ":one": 1, ":s": spent}
                ),
            }
        },
        {
            "Update": {
                "TableName": table_name,
                "Key": {"pk": pk, "sk": JOB_SK},
                "UpdateExpression": "ADD answers_done :one, objects_done :one"
                if completes
                else "ADD answers_done :one",
                "ConditionExpression": "#status = :open AND expires_at > :now",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":one": 1, ":open": OPEN, ":now": _epoch(now)},
            }
        },
    ]


def complete_if_done(table: Any, job_name: str, now: float) -> bool:
    """``OPEN -> CONSOLIDATING`` when every object has its answers; True for the one call that moved it."""
    return _start_consolidating(table, job_name, now, "all-answered", "objects_done >= object_count")


def close_job(table: Any, job_name: str, now: float, reason: str = "lifetime-ended") -> bool:
    """``OPEN -> CONSOLIDATING`` whatever the answers (the lifetime ended); True for the call that moved it."""
    return _start_consolidating(table, job_name, now, reason)


def _start_consolidating(table: Any, job_name: str, now: float, reason: str, condition: str = "") -> bool:
    """``OPEN -> CONSOLIDATING`` (and also ``condition`` holds), recording ``reason``; True if it moved."""
    done = _conditional(
        table.update_item,
        Key={"pk": job_pk(job_name), "sk": JOB_SK},
        UpdateExpression="SET #status = :consolidating, open_jobs = :consolidating, consolidating_at = :now, "
        "close_reason = :reason",
        ConditionExpression="#status = :open" + (f" AND {condition}" if condition else ""),
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":consolidating": CONSOLIDATING,
            ":open": OPEN,
            ":now": _epoch(now),
            ":reason": reason,
        },
    )
    return done is not None


def claim_finish(table: Any, job_name: str, claim_id: str, now: float) -> bool:
    """Claim the finish of a ``CONSOLIDATING`` job, so concurrent finishes do not both write; a claim
    older than FINISH_CLAIM_SECONDS (its finish died) can be taken over."""
    done = _conditional(
        table.update_item,
        Key={"pk": job_pk(job_name), "sk": JOB_SK},
        UpdateExpression="SET finish_claim = :claim, finish_claimed_at = :now",
        ConditionExpression="#status = :consolidating AND "
        "(attribute_not_exists(finish_claim) OR finish_claimed_at < :stale OR finish_claim = :claim)",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":claim": claim_id,
            ":now": _epoch(now),
            ":stale": _epoch(now) - FINISH_CLAIM_SECONDS,
            ":consolidating": CONSOLIDATING,
        },
    )
    return done is not None


def end_job(
    table: Any, job_name: str, status: str, now: float, details: Mapping[str, Any] | None = None
) -> bool:
    """Move an unfinished job (``OPEN``/``CONSOLIDATING``) to a final status, leave the open-jobs index and
    record ``details`` (e.g. ``output_uri``, ``failure``); False when it had already ended."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"{status} is not a final job status")
    sets = ["#status = :final", "finished_at = :iso", f"{TTL_ATTRIBUTE} = :ttl"]
    names = {"#status": "status"}
    values: dict[str, Any] = {
        ":final": status,
        ":iso": iso(now),
        ":ttl": _epoch(now) + TTL_SECONDS,
        ":open": OPEN,
        ":consolidating": CONSOLIDATING,
    }
    for number, (name, value) in enumerate((details or {}).items()):
        sets.append(f"#d{number} = :d{number}")
        names[f"#d{number}"] = name
        values[f":d{number}"] = value
    done = _conditional(
        table.update_item,
        Key={"pk": job_pk(job_name), "sk": JOB_SK},
        UpdateExpression="SET " + ", ".join(sets) + " REMOVE open_jobs, finish_claim",
        ConditionExpression="#status IN (:open, :consolidating)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=ledger.to_dynamo(values),
    )
    return done is not None


def expire_items(table: Any, job_name: str, now: float) -> int:
    """Set the TTL attribute on the job's object, answer and worker items (the job item gets it in
    ``end_job``); how many items were rewritten. Only for ended jobs: the items are put back whole."""
    ttl = _epoch(now) + TTL_SECONDS
    items = [
        {**item, TTL_ATTRIBUTE: ttl}
        for prefix in ("OBJ#", "ANS#", "WRK#")
        for item in _prefix(table, job_name, prefix)
    ]
    batch_put(table, items)
    return len(items)


# --- reading a job for its output -------------------------------------------------------------------


def objects(table: Any, job_name: str) -> list[StoredObject]:
    """The job's objects in index order."""
    return [
        StoredObject(
            index=int(item["index"]),
            source_ref=str(item["source_ref"]),
            line=str(item["line"]),
            answer_count=int(item.get("answer_count", 0)),
            image_size=_size(item.get("image_size")),
        )
        for item in _prefix(table, job_name, "OBJ#")
    ]


def _size(value: Any) -> tuple[int, int] | None:
    if isinstance(value, Mapping) and value.get("width") and value.get("height"):
        return int(value["width"]), int(value["height"])
    return None


def image_size(table: Any, job_name: str, index: int) -> tuple[StoredObject, tuple[int, int] | None]:
    """The object (UnknownTask when there is none) and the image size recorded on it (None: not yet known)."""
    item = _object(table, job_name, index)
    stored = StoredObject(
        index=int(item["index"]),
        source_ref=str(item["source_ref"]),
        line=str(item["line"]),
        answer_count=int(item.get("answer_count", 0)),
        image_size=_size(item.get("image_size")),
    )
    return stored, stored.image_size


def record_image_size(table: Any, job_name: str, index: int, size: tuple[int, int]) -> None:
    """Record the image's ``(width, height)`` on its object (read once from the image header; the first
    write stays)."""
    table.update_item(
        Key={"pk": job_pk(job_name), "sk": object_sk(index)},
        UpdateExpression="SET image_size = if_not_exists(image_size, :size)",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":size": {"width": size[0], "height": size[1]}},
    )


def took_part(table: Any, job_name: str, worker_id: str) -> bool:
    """True when the worker answered in the job (it has their worker item)."""
    key = {"pk": job_pk(job_name), "sk": worker_sk(worker_id)}
    return "Item" in table.get_item(Key=key, ConsistentRead=True, ProjectionExpression="pk")


def all_answers(table: Any, job_name: str) -> dict[int, list[labeling_output.WorkerAnswer]]:
    """Every stored answer of the job by object index, each object's answers in submission order (the
    answer parsed back from its JSON text), in the form the output writer takes. Answers are the worker's
    (Cognito ``sub``); ``username`` is the worker's latest e-mail (their worker item), else the e-mail the
    answer came with (``email``, or ``username`` on answers stored before ``email`` existed)."""
    emails = {
        str(w["worker_id"]): str(w.get("email") or w.get("username") or "") for w in workers(table, job_name)
    }
    answers: dict[int, list[labeling_output.WorkerAnswer]] = {}
    for item in _prefix(table, job_name, "ANS#"):
        worker_id = str(item["worker_id"])
        record = labeling_output.WorkerAnswer(
            index=int(item["index"]),
            worker_id=worker_id,
            username=emails.get(worker_id) or str(item.get("email") or item.get("username") or ""),
            answer=json.loads(item["answer"]),
            accepted_at=str(item.get("accepted_at", "")),
            submitted_at=str(item.get("submitted_at", "")),
            seconds=float(item.get("seconds", 0.0)),
        )
        answers.setdefault(record.index, []).append(record)
    for records in answers.values():
        records.sort(key=lambda record: record.submitted_at)
    return answers


def workers(table: Any, job_name: str) -> list[dict[str, Any]]:
    """The job's worker items (``worker_id``, ``username``, ``answers``, ``seconds_total``, ...)."""
    return list(_prefix(table, job_name, "WRK#"))


# --- runs ledger ------------------------------------------------------------------------------------


def ledger_progress(progress_now: Progress, now: float) -> dict[str, Any]:
    """The run item's ``labeling_progress`` map (docs/labeling-service.md, "Ledger")."""
    return {
        "job_name": progress_now.job_name,
        "objects": progress_now.objects,
        "objects_done": progress_now.objects_done,
        "answers_done": progress_now.answers_done,
        "answers_needed": progress_now.answers_needed,
        "updated_at": iso(now),
    }


def record_ledger_progress(runs_table: Any, run_id: str, progress_now: Progress, now: float) -> bool:
    """Write ``labeling_progress`` on the run item; False when the run is not in the ledger (nothing
    written: the ledger never gets items for foreign runs)."""
    done = _conditional(
        runs_table.update_item,
        Key={"run_id": run_id},
        UpdateExpression="SET labeling_progress = :progress, updated_at = :now",
        ConditionExpression="attribute_exists(run_id)",
        ExpressionAttributeValues=ledger.to_dynamo(
            {":progress": ledger_progress(progress_now, now), ":now": iso(now)}
        ),
    )
    return done is not None


def output_inputs(
    table: Any, job_name: str
) -> tuple[list[dict[str, Any]], dict[int, list[labeling_output.WorkerAnswer]]]:
    """``(manifest lines, answers by object index)`` as ``labeling_output.build_output`` takes them."""
    lines = [json.loads(obj.line) for obj in objects(table, job_name)]
    return lines, all_answers(table, job_name)


def job_output(
    table: Any, job: Mapping[str, Any], now: float, identity_issuer: str = ""
) -> labeling_output.LabelingOutput:
    """Consolidate the job's answers into Ground Truth's output (nothing written): box answers at the image
    sizes the server recorded on the objects."""
    job_name = str(job["job_name"])
    stored = objects(table, job_name)
    return labeling_output.build_output(
        job_info(job, identity_issuer),
        [json.loads(obj.line) for obj in stored],
        all_answers(table, job_name),
        workers_per_object=int(job.get("workers_per_object", 1)),
        now=datetime.fromtimestamp(now, tz=UTC),
        image_sizes={obj.index: obj.image_size for obj in stored if obj.image_size},
    )


def job_info(job: Mapping[str, Any], identity_issuer: str = "") -> labeling_output.JobInfo:
    """What the output writer needs of a job item; ``identity_issuer`` names the workers' identity
    provider in worker responses (the Cognito user pool URL)."""
    return labeling_output.JobInfo(
        job_name=str(job["job_name"]),
        task_type=str(job["task_type"]),
        label_attribute=str(job["label_attribute"]),
        class_names=tuple(job.get("class_names") or ()),
        output_path=str(job["output_path"]),
        identity_issuer=identity_issuer,
    )
