"""Taking a worker's answer: validate it, store it and count it in one transaction.

The answer is one transaction: the object's entry moves ``leased -> answered`` (conditional on the lease id
and on the answer count read before), the answer item is created, the worker's and the job's counters grow
(conditional on the job being ``OPEN``); the answer that completes the last object moves the job
``OPEN -> CONSOLIDATING`` (:func:`~gtpipe_shared.labeling_store.jobs.complete_if_done`).

Adaptive redundancy (a job opened with ``adaptive_threshold``): the object's stored answers and this one are
judged (:func:`gtpipe_shared.adaptive_redundancy.judge`) before the transaction; an answer that asks for
another also opens a slot on the object and adds one to the object's and the job's ``answers_wanted`` in the
same transaction, and completes nothing. The ``answer_count = :old`` condition makes a concurrent answer on
the same object (there is none while the object has one slot, but a reclaimed lease may race) retry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from gtpipe_shared import adaptive_redundancy, ledger
from gtpipe_shared import labeling_suggestions as suggestions
from gtpipe_shared.aws import error_code
from gtpipe_shared.labeling_answers import is_number, validate_answer
from gtpipe_shared.labeling_errors import InvalidAnswer, JobNotOpen, LeaseNotHeld
from gtpipe_shared.labeling_review import check_comment
from gtpipe_shared.labeling_store.dynamo import get_job, query_prefix, read_object
from gtpipe_shared.labeling_store.jobs import (
    check_lifetime,
    complete_if_done,
    is_adaptive,
    open_job_item,
    progress,
)
from gtpipe_shared.labeling_store.keys import (
    ANSWERED,
    JOB_SK,
    LEASED,
    OPEN,
    answer_sk,
    epoch,
    iso,
    job_pk,
    object_sk,
    worker_sk,
)
from gtpipe_shared.labeling_store.models import Answering, AnswerOutcome
from gtpipe_shared.labeling_store.review import add_to_answer


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


def submit(
    table: Any, given: Answering, now: float, *, job: Mapping[str, Any] | None = None
) -> AnswerOutcome:
    """Store a worker's answer for a leased task (one transaction) and count it. ``job``: the job item as
    the caller just read it (``get_job``: one read less), else it is read here.

    Raises UnknownJob/UnknownTask (404), InvalidAnswer (400), LeaseNotHeld or JobNotOpen (409), JobExpired
    (410: the job's lifetime has ended). The answer that gives the last object its last answer also moves
    the job ``OPEN -> CONSOLIDATING``; only that call returns ``job_completed`` True.
    """
    job = open_job_item(table, given.job_name, now, job)
    stored = validate_answer(
        str(job["task_type"]), given.answer, list(job.get("class_names") or []), given.image_size
    )
    try:  # a labeler's comment for the reviewers: text, at most 500 characters, kept stripped
        given = replace(given, comment=check_comment(given.comment))
    except ValueError as error:
        raise InvalidAnswer(str(error)) from None
    needed = int(job.get("workers_per_object", 1))
    for _attempt in range(8):
        obj = read_object(table, given.job_name, given.index)
        entry = (obj.get("workers") or {}).get(given.worker_id)
        if not entry or entry.get("state") != LEASED or entry.get("lease_id") != given.lease_id:
            raise LeaseNotHeld(
                f"lease {str(given.lease_id)[:64]} on task {given.index} is not held "
                "(expired, answered or released)"
            )
        old_count = int(obj.get("answer_count", 0))
        suggestion = json.loads(obj["suggestion"]) if obj.get("suggestion") else None
        if is_adaptive(job):
            more = _wants_another(table, job, given, stored, old_count, suggestion)
            if more is None:
                continue  # an answer landed between the two reads: read the object again
            completes = not more
        else:
            more, completes = False, old_count + 1 >= needed
        spent = _seconds(given.seconds, entry.get("leased_at"), now, int(job.get("lease_seconds", 300)))
        items = _answer_items(table.name, given, stored, entry, old_count, completes, spent, now)
        if suggestion is not None:  # pre-annotation: did the person take the model's suggestion unchanged?
            items[1]["Put"]["Item"]["suggestion_accepted"] = suggestions.accepted(stored, suggestion)
        if more:
            _ask_for_another(items)
        # The review stage: an object that completes may be selected for review in this transaction.
        if completes and not add_to_answer(table, job, obj, stored, old_count, items):
            continue  # an answer landed between the two reads: read the object again
        try:
            table.meta.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) not in ("TransactionCanceledException", "TransactionConflictException"):
                raise
            closed = get_job(table, given.job_name)
            if closed.get("status") != OPEN:
                raise JobNotOpen(f"job {given.job_name} closed before the answer arrived") from exc
            check_lifetime(closed, now)
            continue  # another answer for the same object changed its count: read it again
        job_completed = completes and complete_if_done(table, given.job_name, now)
        return AnswerOutcome(completes, job_completed, progress(table, given.job_name, given.worker_id))
    raise LeaseNotHeld(f"task {given.index} changed too often while answering; lease it again")


def _wants_another(
    table: Any,
    job: Mapping[str, Any],
    given: Answering,
    stored: Mapping[str, Any],
    old_count: int,
    suggestion: Mapping[str, Any] | None = None,
) -> bool | None:
    """Adaptive redundancy: whether the object asks for another answer after this one
    (:func:`gtpipe_shared.adaptive_redundancy.judge` on its stored answers and this one, workers_per_object
    the maximum, the object's ``suggestion`` the model hook); None when the stored answers are not the
    ``old_count`` the object item said (read again).
    The transaction's ``answer_count = :old`` condition makes the decision's inputs the object's answers."""
    items = sorted(
        query_prefix(table, given.job_name, f"ANS#{given.index:08d}#"),
        key=lambda item: (str(item.get("submitted_at", "")), str(item.get("worker_id", ""))),
    )
    if len(items) != old_count:
        return None
    earlier = [json.loads(item["answer"]) for item in items]  # submission order: the first is first
    verdict = adaptive_redundancy.judge(
        str(job["task_type"]),
        [*earlier, dict(stored)],
        len(job.get("class_names") or []),
        threshold=float(job["adaptive_threshold"]),
        maximum=int(job.get("workers_per_object", 1)),
        # The model hook: the object's model suggestion (pre-annotation: automated labeling's labeling
        # model, or any manifest's), in the stored answer form; an answer disagreeing with it asks again.
        model_suggestion=suggestions.as_answer(suggestion) if suggestion is not None else None,
    )
    return verdict.more


def _ask_for_another(items: list[dict[str, Any]]) -> None:
    """Turn an answer's transaction into one that also opens a slot on the object for another worker and
    counts one more answer wanted on the object and on the job (adaptive redundancy)."""
    obj, job = items[0]["Update"], items[3]["Update"]
    obj["UpdateExpression"] += ", answers_wanted = :wanted, slots_open = slots_open + :one"
    obj["ExpressionAttributeValues"] = {
        **obj["ExpressionAttributeValues"],
        ":wanted": obj["ExpressionAttributeValues"][":new"] + 1,
        ":one": 1,
    }
    job["UpdateExpression"] += ", answers_wanted :one"


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
        # A labeler's note for the reviewers (docs/labeling-service.md, "Review"); only when given.
        **({"comment": given.comment} if given.comment else {}),
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
                "ExpressionAttributeValues": {**object_values, ":new": old_count + 1, ":now": epoch(now)},
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
                "ExpressionAttributeValues": {":one": 1, ":open": OPEN, ":now": epoch(now)},
            }
        },
    ]


def _seconds(value: Any, leased_at: float | None, now: float, lease_seconds: int) -> float:
    """The seconds an answer took: the time since the lease started (at most the lease's length), or less
    when the worker reports less (e.g. time away from the page); reported values must be finite and
    non-negative (InvalidAnswer)."""
    if value is not None and (not is_number(value) or value < 0):
        raise InvalidAnswer("seconds must be a finite, non-negative number")
    held = min(max(now - leased_at, 0.0), float(lease_seconds)) if leased_at is not None else 0.0
    return round(min(float(value), held) if value is not None else held, 3)
