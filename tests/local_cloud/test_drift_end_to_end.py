"""Drift monitoring end to end on the local cloud (slow: a real run trains and deploys a model).

A model trained on the demo's digits serves; a window of digits like those it trained on raises no drift
alarm (and live accuracy comes from the corrected random sample); a window of rotated, recoloured digits
fires the input and embedding drift alarms, which notify the topic (the local alarm evaluator,
local/alarms.py). Windows last one minute here, so the shifted window waits for the normal one to pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gtpipe_shared.config import MonitoringConfig

from local.drivers.client import PredictionApi
from local.drivers.drift_window import next_window_end
from local.drivers.runs import follow_run
from tests.local_cloud.conftest import FOLLOW_INTERVAL, Dataset, Inbox, jsonl, running_cloud, small_context
from tests.local_cloud.drift_scenario import (
    DRIFT_ALARMS,
    alarm_notifications,
    digits,
    measure_window,
    serve,
    serve_shifted_and_expect_alarm,
)
from training.datasets import CLASS_NAMES, augmented_manifest_line

pytestmark = pytest.mark.slow

WINDOW_MINUTES = 1
MONITORING = {
    "enabled": True,
    "windowMinutes": WINDOW_MINUTES,
    "minRequests": 20,
    "minLabeled": 10,
    # The 6-epoch test model is right on most digits, not all: this threshold is only crossed by drift.
    "thresholds": {"liveAccuracy": 0.3},
}
NORMAL = 40


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The test configuration with drift monitoring on and every request captured as the random sample
    (samplePercent 100 with no confidence threshold); windows and alarm evaluations happen when the test
    asks (no timers)."""
    context = {
        **small_context(),
        "gtpipe:monitoring": MONITORING,
        "gtpipe:capture": {"samplePercent": 100, "confidenceThreshold": 0},
    }
    with running_cloud(
        tmp_path_factory.mktemp("drift-cloud"),
        context,
        "cdk.out-drift",
        schedule_seconds_per_minute=0,
        alarm_tick_seconds=0,
    ) as local_cloud:
        yield local_cloud


@pytest.fixture(scope="module")
def serving_run(cloud: Any, dataset: Dataset) -> str:
    """An augmented manifest of the digits, trained and deployed: the serving run's id."""
    lines = [augmented_manifest_line(r, "category", job_name="prelabeled") for r in dataset.labeled]
    put = cloud.client("s3").put_object(Bucket=dataset.bucket, Key="incoming/drift.jsonl", Body=jsonl(lines))
    progress = follow_run(
        cloud.client("dynamodb"),
        cloud.client("stepfunctions"),
        cloud.outputs["RunsTableName"],
        "incoming/drift.jsonl",
        put.get("VersionId"),
        timeout=420.0,
        interval=FOLLOW_INTERVAL,
    )
    assert progress.run_status == "SUCCEEDED", progress.run
    cloud.wait_idle(30)
    return str(progress.run_id)


def correct_the_sample(cloud: Any, answers: list[tuple[int, dict[str, Any]]]) -> int:
    """POST /feedback with the true class of every captured answer; how many of them the model got right."""
    api = PredictionApi(cloud.outputs)
    right = 0
    for label, answer in answers:
        assert answer["captured"] is True, answer
        body = {"inference_id": answer["inference_id"], "label": CLASS_NAMES[label]}
        response = api.post("/feedback", jsonl([body]).strip(), "application/json")
        assert response.status == 201, response.body[:300]
        right += answer["label"] == CLASS_NAMES[label]
    return right


def test_a_shifted_stream_fires_the_drift_alarms_and_a_normal_one_does_not(
    cloud: Any, serving_run: str
) -> None:
    inbox = Inbox.subscribe(cloud, "drift-inbox")
    bucket = cloud.outputs["DataBucketName"]
    # Given a model serving, when digits like its training data are served (and the window measured at once,
    # so all of them fall in its minute)
    normal = serve(cloud, digits(1000, NORMAL, drifted=False))
    summary = measure_window(cloud)
    # then the window counts them and measures the drift below every threshold
    assert summary["run_id"] == serving_run
    assert summary["metrics"]["WindowRequests"] == NORMAL, summary
    assert summary["breaches"] == [], summary
    assert "LiveAccuracy" not in summary["metrics"]  # nothing corrected yet
    # and the baseline was built once, from the serving run's validation split, beside its metrics
    baseline_key = f"runs/{serving_run}/drift-baseline.json"
    assert cloud.client("s3").head_object(Bucket=bucket, Key=baseline_key)["ContentLength"] > 0
    # and no alarm is in ALARM; the drift alarms left INSUFFICIENT_DATA for OK and said so
    states = cloud.evaluate_alarms()
    assert not [name for name, state in states.items() if state == "ALARM"], states
    assert all(states[name] == "OK" for name in DRIFT_ALARMS), states
    assert set(DRIFT_ALARMS) <= set(alarm_notifications(inbox, "OK"))
    # When users correct the normal digits' answers (every request was captured as the random sample),
    # the normal window has passed and rotated, recoloured digits are served
    right = correct_the_sample(cloud, normal.answers)
    # (the next window is measured at its end, a minute on, instead of sleeping until then: the monitor
    # and the alarms take their time from the scheduled event and the evaluation, not from the clock)
    later = next_window_end(summary, WINDOW_MINUTES)
    summary, states, notified = serve_shifted_and_expect_alarm(cloud, inbox, at=later)
    # then the input and embedding drift alarms fire and notify the topic with CloudWatch's message
    assert summary["metrics"]["InputShift"] > MonitoringConfig().thresholds.input_shift
    message = notified["Gtpipe-drift-input"]
    assert message["Trigger"]["Namespace"] == "Gtpipe/Drift"
    assert message["Trigger"]["MetricName"] == "InputShift"
    assert message["OldStateValue"] == "OK"
    # and live accuracy (corrections of the last accuracyHours) is exactly the share the model got right
    assert summary["metrics"]["LabeledSamples"] == NORMAL
    assert summary["metrics"]["LiveAccuracy"] == pytest.approx(right / NORMAL, abs=1e-6)
