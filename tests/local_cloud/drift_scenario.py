"""The drift scenario on a local cloud, reusable (README "Monitoring"): serve a stream of images through the
prediction API, measure one monitoring window with the deployed monitor (its schedule fired now), and
evaluate the deployed alarms. The window and alarm helpers live in :mod:`local.drivers.drift_window`
(shared with the model-lifecycle loop); this module adds the test-side streams and the topic inbox.

The cloud must run with ``gtpipe:monitoring`` enabled; with ``schedule_seconds_per_minute=0`` and
``alarm_tick_seconds=0`` the scenario alone decides when windows are measured and alarms evaluated.
:func:`serve_shifted_and_expect_alarm` is the whole "a shifted stream fires the drift alarm" check, for any
scenario that has a model serving (a retrain scenario can call it before and after).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from local.drivers.client import PredictionApi
from local.drivers.drift_window import DRIFT_ALARMS, measure_window, monitor_rule, window_end_of
from tests.local_cloud.conftest import Inbox
from tests.monitoring.streams import digit_images, png, shifted

__all__ = [
    "DRIFT_ALARMS",
    "Served",
    "alarm_notifications",
    "digits",
    "measure_window",
    "monitor_rule",
    "serve",
    "serve_shifted_and_expect_alarm",
]


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


def alarm_notifications(inbox: Inbox, state: str) -> dict[str, dict[str, Any]]:
    """The alarm notifications of ``state`` the inbox received since its last drain, by alarm name."""
    return {n["AlarmName"]: n for n in inbox.drain() if n.get("NewStateValue") == state and "AlarmName" in n}


def serve_shifted_and_expect_alarm(
    cloud: Any, inbox: Inbox, *, start: int = 1200, count: int = 40, at: float | None = None
) -> tuple[dict[str, Any], dict[str, str], dict[str, dict[str, Any]]]:
    """Serve ``count`` rotated, recoloured digits, measure the window (ending now, or at ``at``:
    :func:`local.drivers.drift_window.measure_window`) and evaluate the alarms at its end; asserts the
    window breached the input and embedding thresholds, both drift alarms are in ALARM and each notified the
    topic. Returns (window summary, alarm states, ALARM notifications)."""
    served = serve(cloud, digits(start, count, drifted=True))
    summary = measure_window(cloud, at=at)
    assert summary["metrics"]["WindowRequests"] == len(served.answers), summary
    assert {"InputShift", "EmbeddingDistance"} <= set(summary["breaches"]), summary
    states = cloud.evaluate_alarms(at=None if at is None else window_end_of(summary))
    assert all(states[name] == "ALARM" for name in DRIFT_ALARMS), states
    notified = alarm_notifications(inbox, "ALARM")
    assert set(DRIFT_ALARMS) <= set(notified), notified
    return summary, states, notified
