"""One window's inputs: predict's request records and the corrected random capture sample.

Request records are listed by their hour folders and kept when their key's time is in ``[start, end)`` and
the serving run answered them (a deployment within the window leaves the previous model's requests out). At
most MAX_WINDOW_RECORDS are read, spread evenly over the window. Live accuracy reads the capture records of
the last ``accuracy_hours`` (the day folders of ``captured/``), keeps the serving run's random sample
(reason ``sample``: the low-confidence captures are not a fair sample) and pairs each with its correction
under ``captured/feedback/``, when one exists.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gtpipe_shared.capture import CAPTURE_PREFIX, feedback_key
from gtpipe_shared.drift import DriftError, WindowRecord
from gtpipe_shared.drift_monitor import day_prefixes, hour_prefixes, parse_request_record, request_key_time

from monitor.store import evenly, fetch_all, get_json, list_keys

MAX_WINDOW_RECORDS = 5000
MAX_SAMPLE_RECORDS = 5000


def window_records(
    bucket: str, start: datetime, end: datetime, run_id: str, class_names: list[str]
) -> list[WindowRecord]:
    """The serving run's request records of ``[start, end)`` (see the module docstring)."""
    keys = []
    for key in list_keys(bucket, hour_prefixes(start, end)):
        at = request_key_time(key)
        if at is not None and start <= at < end:
            keys.append(key)
    raws = fetch_all(lambda key: get_json(bucket, key), evenly(keys, MAX_WINDOW_RECORDS))
    records = []
    for raw in raws:
        if not isinstance(raw, dict) or raw.get("run_id") != run_id:
            continue
        try:
            records.append(parse_request_record(raw, class_names))
        except DriftError:
            continue  # a record of another version or a damaged one says nothing about this window
    return records


def _capture_time(raw: dict[str, Any]) -> datetime | None:
    value = raw.get("captured_at")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def feedback_pairs(bucket: str, end: datetime, hours: int, run_id: str) -> list[tuple[str, str]]:
    """``(predicted label, corrected label)`` of the serving run's corrected sample captures of the last
    ``hours`` before ``end``."""
    start = end - timedelta(hours=hours)
    keys = [k for k in list_keys(bucket, day_prefixes(CAPTURE_PREFIX, start, end)) if k.endswith(".json")]
    records = fetch_all(lambda key: get_json(bucket, key), evenly(keys, MAX_SAMPLE_RECORDS))
    sampled: list[tuple[str, str]] = []
    for raw in records:
        if not isinstance(raw, dict) or raw.get("reason") != "sample":
            continue
        at = _capture_time(raw)
        model = raw["model"] if isinstance(raw.get("model"), dict) else {}
        prediction = raw["prediction"] if isinstance(raw.get("prediction"), dict) else {}
        label = prediction.get("label")
        if at is None or not start <= at < end or model.get("run_id") != run_id or not isinstance(label, str):
            continue
        sampled.append((str(raw.get("inference_id")), label))
    corrections = fetch_all(lambda pair: get_json(bucket, feedback_key(pair[0])), sampled)
    return [
        (predicted, str(correction["label"]))
        for (_, predicted), correction in zip(sampled, corrections, strict=True)
        if isinstance(correction, dict) and isinstance(correction.get("label"), str)
    ]
