"""The monitor function against moto (lambdas/monitor): the baseline built once from the serving run's
validation split, the window's request records (only the serving run's, only inside the window), live
accuracy from the corrected random sample, the metrics put to CloudWatch at the window's end and the window
summary written; nothing to measure answers why. Dates are fixed (the window ends at the event's time)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from gtpipe_shared import ledger
from gtpipe_shared.capture import capture_keys, feedback_key
from gtpipe_shared.drift_image import image_features
from gtpipe_shared.drift_monitor import baseline_key, request_key, request_record, window_key
from monitor import handler as monitor

from tests.lambdas.conftest import DATA_BUCKET, REGION, Cloud
from tests.monitoring.streams import digit_images, png, shifted

# The window ends on a whole hour shortly before now: the monitor puts its metrics at the window's end, and
# CloudWatch refuses data points more than two weeks old, so a fixed date would age out of what AWS accepts.
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def iso_z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


EVENT = {"detail-type": "Scheduled Event", "source": "aws.events", "time": iso_z(END)}
DIGITS = [str(d) for d in range(10)]
CONFIG = {"enabled": True, "window_minutes": 60, "min_requests": 10, "min_labeled": 2}


@pytest.fixture
def monitored(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    """A model of run-1 serving, its metrics.json, validation manifest, transform outputs and images."""
    for name, value in {
        "MONITORING_CONFIG": json.dumps(CONFIG),
        "METRIC_NAMESPACE": "Gtpipe/Drift",
        "STACK_PREFIX": "Gtpipe",
        "ENDPOINT_NAME": "gtpipe-endpoint",
    }.items():
        monkeypatch.setenv(name, value)
    cloud.runs().put_item(
        Item={
            "run_id": ledger.SERVING_RUN_ID,
            "source_run_id": "run-1",
            "class_names": DIGITS,
            "task_type": "image-classification",
            "endpoint_name": "gtpipe-endpoint",
        }
    )
    lines = []
    for index, (label, image) in enumerate(digit_images(0, 40)):
        cloud.put(f"images/digits/{index}.png", png(image))
        probabilities = [0.01] * 10
        probabilities[label] = 0.91
        cloud.put(f"transform/run-1/{index}.png.out", json.dumps({"prediction": probabilities}))
        lines.append(
            json.dumps({"source-ref": f"s3://{DATA_BUCKET}/images/digits/{index}.png", "category": label})
        )
    cloud.put("splits/run-1/validation.manifest", "\n".join(lines) + "\n")
    metrics = {
        "validation_uri": f"s3://{DATA_BUCKET}/splits/run-1/validation.manifest",
        "transform_output_uri": f"s3://{DATA_BUCKET}/transform/run-1/",
    }
    cloud.put("runs/run-1/metrics.json", json.dumps(metrics))
    yield cloud


def put_requests(
    cloud: Cloud, *, start: int, count: int, drifted: bool, at: datetime, run_id: str = "run-1"
) -> None:
    for offset, (label, image) in enumerate(digit_images(start, count)):
        inference_id = f"00000000-0000-4000-8000-{start + offset:012d}"
        when = at + timedelta(seconds=offset)
        record = request_record(
            inference_id=inference_id,
            at=when,
            features=image_features(png(shifted(image) if drifted else image)),
            answer={"label": DIGITS[label], "confidence": 0.9},
            serving={"source_run_id": run_id, "endpoint_name": "gtpipe-endpoint"},
        )
        cloud.put(request_key(inference_id, when), json.dumps(record))


def put_corrected_sample(cloud: Cloud, inference_id: str, predicted: str, truth: str, at: datetime) -> None:
    _, record_key = capture_keys(inference_id, at, "image/png")
    record = {
        "inference_id": inference_id,
        "captured_at": at.isoformat().replace("+00:00", "Z"),
        "reason": "sample",
        "prediction": {"label": predicted, "confidence": 0.9},
        "model": {"run_id": "run-1"},
    }
    cloud.put(record_key, json.dumps(record))
    cloud.put(feedback_key(inference_id), json.dumps({"label": truth}))


def metric(name: str) -> list[float]:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    points = cloudwatch.get_metric_statistics(
        Namespace="Gtpipe/Drift",
        MetricName=name,
        Dimensions=[{"Name": "Stack", "Value": "Gtpipe"}, {"Name": "Endpoint", "Value": "gtpipe-endpoint"}],
        StartTime=END - timedelta(hours=1),
        EndTime=END + timedelta(seconds=1),
        Period=3600,
        Statistics=["Maximum"],
    )["Datapoints"]
    return [point["Maximum"] for point in points]


def test_a_drifted_window_puts_its_metrics_and_summary(monitored: Cloud) -> None:
    # Given 20 rotated, recoloured requests of the serving run inside the window, 5 outside it and 5 of
    # another run, and two corrected sample captures (one right)
    put_requests(monitored, start=100, count=20, drifted=True, at=END - timedelta(minutes=30))
    put_requests(monitored, start=200, count=5, drifted=False, at=END - timedelta(minutes=90))
    put_requests(monitored, start=300, count=5, drifted=False, at=END - timedelta(minutes=10), run_id="run-0")
    put_corrected_sample(
        monitored, "11111111-0000-4000-8000-000000000001", "3", "3", END - timedelta(hours=2)
    )
    put_corrected_sample(
        monitored, "11111111-0000-4000-8000-000000000002", "3", "8", END - timedelta(hours=3)
    )
    # When the scheduled event of 10:00 arrives
    summary = monitor.monitor(EVENT)
    # then the window is [09:00, 10:00) of run-1's 20 requests, whose drift breaches the input thresholds
    assert summary["window"] == {"start": iso_z(END - timedelta(hours=1)), "end": iso_z(END)}
    assert summary["metrics"]["WindowRequests"] == 20.0
    assert {"InputShift", "EmbeddingDistance", "LiveAccuracy"} <= set(summary["breaches"])
    assert summary["metrics"]["LiveAccuracy"] == 0.5 and summary["metrics"]["LabeledSamples"] == 2.0
    # and the metrics are in CloudWatch at the window's end, the summary and the baseline in S3
    assert metric("InputShift") == [summary["metrics"]["InputShift"]]
    assert metric("ClassPsi") == [summary["metrics"]["ClassPsi"]]
    assert json.loads(monitored.read(window_key(END))) == summary
    baseline = json.loads(monitored.read(baseline_key("run-1")))
    assert baseline["images"] == 40 and baseline["predictions"] == 40
    assert sum(baseline["class_counts"]) == 40 and baseline["confidence_counts"][9] == 40


def test_the_baseline_is_built_once_and_read_afterwards(monitored: Cloud) -> None:
    put_requests(monitored, start=100, count=12, drifted=False, at=END - timedelta(minutes=30))
    first = monitor.monitor(EVENT)
    # Given the split has expired since the first window, when the next window is measured
    monitored.s3.delete_object(Bucket=DATA_BUCKET, Key="splits/run-1/validation.manifest")
    second = monitor.monitor({**EVENT, "time": iso_z(END + timedelta(minutes=30))})
    # then the stored baseline is used (same metrics for the same requests, all below the thresholds)
    assert second["metrics"]["InputShift"] == first["metrics"]["InputShift"]
    assert first["breaches"] == [] and first["metrics"]["WindowRequests"] == 12.0


def test_too_few_requests_put_only_the_counts(monitored: Cloud) -> None:
    put_requests(monitored, start=100, count=3, drifted=True, at=END - timedelta(minutes=5))
    summary = monitor.monitor(EVENT)
    assert summary["metrics"] == {"WindowRequests": 3.0, "LabeledSamples": 0.0}
    assert summary["breaches"] == [] and metric("InputShift") == []


def test_nothing_to_measure_answers_why(monitored: Cloud) -> None:
    assert monitor.monitor({"detail": {}}) == {
        "status": "invalid",
        "reason": "the monitor's event needs a 'time' (ISO 8601, as scheduled events carry)",
    }
    monitored.runs().put_item(Item={"run_id": ledger.SERVING_RUN_ID, "source_run_id": "run-9"})
    skipped = monitor.monitor(EVENT)
    assert skipped["status"] == "skipped" and "run-9" in skipped["reason"]
    monitored.runs().delete_item(Key={"run_id": ledger.SERVING_RUN_ID})
    assert monitor.monitor(EVENT) == {"status": "skipped", "reason": "no model serves"}
