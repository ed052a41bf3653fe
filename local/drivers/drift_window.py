"""One drift-monitoring window on a running local cloud, measured when the caller asks (README "Monitoring").

:func:`measure_window` fires the deployed monitor's schedule now (the monitor takes its window from the
scheduled event's time, so no clock of the caller's decides what is measured) and returns the window summary
it wrote under ``monitoring/windows/``; :func:`check_drift` then evaluates the deployed alarms (local/alarms.py)
and returns the drift alarms' states. The drift end-to-end test and the model-lifecycle loop
(:mod:`local.drivers.lifecycle`) both use them; the cloud must have been deployed with ``gtpipe:monitoring``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

DRIFT_ALARMS = ("Gtpipe-drift-input", "Gtpipe-drift-embedding")
"""The input and embedding drift alarms of the default stack prefix (infra/constructs/drift_monitoring.py)."""
MONITOR_RULE_PREFIX = "GtpipePipeline-DriftMonitoringSchedule"


@dataclass(frozen=True)
class DriftCheck:
    """A measured window's summary and the alarm states evaluated right after it."""

    summary: dict[str, Any]
    states: dict[str, str]

    @property
    def alarming(self) -> list[str]:
        """The drift alarms in ALARM, in :data:`DRIFT_ALARMS` order."""
        return [name for name in DRIFT_ALARMS if self.states.get(name) == "ALARM"]

    def describe(self) -> str:
        """One line for a driver's summary: the drift alarms' states and the window's breached metrics."""
        metrics = self.summary.get("metrics") or {}
        breaches = ", ".join(
            f"{name} {metrics[name]:.3f}" if isinstance(metrics.get(name), int | float) else str(name)
            for name in self.summary.get("breaches") or []
        )
        states = ", ".join(f"{name} {self.states.get(name, 'missing')}" for name in DRIFT_ALARMS)
        return (
            f"{states} (window of {metrics.get('WindowRequests')} requests; breached: {breaches or 'none'})"
        )


def monitor_rule(cloud: Any) -> str:
    """The name of the deployed monitor's schedule."""
    assert cloud.schedules is not None
    names = [name for name in cloud.schedules.names if name.startswith(MONITOR_RULE_PREFIX)]
    assert len(names) == 1, cloud.schedules.names
    return str(names[0])


def measure_window(cloud: Any, *, timeout: float = 120.0, at: float | None = None) -> dict[str, Any]:
    """Fire the monitor's schedule now (its window ends at the event's time) and return the window summary
    it wrote under ``monitoring/windows/``. Waits a second first: the event's time is whole seconds, so a
    request in the firing's own second could fall after the window's end. ``at`` (whole epoch seconds,
    after every request to measure): the window's end instead of now, without waiting (a scenario that
    needs the next window stands in for a window's length of waiting; see :func:`next_window_end`)."""
    bucket = cloud.outputs["DataBucketName"]
    s3 = cloud.client("s3")
    before = set(_window_keys(s3, bucket))
    if at is not None and at <= time.time():
        at = None  # the clock got there first: measure up to now, as without ``at``
    if at is None:
        time.sleep(1.1)
    cloud.fire_schedules(monitor_rule(cloud), at=at)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = sorted(set(_window_keys(s3, bucket)) - before)
        if new:
            return dict(json.loads(s3.get_object(Bucket=bucket, Key=new[-1])["Body"].read()))
        time.sleep(0.5)
    raise AssertionError(f"the monitor wrote no window summary within {timeout} s (see .local/logs/)")


def next_window_end(summary: dict[str, Any], window_minutes: int) -> float:
    """The end (epoch seconds) of the window right after the one ``summary`` measured, for
    :func:`measure_window`'s ``at``: it starts one second after that window's end (so no request of that
    window is in it; whole seconds, as the event's time). Returns once the clock has reached its start, so
    whatever is served from then on falls in it."""
    start = window_end_of(summary) + 1
    time.sleep(max(0.0, start - time.time()))
    return start + window_minutes * 60


def window_end_of(summary: dict[str, Any]) -> float:
    """The end (epoch seconds) of the window a summary measured."""
    return datetime.fromisoformat(str(summary["window"]["end"]).replace("Z", "+00:00")).timestamp()


def check_drift(cloud: Any, *, timeout: float = 120.0) -> DriftCheck:
    """Measure a window now, then evaluate the deployed alarms (each change notifies the topic)."""
    summary = measure_window(cloud, timeout=timeout)
    return DriftCheck(summary, dict(cloud.evaluate_alarms()))


def _window_keys(s3: Any, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="monitoring/windows/")
    return [item["Key"] for page in pages for item in page.get("Contents", [])]
