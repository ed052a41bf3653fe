"""monitor: one drift-monitoring window of the serving endpoint, on a schedule (README "Monitoring").

A scheduled event (``rate(<windowMinutes> minutes)``) asks for the window ending at its ``time``; the
window is ``[time - windowMinutes, time)``, so the same event always measures the same requests, whatever
the clock says when it runs. The ``@serving`` item names the model; its baseline is read or built once
(``monitor.baseline``); the window's request records and corrected samples are read (``monitor.window``);
``gtpipe_shared.drift_monitor.evaluate_window`` computes the metrics. They are put as CloudWatch metrics
(``METRIC_NAMESPACE``, dimensions ``Stack`` and ``Endpoint``, timestamped at the window's end: the stack's
alarms compare them with the thresholds and notify the topic) and the window's summary is written under
``monitoring/windows/`` for the run report.

Answers the summary, or ``{"status": "skipped" | "invalid", "reason"}`` when there is nothing to measure
(no model serves, no baseline can be built) or the event is not a scheduled event with a time; nothing
raises for those, so EventBridge does not retry them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from gtpipe_shared import ledger
from gtpipe_shared.aws import client, table
from gtpipe_shared.config import MonitoringConfig, require_env
from gtpipe_shared.drift import DriftError
from gtpipe_shared.drift_monitor import evaluate_window, window_end, window_key

from monitor.baseline import load_baseline
from monitor.store import put_json
from monitor.window import feedback_pairs, window_records

logger = Logger()
tracer = Tracer()


def metric_data(
    summary: dict[str, Any], end: datetime, dimensions: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """PutMetricData's ``MetricData`` for a window summary: each metric at the window's end."""
    return [
        {
            "MetricName": name,
            "Dimensions": dimensions,
            "Timestamp": end,
            "Value": float(value),
            "Unit": "None",
        }
        for name, value in sorted(summary["metrics"].items())
    ]


def serving_item() -> dict[str, Any] | None:
    """The ``@serving`` ledger item (None when nothing serves)."""
    item = table(require_env("RUNS_TABLE")).get_item(Key={"run_id": ledger.SERVING_RUN_ID}).get("Item")
    return ledger.from_dynamo(item) if item else None


@tracer.capture_method
def monitor(event: Any) -> dict[str, Any]:
    """The whole window (module docstring)."""
    config = MonitoringConfig.model_validate_json(require_env("MONITORING_CONFIG"))
    try:
        end = window_end(event)
    except DriftError as exc:
        return {"status": "invalid", "reason": str(exc)}
    start = end - timedelta(minutes=config.window_minutes)
    serving = serving_item()
    run_id = str((serving or {}).get("source_run_id") or "")
    if not run_id:
        return {"status": "skipped", "reason": "no model serves"}
    class_names = [str(name) for name in serving.get("class_names") or []] if serving else []
    bucket = require_env("DATA_BUCKET")
    try:
        baseline = load_baseline(bucket, run_id, class_names, str((serving or {}).get("task_type") or ""))
    except DriftError as exc:
        logger.warning("no drift baseline", extra={"run_id": run_id, "error": str(exc)})
        return {"status": "skipped", "reason": str(exc)}
    summary = evaluate_window(
        baseline=baseline,
        records=window_records(bucket, start, end, run_id, class_names),
        feedback=feedback_pairs(bucket, end, config.accuracy_hours, run_id),
        config=config,
        start=start,
        end=end,
    )
    dimensions = [
        {"Name": "Stack", "Value": require_env("STACK_PREFIX")},
        {"Name": "Endpoint", "Value": require_env("ENDPOINT_NAME")},
    ]
    client("cloudwatch").put_metric_data(
        Namespace=require_env("METRIC_NAMESPACE"), MetricData=metric_data(summary, end, dimensions)
    )
    put_json(bucket, window_key(end), summary)
    logger.info("drift window", extra={"summary": summary})
    return summary


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scheduled event -> the window's summary (module docstring)."""
    return monitor(event)
