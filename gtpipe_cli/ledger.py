"""Reading the runs ledger (DynamoDB; docs/design.md, "Runs ledger")."""

from __future__ import annotations

from typing import Any

from gtpipe_shared.ledger import SERVING_RUN_ID, from_low_level_item

from gtpipe_cli.progress import get_run


def recent_runs(dynamodb: Any, table: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Ledger items of runs, newest ``created_at`` first (the ``@serving`` item left out).

    A scan: the ledger holds one small item per run, and runs have no common partition to query by time.
    """
    runs = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for raw in page.get("Items", []):
            run = from_low_level_item(raw)
            if run.get("run_id") != SERVING_RUN_ID:
                runs.append(run)
    runs.sort(key=lambda run: (str(run.get("created_at") or ""), str(run.get("run_id"))), reverse=True)
    return runs if limit is None else runs[:limit]


def serving(dynamodb: Any, table: str) -> dict[str, Any] | None:
    """The ``@serving`` item (which run's model the API serves), or None before any deployment."""
    return get_run(dynamodb, table, SERVING_RUN_ID)
