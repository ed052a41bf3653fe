"""A job's lifecycle on the tasks table: open, list, progress, ``OPEN -> CONSOLIDATING -> final``, expiry.

Every change is a conditional write: the answer that completes the last object, or the sweep when the
lifetime ends, moves the job ``OPEN -> CONSOLIDATING`` (exactly one caller sees it move); one finish claims
the ``CONSOLIDATING`` job and ends it (``COMPLETED``/``INCOMPLETE``/``FAILED``), leaving the open-jobs index.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from gtpipe_shared import labeling_suggestions as suggestions
from gtpipe_shared import ledger
from gtpipe_shared.labeling_errors import InvalidManifest, JobExpired, JobNotOpen, UnknownJob
from gtpipe_shared.labeling_gold import GoldObject, queue_order
from gtpipe_shared.labeling_store.dynamo import batch_put, conditional, get_job, query_all, query_prefix
from gtpipe_shared.labeling_store.keys import (
    CONSOLIDATING,
    FINAL_STATUSES,
    FINISH_CLAIM_SECONDS,
    JOB_SK,
    OPEN,
    OPEN_JOBS_INDEX,
    TTL_ATTRIBUTE,
    TTL_SECONDS,
    epoch,
    iso,
    job_pk,
    object_sk,
    worker_sk,
)
from gtpipe_shared.labeling_store.models import JobSpec, LabelingObject, OpenOutcome, Progress
from gtpipe_shared.tasks import task_spec


def open_job_item(
    table: Any, job_name: str, now: float, job: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The job item of a job taking work: JobNotOpen when it is not ``OPEN``, JobExpired after its lifetime.
    ``job``: the item as the caller just read it (:func:`get_job`), checked instead of read again."""
    job = dict(job) if job is not None else get_job(table, job_name)
    if job.get("status") != OPEN:
        raise JobNotOpen(f"job {job_name} is {job.get('status')}: it takes no more answers")
    check_lifetime(job, now)
    return job


def check_lifetime(job: Mapping[str, Any], now: float) -> None:
    """JobExpired once the job's lifetime has ended (before the sweep closes it)."""
    if int(job.get("expires_at", 0)) <= epoch(now):
        raise JobExpired(f"job {job['job_name']} has reached the end of its lifetime: it takes no more work")


def job_item(spec: JobSpec, object_count: int, now: float) -> dict[str, Any]:
    """The job item of a new job."""
    task_spec(spec.task_type)  # UnknownTaskType (a ValueError) names the known task types
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
        **({"hotkeys": dict(spec.hotkeys)} if spec.hotkeys else {}),
        # Adaptive redundancy: every object asks for one answer at first; answers_wanted grows by one with
        # each answer that asks for another (in the answer's transaction).
        **(
            {"adaptive_threshold": float(spec.adaptive_threshold), "answers_wanted": object_count}
            if spec.adaptive_threshold is not None
            else {}
        ),
        # The review stage: its settings, and the review items selected and not finally decided.
        **({"review": dict(spec.review), "reviews_open": 0} if spec.review is not None else {}),
    }


def open_job(
    table: Any,
    spec: JobSpec,
    objects: Sequence[LabelingObject],
    now: float,
    gold: Sequence[GoldObject] = (),
) -> OpenOutcome:
    """Create the job and its object items; on a retried open (the job exists) only replace the token.

    Objects are written before the job item, so a job is visible (and leasable) only when all its objects
    exist; an open that died half way is repeated in full by its retry (the puts are idempotent). ``gold``:
    gold objects mixed into the queue (:func:`gtpipe_shared.labeling_gold.queue_order`): every object's
    ``index`` is then its place in the queue, a data object keeps its manifest line number in
    ``data_index`` and a gold object holds its known answer in ``gold`` (JSON text, never sent to workers);
    ``object_count`` counts both and ``gold_count`` the gold ones.
    """
    if not objects:
        raise ValueError("a labeling job needs at least one object")
    if spec.workers_per_object < 1:
        raise ValueError("workers_per_object must be at least 1")
    if spec.adaptive_threshold is not None and not 0.0 < spec.adaptive_threshold <= 1.0:
        raise ValueError("adaptive_threshold must be in (0, 1]")
    # Adaptive redundancy: one slot (one answer wanted) per object at first, instead of workers_per_object.
    first_slots = spec.workers_per_object if spec.adaptive_threshold is None else 1
    adaptive = {} if spec.adaptive_threshold is None else {"answers_wanted": 1}
    existing = table.get_item(Key={"pk": job_pk(spec.job_name), "sk": JOB_SK}, ConsistentRead=True).get(
        "Item"
    )
    if existing:
        return OpenOutcome(created=False, job=set_task_token(table, spec.job_name, spec.task_token))
    items = _object_items(spec.job_name, split_suggestions(spec, objects), gold)
    for item in items:
        item.update(slots_open=first_slots, answer_count=0, workers={}, **adaptive)
    batch_put(table, items)
    item = job_item(spec, len(items), now)
    if gold:
        item["gold_count"] = len(gold)
    created = conditional(
        table.put_item, Item=ledger.to_dynamo(item), ConditionExpression="attribute_not_exists(pk)"
    )
    if created is None:  # a concurrent open of the same job won
        return OpenOutcome(created=False, job=set_task_token(table, spec.job_name, spec.task_token))
    return OpenOutcome(created=True, job=item)


def split_suggestions(spec: JobSpec, objects: Sequence[LabelingObject]) -> list[LabelingObject]:
    """Pre-annotation: each manifest line's model suggestion (:mod:`gtpipe_shared.labeling_suggestions`)
    moved from the line to the object's ``suggestion`` (JSON text), so the line written back to the output
    is the input's; InvalidManifest names the first suggestion that is not a valid answer of the job.
    Objects without one are returned as they are (a second call changes nothing)."""
    split = []
    for obj in objects:
        line = json.loads(obj.line)
        if suggestions.SUGGESTION_KEY not in line:
            split.append(obj)
            continue
        try:
            kept, suggestion = suggestions.split_line(spec.task_type, line, spec.class_names)
        except ValueError as error:
            raise InvalidManifest(f"line {obj.index + 1}: {error}") from None
        text = suggestions.dumps(suggestion) if suggestion is not None else None
        split.append(replace(obj, line=json.dumps(kept), suggestion=text))
    return split


def _object_items(
    job_name: str, objects: Sequence[LabelingObject], gold: Sequence[GoldObject]
) -> list[dict[str, Any]]:
    """The object items' identity (key, index, image, line; ``data_index``/``gold`` with gold objects)."""
    if not gold:
        return [
            {
                "pk": job_pk(job_name),
                "sk": object_sk(o.index),
                "index": o.index,
                "source_ref": o.source_ref,
                "line": o.line,
                **({"suggestion": o.suggestion} if o.suggestion else {}),
            }
            for o in objects
        ]
    items = []
    golds = iter(gold)
    for position, data in enumerate(queue_order(len(objects), len(gold), job_name)):
        key = {"pk": job_pk(job_name), "sk": object_sk(position), "index": position}
        if data is None:
            obj = next(golds)
            items.append(
                {**key, "source_ref": obj.source_ref, "line": obj.line, "gold": json.dumps(obj.truth)}
            )
        else:
            o = objects[data]
            suggested = {"suggestion": o.suggestion} if o.suggestion else {}
            items.append(
                {**key, "source_ref": o.source_ref, "line": o.line, "data_index": o.index, **suggested}
            )
    return items


def set_task_token(table: Any, job_name: str, task_token: str) -> dict[str, Any]:
    """Replace the job's task token; the job item after the update."""
    response = conditional(
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
    for entry in query_all(
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
        if int(job.get("expires_at", 0)) <= epoch(current):
            continue
        listed.append(
            {
                **{key: job.get(key) for key in ("job_name", "run_id", "task_type", "title", "description")},
                "instructions": job.get("instructions", ""),
                "class_names": list(job.get("class_names") or []),
                "hotkeys": dict(job.get("hotkeys") or {}),
                "object_count": int(job.get("object_count", 0)),
                "objects_done": int(job.get("objects_done", 0)),
                "my_answers": my_answer_count(table, str(job["job_name"]), worker_id),
                "expires_at": int(job.get("expires_at", 0)),
                "status": job.get("status"),
                # The review stage: labels waiting for a reviewer's decision (reviewers' view).
                **(
                    {"reviews_open": int(job.get("reviews_open", 0))} if job.get("review") is not None else {}
                ),
            }
        )
    return listed


def progress(table: Any, job_name: str, worker_id: str | None = None) -> Progress:
    """The job's progress (and the worker's answer count when named)."""
    return progress_of(get_job(table, job_name), table, worker_id)


def progress_of(job: Mapping[str, Any], table: Any, worker_id: str | None) -> Progress:
    """The progress a job item records (the worker's answer count read when ``worker_id`` is given)."""
    objects = int(job.get("object_count", 0))
    name = str(job["job_name"])
    most = objects * int(job.get("workers_per_object", 1))
    adaptive = is_adaptive(job)
    return Progress(
        job_name=name,
        status=str(job.get("status")),
        objects=objects,
        objects_done=int(job.get("objects_done", 0)),
        answers_done=int(job.get("answers_done", 0)),
        answers_needed=int(job.get("answers_wanted", objects)) if adaptive else most,
        expires_at=int(job.get("expires_at", 0)),
        my_answers=my_answer_count(table, name, worker_id) if worker_id else None,
        answers_max=most if adaptive else None,
    )


def is_adaptive(job: Mapping[str, Any]) -> bool:
    """Whether the job item asks for answers adaptively (``adaptive_threshold`` set at open)."""
    return job.get("adaptive_threshold") is not None


def complete_if_done(table: Any, job_name: str, now: float) -> bool:
    """``OPEN -> CONSOLIDATING`` when every object has its answers and no review item is undecided (the
    review stage's ``reviews_open``); True for the one call that moved it."""
    return _start_consolidating(
        table,
        job_name,
        now,
        "all-answered",
        "objects_done >= object_count AND (attribute_not_exists(reviews_open) OR reviews_open < :one)",
        {":one": 1},
    )


def close_job(table: Any, job_name: str, now: float, reason: str = "lifetime-ended") -> bool:
    """``OPEN -> CONSOLIDATING`` whatever the answers (the lifetime ended); True for the call that moved it."""
    return _start_consolidating(table, job_name, now, reason)


def _start_consolidating(
    table: Any,
    job_name: str,
    now: float,
    reason: str,
    condition: str = "",
    values: Mapping[str, Any] | None = None,
) -> bool:
    """``OPEN -> CONSOLIDATING`` (and also ``condition`` holds), recording ``reason``; True if it moved."""
    done = conditional(
        table.update_item,
        Key={"pk": job_pk(job_name), "sk": JOB_SK},
        UpdateExpression="SET #status = :consolidating, open_jobs = :consolidating, consolidating_at = :now, "
        "close_reason = :reason",
        ConditionExpression="#status = :open" + (f" AND {condition}" if condition else ""),
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":consolidating": CONSOLIDATING,
            ":open": OPEN,
            ":now": epoch(now),
            ":reason": reason,
            **(values or {}),
        },
    )
    return done is not None


def claim_finish(table: Any, job_name: str, claim_id: str, now: float) -> bool:
    """Claim the finish of a ``CONSOLIDATING`` job, so concurrent finishes do not both write; a claim
    older than FINISH_CLAIM_SECONDS (its finish died) can be taken over."""
    done = conditional(
        table.update_item,
        Key={"pk": job_pk(job_name), "sk": JOB_SK},
        UpdateExpression="SET finish_claim = :claim, finish_claimed_at = :now",
        ConditionExpression="#status = :consolidating AND "
        "(attribute_not_exists(finish_claim) OR finish_claimed_at < :stale OR finish_claim = :claim)",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":claim": claim_id,
            ":now": epoch(now),
            ":stale": epoch(now) - FINISH_CLAIM_SECONDS,
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
        ":ttl": epoch(now) + TTL_SECONDS,
        ":open": OPEN,
        ":consolidating": CONSOLIDATING,
    }
    for number, (name, value) in enumerate((details or {}).items()):
        sets.append(f"#d{number} = :d{number}")
        names[f"#d{number}"] = name
        values[f":d{number}"] = value
    done = conditional(
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
    ttl = epoch(now) + TTL_SECONDS
    items = [
        {**item, TTL_ATTRIBUTE: ttl}
        for prefix in ("OBJ#", "ANS#", "WRK#")
        for item in query_prefix(table, job_name, prefix)
    ]
    batch_put(table, items)
    return len(items)
