"""The tasks table's DynamoDB I/O primitives: paged queries, conditional writes, batch puts, item reads.

Functions take the table as a boto3 ``Table`` resource; batch calls go through its ``meta.client`` (which
accepts plain Python values like the resource). Items come back with plain numbers
(``ledger.from_dynamo``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from gtpipe_shared import ledger
from gtpipe_shared.aws import error_code
from gtpipe_shared.labeling_errors import UnknownJob, UnknownTask
from gtpipe_shared.labeling_store.keys import BATCH_SIZE, JOB_SK, job_pk, object_sk


def plain_item(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A boto3 item with plain numbers; None for a missing item."""
    return ledger.from_dynamo(dict(item)) if item else None


def query_all(table: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Query (``kwargs`` as boto3 takes them), page after page, with plain numbers."""
    while True:
        response = table.query(**kwargs)
        for item in response.get("Items", []):
            yield ledger.from_dynamo(item)
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def query_prefix(table: Any, job_name: str, prefix: str, **extra: Any) -> Iterator[dict[str, Any]]:
    """The job's items whose sort key starts with ``prefix`` (``OBJ#``, ``ANS#``, ``WRK#``), read consistently;
    ``extra`` adds Query arguments (its names and values merge with the key condition's)."""
    names = {"#pk": "pk", "#sk": "sk", **extra.pop("ExpressionAttributeNames", {})}
    values = {":pk": job_pk(job_name), ":prefix": prefix, **extra.pop("ExpressionAttributeValues", {})}
    return query_all(
        table,
        KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ConsistentRead=True,
        **extra,
    )


def conditional(call: Any, **kwargs: Any) -> dict[str, Any] | None:
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


def read_object(table: Any, job_name: str, index: int) -> dict[str, Any]:
    """Object ``index``'s item, read consistently (plain numbers); UnknownTask when there is none."""
    item = table.get_item(Key={"pk": job_pk(job_name), "sk": object_sk(index)}, ConsistentRead=True).get(
        "Item"
    )
    if not item:
        raise UnknownTask(f"job {job_name} has no task {index}")
    return ledger.from_dynamo(item)
