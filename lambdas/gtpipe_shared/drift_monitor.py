"""Drift monitoring's objects and windows, pure: where predict's request records, each model's baseline and
each window's summary live, their shapes, and one window's evaluation (README "Monitoring").

- ``monitoring/requests/<yyyy>/<mm>/<dd>/<hh>/<yyyymmddThhmmss.ffffff>Z-<inference id>.json``: one per
  answered request (``predict.drift_record``); the key's hour folder and time let the monitor list one
  window without reading records outside it.
- ``runs/<run id>/drift-baseline.json``: the baseline of the model that run trained, beside its
  ``metrics.json`` (``gtpipe_shared.naming.metrics_key``); the ``@serving`` item's ``source_run_id`` names it,
  for a rollback too (the package's run).
- ``monitoring/windows/<yyyy>/<mm>/<dd>/<yyyymmddThhmmss>Z.json``: each window's metrics, thresholds and
  breaches (the report's monitoring section reads the latest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from gtpipe_shared.drift import (
    METRIC_CLASS_PSI,
    METRIC_CONFIDENCE_PSI,
    METRIC_EMBEDDING,
    METRIC_INPUT_SHIFT,
    METRIC_LABELED,
    METRIC_LIVE_ACCURACY,
    METRIC_REQUESTS,
    DriftError,
    Features,
    WindowRecord,
    breaches,
    input_drift,
    live_accuracy,
    output_drift,
)

if TYPE_CHECKING:
    # Types only: the report's page imports this module with its layer alone, which has no pydantic.
    from gtpipe_shared.config import MonitoringConfig

REQUESTS_PREFIX = "monitoring/requests/"
# A window reads its records once (windows last at most a day); a week leaves time to look into an alarm.
REQUEST_RECORD_RETENTION_DAYS = 7
WINDOWS_PREFIX = "monitoring/windows/"
RECORD_VERSION = 1
_KEY_TIME = "%Y%m%dT%H%M%S.%fZ"


def baseline_key(run_id: str) -> str:
    """The baseline of the model run ``run_id`` trained: ``runs/<run_id>/drift-baseline.json``."""
    return f"runs/{run_id}/drift-baseline.json"


def request_key(inference_id: str, at: datetime) -> str:
    """The key of one request record, dated by ``at`` (UTC)."""
    moment = at.astimezone(UTC)
    return f"{REQUESTS_PREFIX}{moment:%Y/%m/%d/%H}/{moment.strftime(_KEY_TIME)}-{inference_id}.json"


def request_key_time(key: str) -> datetime | None:
    """The request time a record's key carries; None for a key of another shape."""
    name = key.rsplit("/", 1)[-1]
    stamp = name.split("-", 1)[0]
    try:
        return datetime.strptime(stamp, _KEY_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


def hour_prefixes(start: datetime, end: datetime) -> list[str]:
    """The hour folders of request records that can hold a request in ``[start, end)``."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    found = []
    while hour < end:
        found.append(f"{REQUESTS_PREFIX}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return found


def day_prefixes(prefix: str, start: datetime, end: datetime) -> list[str]:
    """``<prefix><yyyy>/<mm>/<dd>/`` of every UTC day overlapping ``[start, end)`` (the capture layout)."""
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    found = []
    while day < end:
        found.append(f"{prefix}{day:%Y/%m/%d}/")
        day += timedelta(days=1)
    return found


def window_key(end: datetime) -> str:
    """The key of the summary of the window ending at ``end``."""
    moment = end.astimezone(UTC)
    return f"{WINDOWS_PREFIX}{moment:%Y/%m/%d}/{moment:%Y%m%dT%H%M%S}Z.json"


def window_end(event: Any) -> datetime:
    """The end of the window a scheduled event asks for: its ``time`` (EventBridge's scheduled events carry
    the time the rule fired, ISO 8601 in UTC). DriftError naming the problem otherwise."""
    raw = event.get("time") if isinstance(event, Mapping) else None
    if not isinstance(raw, str):
        raise DriftError("the monitor's event needs a 'time' (ISO 8601, as scheduled events carry)")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise DriftError(f"the monitor's event time {raw!r} is not ISO 8601") from exc
    if moment.tzinfo is None:
        raise DriftError(f"the monitor's event time {raw!r} has no time zone")
    return moment.astimezone(UTC)


def request_record(
    *,
    inference_id: str,
    at: datetime,
    features: Features,
    answer: Mapping[str, Any],
    serving: Mapping[str, Any],
) -> dict[str, Any]:
    """The record predict keeps of one answered request (no image)."""
    return {
        "version": RECORD_VERSION,
        "inference_id": inference_id,
        "at": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "run_id": serving.get("source_run_id"),
        "endpoint_name": serving.get("endpoint_name"),
        "label": answer.get("label"),
        "confidence": answer.get("confidence"),
        **features.to_json(),
    }


def parse_request_record(raw: Any, class_names: Sequence[str]) -> WindowRecord:
    """A request record as a :class:`WindowRecord` (its label as an index into ``class_names``; a label
    outside them, or none, counts for input drift only). DriftError when the features are unusable."""
    if not isinstance(raw, Mapping) or raw.get("version") != RECORD_VERSION:
        raise DriftError(f"not a request record of version {RECORD_VERSION}")
    features = Features.from_json(raw)
    label, confidence = raw.get("label"), raw.get("confidence")
    names = list(class_names)
    if isinstance(label, str) and label in names and isinstance(confidence, int | float):
        return WindowRecord(features, names.index(label), float(confidence))
    return WindowRecord(features)


def threshold_map(config: MonitoringConfig) -> dict[str, float]:
    """Metric name -> alarm threshold (the alarms of infra/constructs/drift_monitoring.py use the same)."""
    thresholds = config.thresholds
    return {
        METRIC_INPUT_SHIFT: thresholds.input_shift,
        METRIC_EMBEDDING: thresholds.embedding_distance,
        METRIC_CLASS_PSI: thresholds.class_psi,
        METRIC_CONFIDENCE_PSI: thresholds.confidence_psi,
        METRIC_LIVE_ACCURACY: thresholds.live_accuracy,
    }


def evaluate_window(
    *,
    baseline: Mapping[str, Any],
    records: Sequence[WindowRecord],
    feedback: Sequence[tuple[str, str]],
    config: MonitoringConfig,
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """One window's summary: ``metrics`` to put (drift metrics only with at least ``min_requests`` records;
    ``LiveAccuracy`` only with at least ``min_labeled`` corrected samples), the thresholds, what breaches
    them, and ``skipped`` reasons."""
    values: dict[str, float] = {METRIC_REQUESTS: float(len(records))}
    skipped: list[str] = []
    if len(records) >= config.min_requests:
        values.update(input_drift(baseline, records))
        values.update(output_drift(baseline, records))
    else:
        skipped.append(f"{len(records)} requests in the window, fewer than minRequests {config.min_requests}")
    accuracy, labeled = live_accuracy(feedback)
    values[METRIC_LABELED] = float(labeled)
    if accuracy is not None and labeled >= config.min_labeled:
        values[METRIC_LIVE_ACCURACY] = accuracy
    else:
        skipped.append(f"{labeled} corrected sample captures, fewer than minLabeled {config.min_labeled}")
    thresholds = threshold_map(config)
    return {
        "version": RECORD_VERSION,
        "window": {
            "start": start.isoformat().replace("+00:00", "Z"),
            "end": end.isoformat().replace("+00:00", "Z"),
        },
        "run_id": baseline.get("run_id"),
        "metrics": {name: round(value, 6) for name, value in values.items()},
        "thresholds": thresholds,
        "breaches": breaches(values, thresholds),
        "skipped": skipped,
    }
