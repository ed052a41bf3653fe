"""The run report's Monitoring section (lambdas/report/monitoring.py): the latest drift-monitoring windows
read from S3, newest first, each metric against its threshold (breaches marked), live accuracy with its
count; no section with monitoring off, a clear line when no window exists. Fixed dates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from gtpipe_shared.drift_monitor import window_key
from moto import mock_aws
from report.model import MONITORING, RunData
from report.monitoring import latest_windows, monitoring_html
from report.page import render_page

from tests.lambdas.conftest import DATA_BUCKET, REGION

AT = datetime(2026, 1, 15, 10, 5, tzinfo=UTC)
THRESHOLDS = {
    "InputShift": 1.5,
    "EmbeddingDistance": 1.0,
    "ClassPsi": 0.5,
    "ConfidencePsi": 0.5,
    "LiveAccuracy": 0.8,
}


def summary(end: datetime, input_shift: float, accuracy: float | None = None) -> dict[str, Any]:
    metrics = {
        "WindowRequests": 40.0,
        "InputShift": input_shift,
        "EmbeddingDistance": 0.3,
        "LabeledSamples": 25.0,
    }
    if accuracy is not None:
        metrics["LiveAccuracy"] = accuracy
    breaches = [name for name in ("InputShift",) if input_shift > 1.5] + (
        ["LiveAccuracy"] if accuracy is not None and accuracy < 0.8 else []
    )
    return {
        "window": {"start": (end - timedelta(hours=1)).isoformat(), "end": end.isoformat()},
        "run_id": "run-1",
        "metrics": metrics,
        "thresholds": THRESHOLDS,
        "breaches": breaches,
    }


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=DATA_BUCKET)
        yield client


def test_the_latest_windows_of_two_days_are_read_newest_first(s3: Any) -> None:
    # Given windows at 08:00 and 10:00 today, 23:00 yesterday and one three days ago
    for end, shift in [
        (AT.replace(hour=8, minute=0), 0.2),
        (AT.replace(hour=10, minute=0), 9.0),
        (AT - timedelta(hours=11), 0.1),
        (AT - timedelta(days=3), 0.4),
    ]:
        s3.put_object(Bucket=DATA_BUCKET, Key=window_key(end), Body=json.dumps(summary(end, shift)).encode())
    # when the report reads them at 10:05, then the three of the two days come back, newest first
    windows = latest_windows(s3, DATA_BUCKET, AT)
    assert [w["metrics"]["InputShift"] for w in windows] == [9.0, 0.2, 0.1]
    assert [w["metrics"]["InputShift"] for w in latest_windows(s3, DATA_BUCKET, AT, limit=1)] == [9.0]


def test_breaches_are_marked_with_their_thresholds_and_live_accuracy_with_its_count() -> None:
    page = monitoring_html([summary(AT, 9.0, accuracy=0.64), summary(AT - timedelta(hours=1), 0.2)])
    drifted, normal = page.split("<tr><td>")[1:]
    assert 'color:#c62828;font-weight:600">9.000 (max 1.5)</td>' in drifted
    assert "0.640 (min 0.8)" in drifted and "<td>25</td>" in drifted
    assert "InputShift, LiveAccuracy" in drifted
    assert "<td>0.200 (max 1.5)</td>" in normal and "none" in normal
    assert '<td class="muted">-</td>' in normal  # no live accuracy in that window


def test_the_page_has_a_monitoring_section_only_with_monitoring_on() -> None:
    off = RunData(run_id="r", outcome="succeeded", task_type="image-classification", class_names=["a"])
    assert 'id="monitoring"' not in render_page(off, [], AT)
    none_yet = RunData(
        run_id="r", outcome="succeeded", task_type="image-classification", class_names=["a"], monitoring=[]
    )
    assert "No monitoring window was measured in the last two days." in render_page(none_yet, [], AT)
    unreadable = RunData(run_id="r", outcome="succeeded", task_type="image-classification", class_names=["a"])
    unreadable.missing(MONITORING, "the drift-monitoring windows could not be read (AccessDenied)")
    assert "not available: the drift-monitoring windows could not be read" in render_page(unreadable, [], AT)
