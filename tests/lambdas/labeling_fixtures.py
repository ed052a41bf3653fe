"""Shared pieces of the builtin labeling service's tests: the tasks table as the contracts declare it."""

from __future__ import annotations

from typing import Any

LABELING_TABLE = "gtpipe-labeling"


def create_labeling_table(dynamodb: Any, name: str = LABELING_TABLE) -> Any:
    """The tasks table (docs/labeling-service.md): pk/sk strings, sparse GSI ``open-jobs``
    (partition ``open_jobs``, sort ``created_at``, all attributes projected)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": attribute, "AttributeType": "S"}
            for attribute in ("pk", "sk", "open_jobs", "created_at")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "open-jobs",
                "KeySchema": [
                    {"AttributeName": "open_jobs", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb.Table(name)
