"""moto's DynamoDB queries and item serialization, sped up (``local.moto_dynamodb_speed``), answer as moto's own.

Every request runs twice on the same tables, once with moto's own code and once with the speed-ups
installed, and the answers (items, counts, ``LastEvaluatedKey``, error codes) must be equal.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

import local.moto_dynamodb_speed as speed

TASKS = "tasks"
SCORES = "scores"


def _value(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    """A random AttributeValue of every kind DynamoDB has (nested up to two levels)."""
    kinds = ["S", "N", "B", "SS", "NS", "BS", "BOOL", "NULL"] + (["M", "L"] if depth < 2 else [])
    kind = rng.choice(kinds)
    if kind == "S":
        return {"S": rng.choice(["", "a", "ünïcödé", "x" * rng.randint(1, 40)])}
    if kind == "N":
        return {"N": rng.choice(["0", "-1.5", "12345678901234567890", str(rng.randint(-99, 99))])}
    if kind == "B":
        return {"B": bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))}
    if kind == "SS":
        return {"SS": sorted({f"s{rng.randint(0, 9)}" for _ in range(3)})}
    if kind == "NS":
        return {"NS": sorted({str(rng.randint(0, 9)) for _ in range(3)})}
    if kind == "BS":
        return {"BS": list({bytes([rng.randrange(256)]) for _ in range(2)})}
    if kind == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "M":
        return {"M": {f"k{i}": _value(rng, depth + 1) for i in range(rng.randint(0, 3))}}
    return {"L": [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}


def _fill(client: Any) -> None:
    """Two partitions of a string-keyed table (objects, answers, workers: the labeling store's layout) and a
    number-keyed table with an index, items of every attribute type."""
    client.create_table(
        TableName=TASKS,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "status")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.create_table(
        TableName=SCORES,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    rng = random.Random(16)
    for job in ("JOB#a", "JOB#b"):
        keys = [
            "JOB",
            *(f"OBJ#{i:08d}" for i in range(40)),
            *(f"ANS#{i:08d}#w{w}" for i in range(30) for w in (1, 2)),
        ]
        keys += [f"WRK#w{w}" for w in range(3)]
        for sk in rng.sample(keys, len(keys)):  # written in random order: the query sorts
            item = {
                "pk": {"S": job},
                "sk": {"S": sk},
                "count": {"N": str(rng.randint(0, 3))},
                "v": _value(rng),
            }
            if sk == "JOB":
                item["status"] = {"S": "OPEN"}
            client.put_item(TableName=TASKS, Item=item)
    for n in rng.sample(range(-20, 60), 50):
        client.put_item(TableName=SCORES, Item={"pk": {"S": "p"}, "n": {"N": str(n / 4)}, "v": _value(rng)})


QUERIES: list[dict[str, Any]] = [
    # the labeling store's lease query: a page of unfinished objects from the labeling frontier
    {
        "TableName": TASKS,
        "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :from AND :to",
        "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk", "#c": "count"},
        "ExpressionAttributeValues": {
            ":pk": {"S": "JOB#a"},
            ":from": {"S": "OBJ#00000012"},
            ":to": {"S": "OBJ#~"},
            ":n": {"N": "2"},
        },
        "FilterExpression": "#c < :n",
        "Limit": 7,
        "ConsistentRead": True,
    },
    {
        "TableName": TASKS,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "JOB#b"}},
    },
    {
        "TableName": TASKS,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
        "ExpressionAttributeValues": {":pk": {"S": "JOB#a"}, ":p": {"S": "ANS#00000007#"}},
    },
    {
        "TableName": TASKS,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
        "ExpressionAttributeValues": {":pk": {"S": "JOB#a"}, ":p": {"S": "ANS#"}},
        "Limit": 60,  # exactly the matches: LastEvaluatedKey all the same (the next item is past them)
    },
    {
        "TableName": TASKS,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
        "ExpressionAttributeValues": {":pk": {"S": "JOB#a"}, ":p": {"S": "WRK#"}},
        "ScanIndexForward": False,
        "Limit": 3,
    },
    {
        "TableName": TASKS,
        "KeyConditionExpression": "pk = :pk AND sk = :sk",
        "ExpressionAttributeValues": {":pk": {"S": "JOB#b"}, ":sk": {"S": "JOB"}},
    },
    {
        "TableName": TASKS,
        "KeyConditionExpression": "pk = :pk AND sk > :sk",
        "ExpressionAttributeValues": {":pk": {"S": "JOB#b"}, ":sk": {"S": "OBJ#00000038"}},
        "ScanIndexForward": False,
        "Limit": 4,
    },
    {
        "TableName": TASKS,
        "KeyConditionExpression": "pk = :pk AND sk <= :sk",
        "ExpressionAttributeValues": {":pk": {"S": "JOB#b"}, ":sk": {"S": "JOB"}},
        "ProjectionExpression": "sk, v",
    },
    {
        "TableName": TASKS,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "none"}},
    },
    {
        "TableName": TASKS,
        "IndexName": "by-status",
        "KeyConditionExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": "OPEN"}},
    },
    {
        "TableName": TASKS,  # the legacy parameters run as moto runs them
        "KeyConditions": {
            "pk": {"AttributeValueList": [{"S": "JOB#a"}], "ComparisonOperator": "EQ"},
            "sk": {"AttributeValueList": [{"S": "OBJ#"}], "ComparisonOperator": "BEGINS_WITH"},
        },
        "QueryFilter": {"count": {"AttributeValueList": [{"N": "1"}], "ComparisonOperator": "GE"}},
    },
    {
        "TableName": SCORES,
        "KeyConditionExpression": "pk = :pk AND n BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {":pk": {"S": "p"}, ":lo": {"N": "-2.25"}, ":hi": {"N": "7"}},
        "Limit": 9,
    },
    {
        "TableName": SCORES,
        "KeyConditionExpression": "pk = :pk AND n < :hi",
        "ExpressionAttributeValues": {":pk": {"S": "p"}, ":hi": {"N": "1"}},
        "ScanIndexForward": False,
    },
    {
        "TableName": "missing",  # an error comes back as moto's
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "p"}},
    },
]


def _pages(client: Any, query: dict[str, Any]) -> list[Any]:
    """Every page of the query (following LastEvaluatedKey), or the error code."""
    pages: list[Any] = []
    request = dict(query)
    try:
        while True:
            page = client.query(**request)
            page.pop("ResponseMetadata", None)
            pages.append(page)
            if "LastEvaluatedKey" not in page or len(pages) > 50:
                return pages
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ClientError as error:
        return [*pages, error.response["Error"]["Code"]]


def _answers(client: Any) -> list[Any]:
    answers: list[Any] = [_pages(client, query) for query in QUERIES]
    for pk, sk in (("JOB#a", "JOB"), ("JOB#b", "OBJ#00000003"), ("JOB#a", "missing")):
        item = client.get_item(TableName=TASKS, Key={"pk": {"S": pk}, "sk": {"S": sk}})
        item.pop("ResponseMetadata", None)
        answers.append(item)
    scanned = client.scan(TableName=SCORES)
    scanned.pop("ResponseMetadata", None)
    answers.append(scanned)
    return answers


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _fill(dynamodb)
        yield dynamodb


def test_queries_and_items_come_back_as_moto_answers_them(client: Any) -> None:
    # given the same tables, read with moto's own query and serializer
    before = _answers(client)
    # when the speed-ups are installed
    restore = speed.install()
    try:
        after = _answers(client)
    finally:
        restore()
    # then every page, item, count, LastEvaluatedKey and error is the same
    assert after == before
    # and the requests were ones with answers to compare (items of every kind, pages, an error)
    assert sum(len(page["Items"]) for page in before[0] if isinstance(page, dict)) > 0
    assert any(len(pages) > 1 for pages in before)
    assert before[len(QUERIES) - 1] == ["ResourceNotFoundException"]


def test_the_lease_query_reads_the_frontier_not_the_table(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the speed-ups, and moto's whole-table item list made to fail
    restore = speed.install()

    def whole_table(_: Any) -> list[Any]:
        raise AssertionError("the query sorted the whole table")

    monkeypatch.setattr("moto.dynamodb.models.table.Table.all_items", whole_table)
    try:
        # when the labeling store's lease query runs
        pages = _pages(client, QUERIES[0])
    finally:
        restore()
    # then it answered from the partition: objects from the frontier on, a page at a time
    first = [item["sk"]["S"] for item in pages[0]["Items"]]
    assert first and all("OBJ#00000012" <= sk <= "OBJ#00000018" for sk in first)
    assert pages[0]["LastEvaluatedKey"]["sk"] == {"S": "OBJ#00000018"}


def test_install_twice_is_refused_and_restore_puts_moto_back() -> None:
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models.table import Table

    # given moto's own methods
    query, structure = Table.query, BaseJSONSerializer._serialize_type_structure
    # when the speed-ups are installed, installed again, and restored
    restore = speed.install()
    try:
        assert Table.query is not query
        with pytest.raises(RuntimeError, match="already installed"):
            speed.install()
    finally:
        restore()
    # then moto's own are back
    assert Table.query is query and BaseJSONSerializer._serialize_type_structure is structure
