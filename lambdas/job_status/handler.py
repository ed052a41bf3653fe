"""job_status: SageMaker job state changes -> the run's ``steps.<step>`` record in the ledger.

The job name says which run and step it belongs to (``<run_id>-<step>-<retry>``). Jobs whose names do
not parse, or whose run is not in the ledger, are not gtpipe's: they are ignored and no item is created.
Records only move forward (see ``gtpipe_shared.ledger``), so duplicate and out-of-order events are
harmless. A job failure is published to SNS once (when the step first becomes Failed).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from gtpipe_shared import ledger
from gtpipe_shared.aws import publish, table
from gtpipe_shared.config import require_env
from gtpipe_shared.events import SageMakerStateChange, parse_sagemaker_state_change
from gtpipe_shared.ledger_store import record_step
from gtpipe_shared.naming import parse_job_name

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def step_record(change: SageMakerStateChange) -> ledger.StepRecord:
    """The ledger record of one state change (event time orders records of equal rank)."""
    terminal = ledger.status_rank(change.status) == 2
    return ledger.StepRecord(
        status=change.status,
        event_time=ledger.now_iso(change.time),
        job_name=change.name,
        secondary_status=change.secondary_status,
        failure_reason=change.failure_reason,
        started_at=change.started_at,
        ended_at=change.ended_at or (ledger.now_iso(change.time) if terminal else None),
        extra={"kind": change.kind},
    )


@tracer.capture_method
def handle(change: SageMakerStateChange) -> dict[str, Any]:
    """Record the change on its run; notify on a new failure."""
    parsed = parse_job_name(change.name)
    if parsed is None:
        return {"ignored": True, "reason": "not a gtpipe job name", "job_name": change.name}
    run_id, step = parsed
    logger.append_keys(run_id=run_id, step=step, job_status=change.status)
    runs = table(require_env("RUNS_TABLE"))
    now = ledger.now_iso()
    result = record_step(runs, run_id, step, step_record(change), now)
    if result.outcome == "unknown-run":
        return {"ignored": True, "reason": "run not in ledger", "job_name": change.name}
    if result.outcome == "stale":
        logger.info("stale or duplicate job event ignored")
        return {"run_id": run_id, "step": step, "status": change.status, "outcome": "stale"}
    previous = ((result.old or {}).get("steps") or {}).get(step) or {}
    newly_failed = change.status in ledger.FAILURE_STATUSES and previous.get("status") != change.status
    if newly_failed:
        metrics.add_metric(name="JobFailures", unit=MetricUnit.Count, value=1)
        reason = change.failure_reason or change.status
        publish(
            require_env("TOPIC_ARN"),
            f"gtpipe run {run_id}: {step} job {change.status}",
            {
                "run_id": run_id,
                "status": change.status,
                "step": step,
                "job_name": change.name,
                "reason": reason,
                "kind": change.kind,
            },
        )
    return {
        "run_id": run_id,
        "step": step,
        "status": change.status,
        "outcome": "updated",
        "notified": newly_failed,
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """EventBridge SageMaker state change -> ledger update."""
    change = parse_sagemaker_state_change(event)
    metrics.add_metric(name="JobEvents", unit=MetricUnit.Count, value=1)
    return handle(change)
