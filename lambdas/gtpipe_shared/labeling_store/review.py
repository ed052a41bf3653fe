"""The review stage on the tasks table (docs/labeling-service.md, "Review"; rules in
:mod:`gtpipe_shared.labeling_review`).

Review items: ``pk = JOB#<job>``, ``sk = REV#<index, 8 digits>``, with ``index``, ``state`` (``pending``,
``requeued``, ``accepted``, ``fixed``, ``rejected``), ``round`` (rejects that asked for another answer so
far), ``selected_because``, ``label`` (the consolidated label reviewed, JSON text), ``confidence``, the
reviewer's lease (``reviewer_id``, ``lease_id``, ``lease_expires_at``), ``decisions`` (every decision,
oldest first) and, once fixed, ``final_label``. The job item counts ``reviews_open`` (selected, not finally
decided) and holds ``requeued`` (a number set: objects a reject re-opened for one more answer).

Race-free like the rest of the store: the answer that completes an object selects it for review in the
answer's own transaction (:func:`add_to_answer`: the review item and ``reviews_open + 1``), so the job
cannot complete between the two; a decision is one transaction conditional on the reviewer's lease; the
job completes (``OPEN -> CONSOLIDATING``) only when ``objects_done >= object_count`` and
``reviews_open`` is 0 (:func:`gtpipe_shared.labeling_store.jobs.complete_if_done`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from gtpipe_shared import labeling_output, labeling_paths, ledger
from gtpipe_shared import labeling_review as rules
from gtpipe_shared.aws import error_code
from gtpipe_shared.labeling_answers import validate_answer
from gtpipe_shared.labeling_errors import InvalidAnswer, LabelingError, LeaseNotHeld
from gtpipe_shared.labeling_review_output import with_review
from gtpipe_shared.labeling_store.dynamo import conditional, get_job, query_prefix, read_object
from gtpipe_shared.labeling_store.jobs import complete_if_done, open_job_item
from gtpipe_shared.labeling_store.keys import JOB_SK, OPEN, epoch, iso, job_pk, object_sk

REVIEW_PREFIX = "REV#"
# A review lease's length: a reviewer who leaves the page gives the item back after this long.
REVIEW_LEASE_SECONDS = 600


class NoSuchReview(LabelingError):
    """The object has no review item (404)."""

    status = 404


def review_sk(index: int) -> str:
    """The sort key of object ``index``'s review item."""
    return f"{REVIEW_PREFIX}{index:08d}"


def settings_of(job: Mapping[str, Any]) -> rules.ReviewSettings | None:
    """The job's review settings; None when the job has no review stage."""
    raw = job.get("review")
    return rules.ReviewSettings.from_mapping(raw) if isinstance(raw, Mapping) else None


def stored_answers(table: Any, job_name: str, index: int) -> list[dict[str, Any]]:
    """The object's answer items in submission order."""
    return sorted(
        query_prefix(table, job_name, f"ANS#{index:08d}#"),
        key=lambda item: (str(item.get("submitted_at", "")), str(item.get("worker_id", ""))),
    )


def add_to_answer(
    table: Any,
    job: Mapping[str, Any],
    obj: Mapping[str, Any],
    stored: Mapping[str, Any],
    old_count: int,
    items: list[dict[str, Any]],
) -> bool:
    """Make the transaction of an answer that completes ``obj`` also select it for review when the rules
    say so (a re-queued object always goes back to review); False when the stored answers are not the
    ``old_count`` the object item said (read again). Gold objects are never reviewed."""
    settings = settings_of(job)
    if settings is None or obj.get("gold") is not None:
        return True
    index, job_name = int(obj["index"]), str(job["job_name"])
    answers = stored_answers(table, job_name, index)
    if len(answers) != old_count:
        return False
    every = [*(json.loads(item["answer"]) for item in answers), dict(stored)]
    reason, label, confidence = rules.selection_reason(
        str(job["task_type"]),
        every,
        len(job.get("class_names") or []),
        settings,
        job_name=job_name,
        index=index,
    )
    requeued = int(obj.get("review_round", 0)) > 0
    if reason is None and not requeued:
        return True
    job_update = items[3]["Update"]
    values = job_update["ExpressionAttributeValues"]
    if requeued:
        # The answer a reject asked for: the review item waits for a reviewer again.
        job_update["UpdateExpression"] += " DELETE requeued :requeued"
        values[":requeued"] = {index}
        items.append(
            {
                "Update": {
                    "TableName": table.name,
                    "Key": {"pk": job_pk(job_name), "sk": review_sk(index)},
                    "UpdateExpression": "SET #state = :pending, label = :label, confidence = :confidence",
                    "ConditionExpression": "#state = :requeued_state",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": ledger.to_dynamo(
                        {
                            ":pending": rules.PENDING,
                            ":requeued_state": rules.REQUEUED,
                            ":label": json.dumps(label),
                            ":confidence": round(confidence, 4),
                        }
                    ),
                }
            }
        )
        return True
    job_update["UpdateExpression"] += ", reviews_open :one"  # the ADD clause: :one is already 1
    item = {
        "pk": job_pk(job_name),
        "sk": review_sk(index),
        "index": index,
        "state": rules.PENDING,
        "round": 0,
        "selected_because": reason,
        "label": json.dumps(label),
        "confidence": round(confidence, 4),
        "decisions": [],
    }
    items.append(
        {
            "Put": {
                "TableName": table.name,
                "Item": ledger.to_dynamo(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
    )
    return True


@dataclass(frozen=True)
class ReviewTask:
    """A review item leased to a reviewer: the consolidated label, the anonymised answers (``Labeler 1``..,
    submission order, with their comments) and what a reject still does (``rejects_left``: re-queues
    left; 0: a reject is final)."""

    job_name: str
    index: int
    lease_id: str
    lease_expires_at: int
    source_ref: str
    label: dict[str, Any]
    confidence: float
    selected_because: str
    round: int
    rejects_left: int
    answers: list[dict[str, Any]] = field(default_factory=list)
    resumed: bool = False
    # The object's model suggestion (gtpipe_shared.labeling_suggestions; a review-only job's flagged
    # objects carry the model's class); None: none.
    suggestion: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "job_name": self.job_name,
            "index": self.index,
            "lease_id": self.lease_id,
            "lease_expires_at": self.lease_expires_at,
            "source_ref": self.source_ref,
            "label": self.label,
            "confidence": self.confidence,
            "selected_because": self.selected_because,
            "round": self.round,
            "rejects_left": self.rejects_left,
            "answers": self.answers,
            "resumed": self.resumed,
            **({"suggestion": self.suggestion} if self.suggestion is not None else {}),
        }


def _task(table: Any, job: Mapping[str, Any], item: Mapping[str, Any], obj: Mapping[str, Any]) -> ReviewTask:
    settings = settings_of(job) or rules.ReviewSettings()
    index = int(item["index"])
    answers = [
        {
            "labeler": f"Labeler {number}",
            "answer": json.loads(answer["answer"]),
            **({"comment": str(answer["comment"])} if answer.get("comment") else {}),
        }
        for number, answer in enumerate(stored_answers(table, str(job["job_name"]), index), start=1)
    ]
    return ReviewTask(
        job_name=str(job["job_name"]),
        index=index,
        lease_id=str(item["lease_id"]),
        lease_expires_at=int(item["lease_expires_at"]),
        source_ref=str(obj["source_ref"]),
        label=json.loads(item["label"]),
        confidence=float(item.get("confidence", 0.0)),
        selected_because=str(item.get("selected_because", "")),
        round=int(item.get("round", 0)),
        rejects_left=max(settings.max_rounds - int(item.get("round", 0)), 0),
        answers=answers,
        suggestion=json.loads(obj["suggestion"]) if obj.get("suggestion") else None,
    )


def lease_review(table: Any, job_name: str, reviewer_id: str, now: float) -> ReviewTask | None:
    """Lease the next pending review item of an open job to the reviewer (one at a time: asking again
    returns the one held, ``resumed``); never an object the reviewer answered. None when none is left."""
    job = open_job_item(table, job_name, now)
    seconds = min(REVIEW_LEASE_SECONDS, int(job["expires_at"]) - epoch(now))
    candidates = []
    for item in query_prefix(table, job_name, REVIEW_PREFIX):
        if item.get("state") != rules.PENDING:
            continue
        held = int(item.get("lease_expires_at", 0)) > epoch(now)
        if held and item.get("reviewer_id") == reviewer_id:
            obj = read_object(table, job_name, int(item["index"]))
            task = _task(table, job, item, obj)
            return replace(task, resumed=True)
        if not held:
            candidates.append(item)
    for item in candidates:
        obj = read_object(table, job_name, int(item["index"]))
        if reviewer_id in (obj.get("workers") or {}):
            continue  # nobody reviews their own answer
        lease_id = uuid.uuid4().hex
        done = conditional(
            table.update_item,
            Key={"pk": job_pk(job_name), "sk": item["sk"]},
            UpdateExpression="SET reviewer_id = :r, lease_id = :l, lease_expires_at = :e",
            ConditionExpression="#state = :pending AND "
            "(attribute_not_exists(lease_expires_at) OR lease_expires_at <= :now)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":r": reviewer_id,
                ":l": lease_id,
                ":e": epoch(now) + seconds,
                ":pending": rules.PENDING,
                ":now": epoch(now),
            },
        )
        if done is not None:
            leased = {**item, "lease_id": lease_id, "lease_expires_at": epoch(now) + seconds}
            return _task(table, job, leased, obj)
    return None


@dataclass(frozen=True)
class Decision:
    """A reviewer's decision: ``decision`` one of accept / fix / reject, ``label`` (fix: the new label as
    the answer API takes it), ``reason`` (reject: required), ``email`` (the reviewer's address)."""

    job_name: str
    index: int
    reviewer_id: str
    lease_id: str
    decision: Any
    label: Any = None
    reason: Any = None
    email: str = ""


@dataclass(frozen=True)
class DecisionOutcome:
    """``requeued``: a reject that asked for another answer; ``job_completed``: True for the one decision
    that completed the job (its finish must start)."""

    requeued: bool
    job_completed: bool


def decide(table: Any, given: Decision, now: float) -> DecisionOutcome:
    """Record a reviewer's decision on the review item they lease (one transaction). InvalidAnswer (400)
    for an unknown decision, a fix without a valid label or with the label under review, or a reject
    without a reason; LeaseNotHeld (409)
    when the reviewer does not hold the item; JobNotOpen / JobExpired as for answers."""
    job = open_job_item(table, given.job_name, now)
    settings = settings_of(job)
    if settings is None:
        raise NoSuchReview(f"job {given.job_name} has no review stage")
    if given.decision not in rules.DECISIONS:
        raise InvalidAnswer(f"decision must be one of {', '.join(rules.DECISIONS)}; got {given.decision!r}")
    try:
        reason = rules.check_comment(given.reason, "reason")
    except ValueError as error:
        raise InvalidAnswer(str(error)) from None
    if given.decision == rules.REJECT and job.get("review_given"):
        # A review-only job (labeling_store.review_given) has no labelers to answer the object anew.
        raise InvalidAnswer(
            "this job reviews given labels: accept the label or fix it (reject is not offered)"
        )
    if given.decision == rules.REJECT and not reason:
        raise InvalidAnswer("a reject needs a reason (what is wrong with the label)")
    item = table.get_item(
        Key={"pk": job_pk(given.job_name), "sk": review_sk(given.index)}, ConsistentRead=True
    ).get("Item")
    if not item:
        raise NoSuchReview(f"job {given.job_name} has no review of task {given.index}")
    item = ledger.from_dynamo(item)
    if (
        item.get("state") != rules.PENDING
        or item.get("lease_id") != given.lease_id
        or item.get("reviewer_id") != given.reviewer_id
        or int(item.get("lease_expires_at", 0)) <= epoch(now)
    ):
        raise LeaseNotHeld(f"review lease {str(given.lease_id)[:64]} on task {given.index} is not held")
    fixed = None
    if given.decision == rules.FIX:
        obj = read_object(table, given.job_name, given.index)
        size = obj.get("image_size")
        known = (int(size["width"]), int(size["height"])) if isinstance(size, Mapping) else None
        if given.label is None:
            raise InvalidAnswer("a fix needs the corrected label")
        fixed = validate_answer(str(job["task_type"]), given.label, list(job.get("class_names") or []), known)
        if fixed == json.loads(item["label"]):
            # Ground Truth's adjustment-status "adjusted" must mean the label changed (labeling_review).
            raise InvalidAnswer("the fixed label is the label under review: accept it instead")
    round_now = int(item.get("round", 0))
    requeue = given.decision == rules.REJECT and round_now < settings.max_rounds
    record = {
        "round": round_now,
        "decision": given.decision,
        "reviewer_id": given.reviewer_id,
        "email": given.email,
        "reason": reason,
        "at": iso(now),
        **({"label": json.dumps(fixed)} if fixed is not None else {}),
    }
    items = _decision_items(table.name, given, record, fixed, requeue, round_now, now)
    try:
        table.meta.client.transact_write_items(TransactItems=items)
    except ClientError as exc:
        if error_code(exc) not in ("TransactionCanceledException", "TransactionConflictException"):
            raise
        if get_job(table, given.job_name).get("status") != OPEN:
            raise LeaseNotHeld(f"job {given.job_name} closed before the decision arrived") from exc
        raise LeaseNotHeld(f"review of task {given.index} changed meanwhile; lease it again") from exc
    completed = not requeue and complete_if_done(table, given.job_name, now)
    return DecisionOutcome(requeued=requeue, job_completed=completed)


def _decision_items(
    table_name: str,
    given: Decision,
    record: Mapping[str, Any],
    fixed: Mapping[str, Any] | None,
    requeue: bool,
    round_now: int,
    now: float,
) -> list[dict[str, Any]]:
    """The decision's transaction: the review item (conditional on the lease), and either the object
    re-opened for one more answer (``requeued`` on the job, its completion taken back) or ``reviews_open``
    down by one, both on a job that is open and alive."""
    pk = job_pk(given.job_name)
    state = rules.REQUEUED if requeue else rules.FINAL_STATE[str(given.decision)]
    review_values: dict[str, Any] = {
        ":state": state,
        ":record": [dict(record)],
        ":pending": rules.PENDING,
        ":lease": given.lease_id,
        ":round": round_now + (1 if requeue else 0),
        **({":final": json.dumps(fixed)} if fixed is not None else {}),
    }
    review = {
        "Update": {
            "TableName": table_name,
            "Key": {"pk": pk, "sk": review_sk(given.index)},
            "UpdateExpression": "SET #state = :state, decisions = list_append(decisions, :record), "
            "#round = :round"
            + (", final_label = :final" if fixed is not None else "")
            + " REMOVE lease_id, lease_expires_at, reviewer_id",
            "ConditionExpression": "#state = :pending AND lease_id = :lease",
            "ExpressionAttributeNames": {"#state": "state", "#round": "round"},
            "ExpressionAttributeValues": ledger.to_dynamo(review_values),
        }
    }
    job_values: dict[str, Any] = {":open": OPEN, ":now": epoch(now)}
    if requeue:
        job_update = "ADD objects_done :minus, requeued :requeued"
        job_values.update({":minus": -1, ":requeued": {given.index}})
    else:
        job_update = "ADD reviews_open :minus"
        job_values[":minus"] = -1
    items = [
        review,
        {
            "Update": {
                "TableName": table_name,
                "Key": {"pk": pk, "sk": JOB_SK},
                "UpdateExpression": job_update,
                "ConditionExpression": "#status = :open AND expires_at > :now",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": job_values,
            }
        },
    ]
    if requeue:
        items.append(
            {
                "Update": {
                    "TableName": table_name,
                    "Key": {"pk": pk, "sk": object_sk(given.index)},
                    "UpdateExpression": "SET slots_open = slots_open + :one, review_round = :round",
                    "ExpressionAttributeValues": {":one": 1, ":round": round_now + 1},
                }
            }
        )
    return items


def requeued_objects(table: Any, job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The objects a reject re-opened for one more answer (the job's ``requeued`` set), index order."""
    return [read_object(table, str(job["job_name"]), int(i)) for i in sorted(job.get("requeued") or ())]


def reviews(table: Any, job_name: str) -> list[dict[str, Any]]:
    """The job's review items (plain numbers), index order."""
    return list(query_prefix(table, job_name, REVIEW_PREFIX))


def as_review(item: Mapping[str, Any], number: int | None = None) -> rules.Review:
    """A review item as the output records it (``number``: the object's data number, when it differs)."""
    state = str(item.get("state"))
    decision = {rules.ACCEPTED: rules.ACCEPT, rules.FIXED: rules.FIX, rules.REJECTED: rules.REJECT}.get(state)
    decisions = list(item.get("decisions") or [])
    return rules.Review(
        index=int(item["index"]) if number is None else number,
        decision=decision,
        rounds=int(item.get("round", 0)),
        selected_because=str(item.get("selected_because", "")),
        reason=str(decisions[-1].get("reason", "")) if decision and decisions else "",
        label=json.loads(item["final_label"] if item.get("final_label") else item["label"])
        if decision in (rules.ACCEPT, rules.FIX)
        else None,
    )


def apply_to_output(
    table: Any,
    job: Mapping[str, Any],
    output: labeling_output.LabelingOutput,
    numbers: Mapping[int, int],
    now: float,
) -> labeling_output.LabelingOutput:
    """The job's output with its reviews and its labelers' comments recorded
    (:func:`gtpipe_shared.labeling_review_output.with_review`); ``numbers``: object index -> the object's
    number in the output (data objects only). Unchanged for a job without review stage or comments."""
    job_name = str(job["job_name"])
    comments: dict[int, list[str]] = {}
    for item in query_prefix(table, job_name, "ANS#"):
        number = numbers.get(int(item["index"]))
        if item.get("comment") and number is not None:
            comments.setdefault(number, []).append(str(item["comment"]))
    settings = settings_of(job)
    if settings is None and not comments:
        return output
    reviewed = {
        numbers[int(item["index"])]: as_review(item, numbers[int(item["index"])])
        for item in reviews(table, job_name)
        if int(item["index"]) in numbers
    }
    needed = int(job.get("workers_per_object", 1))
    extra = sum(
        max(int(obj.get("answer_count", 0)) - int(obj.get("answers_wanted", needed)), 0)
        for obj in query_prefix(table, job_name, "OBJ#")
        if int(obj.get("review_round", 0)) > 0
    )
    date = labeling_paths.creation_date(datetime.fromtimestamp(now, tz=UTC))
    info = labeling_output.JobInfo(
        job_name=job_name,
        task_type=str(job["task_type"]),
        label_attribute=str(job["label_attribute"]),
        class_names=tuple(job.get("class_names") or ()),
        output_path=str(job["output_path"]),
    )
    return with_review(
        output,
        info,
        reviewed if settings is not None else {},
        extra,
        date,
        {number: tuple(texts) for number, texts in comments.items()},
        with_statistics=settings is not None,
    )
