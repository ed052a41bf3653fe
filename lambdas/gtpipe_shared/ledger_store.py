"""DynamoDB operations on the runs ledger, built on the pure expressions in ``ledger.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from gtpipe_shared import ledger
from gtpipe_shared.aws import error_code, publish

Outcome = Literal["updated", "stale", "conflict", "unknown-run"]


@dataclass
class WriteResult:
    """What a conditional write did, with the item as it was before (None if it did not exist)."""

    outcome: Outcome
    old: dict[str, Any] | None


def get_run(table: Any, run_id: str) -> dict[str, Any] | None:
    """The run item (numbers as int/float), or None."""
    item = table.get_item(Key={"run_id": run_id}, ConsistentRead=True).get("Item")
    return ledger.from_dynamo(item) if item else None


def put_new_run(table: Any, item: dict[str, Any]) -> bool:
    """Create a run item unless one exists (never clobbers); True when created."""
    try:
        table.put_item(Item=ledger.to_dynamo(item), ConditionExpression="attribute_not_exists(run_id)")
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def record_step(table: Any, run_id: str, step: str, record: ledger.StepRecord, now: str) -> WriteResult:
    """Write ``steps.<step>`` with the ordering rules.

    ``stale``: the stored record is further along (nothing written). ``unknown-run``: no such run (no
    item is created: events for foreign jobs are ignored).
    """
    update = ledger.step_update(step, record, now)
    for attempt in range(2):
        try:
            response = table.update_item(**update.kwargs(run_id))
            return WriteResult("updated", ledger.from_dynamo(response.get("Attributes")) or None)
        except ClientError as exc:
            code = error_code(exc)
            if code == "ValidationException" and attempt == 0:
                # The item has no "steps" map (written by an older version): create it and retry once.
                try:
                    table.update_item(**ledger.ensure_steps_update().kwargs(run_id, return_values="NONE"))
                except ClientError as inner:
                    if error_code(inner) == "ConditionalCheckFailedException":
                        return WriteResult("unknown-run", None)
                    raise
                continue
            if code != "ConditionalCheckFailedException":
                raise
            current = get_run(table, run_id)
            return WriteResult("stale" if current else "unknown-run", current)
    return WriteResult("stale", None)  # pragma: no cover - loop always returns


def finish_run(
    table: Any,
    run_id: str,
    status: str,
    now: str,
    *,
    failure: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> WriteResult:
    """Move a run to ``status``; ``conflict`` when it already ended with another status."""
    update = ledger.status_update(status, now, failure=failure, metrics=metrics, extra=extra)
    try:
        response = table.update_item(**update.kwargs(run_id))
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        current = get_run(table, run_id)
        return WriteResult("conflict" if current else "unknown-run", current)
    return WriteResult("updated", ledger.from_dynamo(response.get("Attributes")) or None)


def publish_once(
    table: Any,
    topic_arn: str,
    run_id: str,
    status: str,
    *,
    subject: str,
    message: dict[str, Any],
    already_notified: str | None,
    now: str,
) -> str | None:
    """Publish the notification for ``status`` unless the item says it was already published.

    Retries of a notify step therefore publish once in the common case (a crash between publish and the
    bookkeeping write can still repeat it: at-least-once, never lost).
    """
    if already_notified == status:
        return None
    message_id = publish(topic_arn, subject, message)
    try:
        table.update_item(
            **ledger.notified_update(status, message_id, now).kwargs(run_id, return_values="NONE")
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
    return message_id


@dataclass(frozen=True)
class ReusableModel:
    """The newest final active-learning model of a label set, and the run whose labeling job left it."""

    model_arn: str
    source_run_id: str
    labeled_at: str


def find_reusable_model(table: Any, fingerprint: str) -> ReusableModel | None:
    """The newest reusable labeling model for ``fingerprint`` (see ``ledger.labeling_fingerprint``), or None.

    One Query on the sparse index, newest first, one item: the cost does not grow with the ledger.
    """
    response = table.query(
        IndexName=ledger.LABELING_MODEL_INDEX,
        KeyConditionExpression="#fingerprint = :fingerprint",
        ExpressionAttributeNames={"#fingerprint": ledger.FINGERPRINT_ATTRIBUTE},
        ExpressionAttributeValues={":fingerprint": fingerprint},
        ScanIndexForward=False,
        Limit=1,
    )
    for item in response.get("Items") or []:
        arn = item.get(ledger.FINAL_MODEL_ATTRIBUTE)
        if isinstance(arn, str) and arn:
            return ReusableModel(
                model_arn=arn,
                source_run_id=str(item["run_id"]),
                labeled_at=str(item.get(ledger.MODEL_AT_ATTRIBUTE, "")),
            )
    return None


def record_labeling(table: Any, run_id: str, update: ledger.Update) -> WriteResult:
    """Apply a ``ledger.labeling_update``; ``unknown-run`` when the run is not in the ledger."""
    try:
        response = table.update_item(**update.kwargs(run_id))
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        return WriteResult("unknown-run", None)
    return WriteResult("updated", ledger.from_dynamo(response.get("Attributes")) or None)
