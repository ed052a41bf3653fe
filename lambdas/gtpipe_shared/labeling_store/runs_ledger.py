"""The job's progress on its run item in the runs ledger (``labeling_progress``)."""

from __future__ import annotations

from typing import Any

from gtpipe_shared import ledger
from gtpipe_shared.labeling_store.dynamo import conditional
from gtpipe_shared.labeling_store.keys import iso
from gtpipe_shared.labeling_store.models import Progress


def ledger_progress(progress_now: Progress, now: float) -> dict[str, Any]:
    """The run item's ``labeling_progress`` map (docs/labeling-service.md, "Ledger")."""
    return {
        "job_name": progress_now.job_name,
        "objects": progress_now.objects,
        "objects_done": progress_now.objects_done,
        "answers_done": progress_now.answers_done,
        "answers_needed": progress_now.answers_needed,
        "updated_at": iso(now),
    }


def record_ledger_progress(runs_table: Any, run_id: str, progress_now: Progress, now: float) -> bool:
    """Write ``labeling_progress`` on the run item; False when the run is not in the ledger (nothing
    written: the ledger never gets items for foreign runs)."""
    done = conditional(
        runs_table.update_item,
        Key={"run_id": run_id},
        UpdateExpression="SET labeling_progress = :progress, updated_at = :now",
        ConditionExpression="attribute_exists(run_id)",
        ExpressionAttributeValues=ledger.to_dynamo(
            {":progress": ledger_progress(progress_now, now), ":now": iso(now)}
        ),
    )
    return done is not None
