"""Leasing tasks to workers: take a free slot or reclaim an expired lease, renew, release, skip, sweep.

A lease takes a free slot of an object the worker has not touched (``slots_open > 0`` and no entry in
``workers``), or reclaims another worker's expired lease in the same conditional update; a worker holds at
most one lease per job (asking again returns the lease it holds) and never gets an object it answered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from gtpipe_shared.labeling_errors import LeaseNotHeld
from gtpipe_shared.labeling_store.dynamo import conditional, get_job, plain_item, query_all, read_object
from gtpipe_shared.labeling_store.jobs import is_adaptive, open_job_item
from gtpipe_shared.labeling_store.keys import JOB_SK, LEASED, OBJECT_PAGE, SKIPPED, epoch, job_pk, object_sk
from gtpipe_shared.labeling_store.models import Lease
from gtpipe_shared.labeling_store.review import requeued_objects


def unfinished_objects(table: Any, job: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Objects still short of answers, in index order, from the job's ``first_unfinished`` mark on (every
    object before it has all its answers), read a page of :data:`OBJECT_PAGE` at a time: a lease reads
    the objects near the labeling frontier, not the whole job."""
    values: dict[str, Any] = {
        ":pk": job_pk(str(job["job_name"])),
        ":from": object_sk(int(job.get("first_unfinished", 0))),
        ":to": "OBJ#~",  # after every 8-digit index
    }
    if is_adaptive(job):
        # Each object asks for its own number of answers: a comparison of two attributes of the item
        # (operand comparator operand, either may be a path:
        # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.OperatorsAndFunctions.html).
        condition = "answer_count < answers_wanted"
    else:
        values[":needed"] = int(job.get("workers_per_object", 1))
        condition = "answer_count < :needed"
    return query_all(
        table,
        KeyConditionExpression="#pk = :pk AND #sk BETWEEN :from AND :to",
        ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
        ExpressionAttributeValues=values,
        FilterExpression=condition,
        ConsistentRead=True,
        Limit=OBJECT_PAGE,
    )


def _advance_first_unfinished(table: Any, job: Mapping[str, Any], index: int) -> None:
    """Move the job's ``first_unfinished`` mark up to ``index`` (answers are never taken back, so objects
    before the first unfinished one stay finished); never down, whoever else moves it."""
    if index <= int(job.get("first_unfinished", 0)):
        return
    conditional(
        table.update_item,
        Key={"pk": job_pk(str(job["job_name"])), "sk": JOB_SK},
        UpdateExpression="SET first_unfinished = :index",
        ConditionExpression="attribute_not_exists(first_unfinished) OR first_unfinished < :index",
        ExpressionAttributeValues={":index": index},
    )


def _suggestion(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """Pre-annotation: the object's model suggestion, handed out with its lease (None: none)."""
    text = obj.get("suggestion")
    return json.loads(text) if text else None


def _lease_entry(lease_id: str, now: float, lease_seconds: int) -> dict[str, Any]:
    return {
        "state": LEASED,
        "lease_id": lease_id,
        "expires_at": epoch(now) + lease_seconds,
        "leased_at": epoch(now),
    }


def lease(
    table: Any, job_name: str, worker_id: str, now: float, *, job: Mapping[str, Any] | None = None
) -> Lease | None:
    """Lease a task of the job to the worker; None when nothing is left for this worker. ``job``: the job
    item as the caller just read it (``get_job``: one read less), else it is read here.

    Objects are visited in index order from the labeling frontier: the first one with a free slot that the
    worker never touched is taken, or another worker's expired lease on it is reclaimed, each with one
    conditional update (a lost race moves on to the next object). A worker's own unexpired lease met on
    the way is given back (``resumed``), an expired one renewed; so a worker holds one lease per job unless
    an earlier object's slot opened again meanwhile.
    """
    job = open_job_item(table, job_name, now, job)
    # A lease never outlives the job: its answer would come after the lifetime and be refused.
    lease_seconds = min(int(job.get("lease_seconds", 300)), int(job["expires_at"]) - epoch(now))
    # The review stage: objects a reviewer's reject re-opened for one more answer come first (they are
    # behind the labeling frontier, so the scan below would not see them).
    for obj in requeued_objects(table, job):
        offered = _offer(table, job_name, obj, worker_id, now, lease_seconds)
        if offered:
            return offered
    first = True
    for obj in unfinished_objects(table, job):
        if first:
            _advance_first_unfinished(table, job, int(obj["index"]))
            first = False
        offered = _offer(table, job_name, obj, worker_id, now, lease_seconds)
        if offered:
            return offered
    return None


def _offer(
    table: Any, job_name: str, obj: Mapping[str, Any], worker_id: str, now: float, lease_seconds: int
) -> Lease | None:
    """The object for the worker: a free slot taken, the worker's own lease given back or renewed, or None
    (the worker touched it otherwise, or no slot is left)."""
    entry = (obj.get("workers") or {}).get(worker_id)
    if entry is None:
        return _take(table, job_name, obj, worker_id, now, lease_seconds)
    if entry.get("state") != LEASED:
        return None
    if int(entry.get("expires_at", 0)) > epoch(now):
        return Lease(
            job_name,
            int(obj["index"]),
            str(entry["lease_id"]),
            int(entry["expires_at"]),
            str(obj["source_ref"]),
            resumed=True,
            suggestion=_suggestion(obj),
        )
    return _renew(table, job_name, obj, worker_id, str(entry["lease_id"]), now, lease_seconds)


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
    done = conditional(
        table.update_item,
        Key={"pk": job_pk(job_name), "sk": obj["sk"]},
        UpdateExpression="SET workers.#w = :lease",
        ConditionExpression="workers.#w.#state = :leased AND workers.#w.lease_id = :old",
        ExpressionAttributeNames={"#w": worker_id, "#state": "state"},
        ExpressionAttributeValues={":lease": entry, ":leased": LEASED, ":old": old_lease},
    )
    if done is None:
        return None
    return _lease_of(job_name, obj, lease_id, entry)


def _lease_of(job_name: str, obj: Mapping[str, Any], lease_id: str, entry: Mapping[str, Any]) -> Lease:
    """The lease handed out once the object item records ``entry`` for the worker."""
    return Lease(
        job_name,
        int(obj["index"]),
        lease_id,
        entry["expires_at"],
        str(obj["source_ref"]),
        suggestion=_suggestion(obj),
    )


def _take(
    table: Any, job_name: str, obj: Mapping[str, Any], worker_id: str, now: float, seconds: int
) -> Lease | None:
    key = {"pk": job_pk(job_name), "sk": obj["sk"]}
    for _attempt in range(3):
        lease_id = uuid.uuid4().hex
        entry = _lease_entry(lease_id, now, seconds)
        if int(obj.get("slots_open", 0)) > 0:
            done = conditional(
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
                if value.get("state") == LEASED and int(value.get("expires_at", 0)) <= epoch(now)
            ]
            if not expired:
                return None
            other, value = expired[0]
            # Reclaim: the other worker's expired lease makes room for this one; the slot count stays.
            done = conditional(
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
                    ":now": epoch(now),
                },
            )
        if done is not None:
            return _lease_of(job_name, obj, lease_id, entry)
        # Lost a race: look at the object again (another slot or another expired lease may be left).
        fresh = plain_item(table.get_item(Key=key, ConsistentRead=True).get("Item"))
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
    done = conditional(
        table.update_item,
        Key={"pk": job_pk(job_name), "sk": object_sk(index)},
        UpdateExpression=update,
        ConditionExpression="workers.#w.#state = :leased AND workers.#w.lease_id = :lease",
        ExpressionAttributeNames={"#w": worker_id, "#state": "state"},
        ExpressionAttributeValues=values,
    )
    if done is None:
        read_object(table, job_name, index)  # UnknownTask first
        raise LeaseNotHeld(
            f"lease {lease_id[:64]} on task {index} is not held (expired, answered or released)"
        )


def reclaim_expired(table: Any, job_name: str, now: float) -> int:
    """Return every expired lease of the job to the pool; how many were reclaimed."""
    job = get_job(table, job_name)
    count = 0
    for obj in unfinished_objects(table, job):
        for worker_id, entry in (obj.get("workers") or {}).items():
            if entry.get("state") != LEASED or int(entry.get("expires_at", 0)) > epoch(now):
                continue
            done = conditional(
                table.update_item,
                Key={"pk": obj["pk"], "sk": obj["sk"]},
                UpdateExpression="REMOVE workers.#w SET slots_open = slots_open + :one",
                ConditionExpression="workers.#w.#state = :leased AND workers.#w.lease_id = :lease",
                ExpressionAttributeNames={"#w": worker_id, "#state": "state"},
                ExpressionAttributeValues={":one": 1, ":leased": LEASED, ":lease": entry.get("lease_id")},
            )
            count += done is not None
    return count
