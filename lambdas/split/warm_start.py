"""The split's side of warm start and dataset versions (``gtpipe_shared.incremental``).

After the split has written the run's dataset version, :func:`decide_and_record` decides whether the run
trains from the serving model (a cumulative run, ``WARM_START=on``, a compatible ``@serving`` model: one
GetItem) and records on the run's ledger item the dataset version it trains on and that decision (one
UpdateItem). The function may read and update the runs table only (``RUNS_TABLE``); without it (the split
run on its own, outside a stack) nothing is looked up or recorded and the run trains from scratch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from gtpipe_shared import ledger
from gtpipe_shared.aws import error_code, table
from gtpipe_shared.incremental import training_data_update, warm_start_decision
from gtpipe_shared.ledger_store import get_run

logger = Logger(child=True)


def decide_and_record(
    *,
    run_id: str,
    dataset: Mapping[str, Any],
    task_type: str,
    class_names: Sequence[str],
    training_image: str | None,
    hyperparameters: Mapping[str, Any],
) -> dict[str, Any]:
    """The warm-start decision (``{"model_uri", ...}`` or ``{"reason"}``), recorded with ``dataset``."""
    table_name = os.environ.get("RUNS_TABLE")
    if not table_name:
        return {"reason": "no runs ledger (RUNS_TABLE is not set)"}
    runs = table(table_name)
    enabled = os.environ.get("WARM_START", "off") == "on"
    cumulative = bool(dataset.get("cumulative"))
    serving = get_run(runs, ledger.SERVING_RUN_ID) if enabled and cumulative else None
    decision = warm_start_decision(
        serving,
        enabled=enabled,
        cumulative=cumulative,
        task_type=task_type,
        class_names=class_names,
        training_image=training_image or "",
        hyperparameters=hyperparameters,
    )
    try:
        runs.update_item(
            **training_data_update(dataset, decision, ledger.now_iso()).kwargs(run_id, return_values="NONE")
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        # A run the ledger does not know (started outside start_run): its split goes on unrecorded.
        logger.warning("run not in ledger; dataset version not recorded", extra={"run_id": run_id})
    logger.info("warm start", extra={"warm_start": decision})
    return decision
