"""The drift scenario on a local cloud, reusable (README "Monitoring"): serve a stream of images through the
prediction API, measure one monitoring window with the deployed monitor (its schedule fired now), and
evaluate the deployed alarms.

The cloud must run with ``gtpipe:monitoring`` enabled; with ``schedule_seconds_per_minute=0`` and
``alarm_tick_seconds=0`` the scenario alone decides when windows are measured and alarms evaluated.
:func:`serve_shifted_and_expect_alarm` is the whole "a shifted stream fires the drift alarm" check, for any
scenario that has a model serving (a retrain scenario can call it before and after).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from local.drivers.client import PredictionApi
from tests.local_cloud.conftest import Inbox
from tests.monitoring.streams import digit_images, png, shifted

DRIFT_ALARMS = ("Gtpipe-drift-input", "Gtpipe-drift-embedding")
MONITOR_RULE_PREFIX = "GtpipePipeline-DriftMonitoringSchedule"


@dataclass
class Served:
    """What the API answered for a stream: (true class index, answer JSON) per image."""

    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def serve(cloud: Any, images: Iterable[tuple[int, bytes]]) -> Served:
    """POST each ``(class index, PNG bytes)`` to ``/predict``; every answer must be 200."""
    api = PredictionApi(cloud.outputs)
    served = Served()
    for label, data in images:
        response = api.predict(data)
        assert response.status == 200, response.body[:300]
        served.answers.append((label, response.json()))
    return served


def digits(start: int, count: int, *, drifted: bool) -> list[tuple[int, bytes]]:
    """``count`` digits from ``start``: as trained on, or rotated and recoloured (``drifted``)."""
    return [(label, png(shifted(image) if drifted else image)) for label, image in digit_images(start, count)]


def monitor_rule(cloud: Any) -> str:
    """The name of the deployed monitor's schedule."""
    assert cloud.schedules is not None
    names = [name for name in cloud.schedules.names if name.startswith(MONITOR_RULE_PREFIX)]
    assert len(names) == 1, cloud.schedules.names
    return names[0]


def measure_window(cloud: Any, *, timeout: float = 120.0) -> dict[str, Any]:
    """Fire the monitor's schedule now (its window ends at the event's time) and return the window summary
    it wrote under ``monitoring/windows/``. Waits a second first: the event's time is whole seconds, so a
    request in the firing's own second could fall after the window's end."""
    bucket = cloud.outputs["DataBucketName"]
    s3 = cloud.client("s3")
    before = set(_window_keys(s3, bucket))
    time.sleep(1.1)
    cloud.fire_schedules(monitor_rule(cloud))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = sorted(set(_window_keys(s3, bucket)) - before)
        if new:
            return json.loads(s3.get_object(Bucket=bucket, Key=new[-1])["Body"].read())
        time.sleep(0.5)
    raise AssertionError(f"the monitor wrote no window summary within {timeout} s (see .local/logs/)")


def _window_keys(s3: Any, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="monitoring/windows/")
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def alarm_notifications(inbox: Inbox, state: str) -> dict[str, dict[str, Any]]:
    """The alarm notifications of ``state`` the inbox received since its last drain, by alarm name."""
    return {n["AlarmName"]: n for n in inbox.drain() if n.get("NewStateValue") == state and "AlarmName" in n}


def serve_shifted_and_expect_alarm(
    cloud: Any, inbox: Inbox, *, start: int = 1200, count: int = 40
) -> tuple[dict[str, Any], dict[str, str], dict[str, dict[str, Any]]]:
    """Serve ``count`` rotated, recoloured digits, measure the window and evaluate the alarms; asserts the
    window breached the input and embedding thresholds, both drift alarms are in ALARM and each notified the
    topic. Returns (window summary, alarm states, ALARM notifications)."""
    served = serve(cloud, digits(start, count, drifted=True))
    summary = measure_window(cloud)
    assert summary["metrics"]["WindowRequests"] == len(served.answers), summary
    assert {"InputShift", "EmbeddingDistance"} <= set(summary["breaches"]), summary
    states = cloud.evaluate_alarms()
    assert all(states[name] == "ALARM" for name in DRIFT_ALARMS), states
    notified = alarm_notifications(inbox, "ALARM")
    assert set(DRIFT_ALARMS) <= set(notified), notified
    return summary, states, notified
