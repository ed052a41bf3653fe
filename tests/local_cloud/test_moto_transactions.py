"""moto's TransactWriteItems rolled back from the items it touched (``local.moto_transactions``).

Every scenario runs twice, with the snapshot rollback and with moto's own (a copy of each table), and the
outcomes -- error code, cancellation reasons, every item of the tables -- must be the same, and the
items as they were before a failed transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

import local.moto_locks as moto_locks
import local.moto_transactions as moto_transactions

RANGE_TABLE = "tasks"
HASH_TABLE = "jobs"


def _create_tables(client: Any) -> None:
    client.create_table(
        TableName=RANGE_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    client.create_table(
        TableName=HASH_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName=RANGE_TABLE, Item={"pk": {"S": "J"}, "sk": {"S": "1"}, "n": {"N": "1"}})
    client.put_item(TableName=RANGE_TABLE, Item={"pk": {"S": "J"}, "sk": {"S": "2"}, "n": {"N": "2"}})
    client.put_item(TableName=HASH_TABLE, Item={"id": {"S": "a"}, "n": {"N": "10"}, "tags": {"SS": ["x"]}})
    client.put_item(TableName=HASH_TABLE, Item={"id": {"S": "b"}, "n": {"N": "20"}})


def _state(client: Any) -> dict[str, Any]:
    """Every item of both tables, and the range table's stream records."""
    state: dict[str, Any] = {
        name: sorted(client.scan(TableName=name)["Items"], key=repr) for name in (RANGE_TABLE, HASH_TABLE)
    }
    # moto's DynamoDB Streams API has no DescribeStream: the records as moto keeps them
    shard = _backend().tables[RANGE_TABLE].stream_shard
    state["stream"] = [(r.record["eventName"], r.record["dynamodb"]["Keys"]) for r in shard.items]
    return state


@pytest.fixture(params=["snapshots", "moto"])
def client(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A moto DynamoDB client with both tables, under the local cloud's lock; with the snapshot rollback
    installed (``snapshots``) or moto's own (``moto``)."""
    undo: list[Callable[[], None]] = [moto_locks.serialize_dynamodb()]
    if request.param == "snapshots":
        undo.append(moto_transactions.install())
    try:
        with mock_aws():
            dynamodb = boto3.client("dynamodb", region_name="us-east-1")
            _create_tables(dynamodb)
            yield dynamodb
    finally:
        while undo:
            undo.pop()()


def _write(client: Any, items: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Run the transaction; its error code and cancellation reasons ('', [] when it succeeds)."""
    try:
        client.transact_write_items(TransactItems=items)
    except ClientError as error:
        return error.response["Error"]["Code"], error.response.get("CancellationReasons", [])
    return "", []


PUT_NEW = {"Put": {"TableName": RANGE_TABLE, "Item": {"pk": {"S": "NEW"}, "sk": {"S": "9"}, "n": {"N": "9"}}}}
PUT_OVER = {"Put": {"TableName": RANGE_TABLE, "Item": {"pk": {"S": "J"}, "sk": {"S": "2"}, "v": {"S": "w"}}}}
UPDATE = {
    "Update": {
        "TableName": HASH_TABLE,
        "Key": {"id": {"S": "a"}},
        "UpdateExpression": "SET n = n + :one ADD tags :t",
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":t": {"SS": ["y"]}},
    }
}
UPDATE_NEW = {
    "Update": {
        "TableName": HASH_TABLE,
        "Key": {"id": {"S": "new"}},
        "UpdateExpression": "SET n = :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
}
DELETE = {"Delete": {"TableName": RANGE_TABLE, "Key": {"pk": {"S": "J"}, "sk": {"S": "1"}}}}
CHECK_FAILS = {
    "ConditionCheck": {
        "TableName": HASH_TABLE,
        "Key": {"id": {"S": "b"}},
        "ConditionExpression": "n = :other",
        "ExpressionAttributeValues": {":other": {"N": "21"}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
}


def test_a_cancelled_transaction_leaves_every_touched_item_as_before(client: Any) -> None:
    # given two tables with items, and their state
    before = _state(client)
    # when a transaction puts a new item, overwrites one, updates one, creates one by update, deletes one
    # and fails its last condition check
    code, reasons = _write(client, [PUT_NEW, PUT_OVER, UPDATE, UPDATE_NEW, DELETE, CHECK_FAILS])
    # then it is cancelled, with one reason per operation (the failed check's with the item)
    assert code == "TransactionCanceledException"
    assert [r["Code"] for r in reasons] == ["None"] * 5 + ["ConditionalCheckFailed"]
    assert reasons[5]["Item"] == {"id": {"S": "b"}, "n": {"N": "20"}}
    # and every item and stream record is as before (the new ones absent again)
    assert _state(client) == before


def test_a_transaction_failing_first_writes_nothing(client: Any) -> None:
    # given the tables' state
    before = _state(client)
    # when the failing check comes first, and the writes after it
    code, reasons = _write(client, [CHECK_FAILS, PUT_NEW, DELETE])
    # then all are reported (moto evaluates every operation) and nothing changed
    assert code == "TransactionCanceledException"
    assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed", "None", "None"]
    assert _state(client) == before


def test_an_item_named_twice_is_refused_and_nothing_changes(client: Any) -> None:
    # given the tables' state
    before = _state(client)
    # when a transaction writes an item and then deletes it
    delete_new = {"Delete": {"TableName": RANGE_TABLE, "Key": {"pk": {"S": "NEW"}, "sk": {"S": "9"}}}}
    code, _ = _write(client, [PUT_NEW, DELETE, delete_new])
    # then DynamoDB's validation error, and the first writes are undone
    assert code == "ValidationException"
    assert _state(client) == before


def test_a_successful_transaction_applies_every_write(client: Any) -> None:
    # when a transaction of puts, an update and a delete succeeds
    code, _ = _write(client, [PUT_NEW, UPDATE, UPDATE_NEW, DELETE])
    # then each write is there
    assert code == ""
    tasks = client.scan(TableName=RANGE_TABLE)["Items"]
    assert {(i["pk"]["S"], i["sk"]["S"]) for i in tasks} == {("J", "2"), ("NEW", "9")}
    item = client.get_item(TableName=HASH_TABLE, Key={"id": {"S": "a"}})["Item"]
    assert item["n"] == {"N": "11"} and set(item["tags"]["SS"]) == {"x", "y"}
    assert client.get_item(TableName=HASH_TABLE, Key={"id": {"S": "new"}})["Item"]["n"] == {"N": "1"}


def _backend() -> DynamoDBBackend:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends["123456789012"]["us-east-1"]


@pytest.mark.parametrize("client", ["snapshots"], indirect=True)  # about the snapshot rollback only
def test_the_snapshot_rollback_keeps_the_tables_and_holds_the_lock(
    client: Any, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the table objects, and a watch on the lock while the transaction snapshots its items
    tables = {name: _backend().tables[name] for name in (RANGE_TABLE, HASH_TABLE)}
    lock_free_elsewhere: list[bool] = []
    taken = moto_transactions.snapshot

    def watched(backend: DynamoDBBackend, items: Any) -> Any:
        probe = threading.Thread(target=lambda: lock_free_elsewhere.append(_try_lock()))
        probe.start()
        probe.join()
        return taken(backend, items)

    monkeypatch.setattr(moto_transactions, "snapshot", watched)
    # when a transaction fails
    code, _ = _write(client, [PUT_NEW, UPDATE, CHECK_FAILS])
    # then no other thread could take the DynamoDB lock during it
    assert code == "TransactionCanceledException"
    assert lock_free_elsewhere == [False]
    # and moto kept its table objects (rolled back in place, not from copies)
    assert all(_backend().tables[name] is table for name, table in tables.items())


def _try_lock() -> bool:
    acquired = moto_locks._LOCK.acquire(blocking=False)
    if acquired:
        moto_locks._LOCK.release()
    return acquired


def test_tables_are_still_copied_outside_a_transaction(client: Any) -> None:
    # given a table (whichever rollback is installed)
    table = _backend().tables[RANGE_TABLE]
    # when moto's models module deep-copies it outside a transaction (as its backups do)
    import moto.dynamodb.models as models

    copied = models.copy.deepcopy(table)
    # then it is a copy
    assert isinstance(copied, Table) and copied is not table


def test_installing_twice_is_refused() -> None:
    # given the rollback installed
    undo = moto_transactions.install()
    try:
        # then a second install is refused
        with pytest.raises(RuntimeError, match="already installed"):
            moto_transactions.install()
    finally:
        undo()
