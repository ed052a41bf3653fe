"""Reading the runs ledger (DynamoDB; docs/design.md, "Runs ledger")."""

from __future__ import annotations

from typing import Any

from gtpipe_shared.ledger import SERVING_RUN_ID, from_low_level_item

from gtpipe_cli.progress import get_run


def recent_runs(dynamodb: Any, table: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Ledger items of runs, newest ``created_at`` first (records such as ``@serving`` and
    ``@endpoint-usage`` left out: no run id starts with ``@``).

    A scan: the ledger holds one small item per run, and runs have no common partition to query by time.
    """
    runs = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for raw in page.get("Items", []):
            run = from_low_level_item(raw)
            if not str(run.get("run_id", "")).startswith("@"):
                runs.append(run)
    runs.sort(key=lambda run: (str(run.get("created_at") or ""), str(run.get("run_id"))), reverse=True)
    return runs if limit is None else runs[:limit]


def serving(dynamodb: Any, table: str) -> dict[str, Any] | None:
    """The ``@serving`` item (which run's model the API serves), or None before any deployment."""
    return get_run(dynamodb, table, SERVING_RUN_ID)
