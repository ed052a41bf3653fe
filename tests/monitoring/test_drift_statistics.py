"""The drift statistics (gtpipe_shared.drift, drift_image, drift_monitor), pure: a baseline of the demo's
digits, windows of other digits (no drift) and of rotated, recoloured digits (drift), PSI, live accuracy,
window gating, keys and the window's end. Deterministic: sklearn's digits in a fixed order, seeded draws."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from gtpipe_shared.config import MonitoringConfig
from gtpipe_shared.drift import (
    CONFIDENCE_BINS,
    DriftError,
    Features,
    WindowRecord,
    breaches,
    build_baseline,
    check_baseline,
    counts,
    embedding_distance,
    input_drift,
    live_accuracy,
    output_drift,
    psi,
    standardized_shift,
)
from gtpipe_shared.drift_image import image_features
from gtpipe_shared.drift_monitor import (
    evaluate_window,
    hour_prefixes,
    parse_request_record,
    request_key,
    request_key_time,
    request_record,
    window_end,
    window_key,
)

from tests.monitoring.streams import digit_images, png, shifted

CLASSES = [str(digit) for digit in range(10)]
DEFAULTS = MonitoringConfig().thresholds


@pytest.fixture(scope="module")
def baseline() -> dict:
    features = [image_features(png(image)) for _, image in digit_images(0, 150)]
    predictions = [(label, 0.9) for label, _ in digit_images(0, 150)]
    return build_baseline(run_id="run-1", class_names=CLASSES, features=features, predictions=predictions)


def window(start: int, count: int, *, drifted: bool) -> list[WindowRecord]:
    return [
        WindowRecord(image_features(png(shifted(image) if drifted else image)), label, 0.9)
        for label, image in digit_images(start, count)
    ]


@pytest.mark.parametrize("start", [300, 600, 900])
def test_digits_like_the_baseline_stay_below_the_default_thresholds(baseline: dict, start: int) -> None:
    # Given a baseline of 150 digits, when a window of 30 other digits arrives,
    # then neither the input statistics nor the embedding moved beyond the default thresholds.
    drift = input_drift(baseline, window(start, 30, drifted=False))
    assert drift["InputShift"] < DEFAULTS.input_shift
    assert drift["EmbeddingDistance"] < DEFAULTS.embedding_distance
    assert drift["SizeShift"] == 0.0


@pytest.mark.parametrize("start", [300, 600, 900])
def test_rotated_recoloured_digits_exceed_the_default_thresholds(baseline: dict, start: int) -> None:
    # Given the same baseline, when the window's digits are rotated and recoloured,
    # then brightness moved many baseline deviations and the embedding far beyond its threshold.
    drift = input_drift(baseline, window(start, 30, drifted=True))
    assert drift["BrightnessShift"] > 5 * DEFAULTS.input_shift
    assert drift["InputShift"] == max(drift[f"{n}Shift"] for n in ("Size", "Brightness", "Contrast", "Blur"))
    assert drift["EmbeddingDistance"] > 5 * DEFAULTS.embedding_distance


def test_rotation_alone_moves_the_embedding_but_not_the_brightness(baseline: dict) -> None:
    # Given digits only rotated (same ink, same ground), then brightness stays, the embedding moves.
    records = [WindowRecord(image_features(png(image.rotate(90)))) for _, image in digit_images(300, 30)]
    drift = input_drift(baseline, records)
    assert drift["BrightnessShift"] < DEFAULTS.input_shift
    assert drift["EmbeddingDistance"] > DEFAULTS.embedding_distance


def test_size_is_the_originals_and_a_constant_baseline_statistic_is_floored(baseline: dict) -> None:
    # Given a baseline whose images are all 32x32 (size std 0), when images of 40x40 arrive,
    # then the shift is finite (divided by the floor, 1% of the mean) and large.
    features = image_features(png(next(digit_images(0, 1))[1]), size=(40, 40))
    assert features.stats["size"] == pytest.approx(40.0)
    assert standardized_shift([40.0], 32.0, 0.0) == pytest.approx(8.0 / 0.32)
    assert standardized_shift([], 32.0, 0.0) == 0.0


def test_embedding_distance_is_zero_for_the_baseline_mean_and_grows_with_the_shift() -> None:
    mean, std = [0.5] * 64, [0.1] * 64
    assert embedding_distance([[0.5] * 64], mean, std) == 0.0
    assert embedding_distance([[0.6] * 64], mean, std) == pytest.approx(1.0)
    assert embedding_distance([[0.7] * 64], mean, std) == pytest.approx(2.0)


def test_psi_is_small_for_draws_of_the_same_distribution_and_large_for_a_shifted_one() -> None:
    # Given seeded draws of ten classes, when a window draws from the same shares,
    # then the PSI is below the default threshold; when it draws mostly two classes, far above.
    rng = random.Random(20261205)
    expected = counts((rng.randrange(10) for _ in range(500)), 10)
    same = counts((rng.randrange(10) for _ in range(200)), 10)
    skewed = counts((rng.choice([3, 3, 3, 8]) for _ in range(200)), 10)
    assert psi(expected, same) < DEFAULTS.class_psi
    assert psi(expected, skewed) > 4 * DEFAULTS.class_psi
    assert psi(expected, [0] * 10) == 0.0
    with pytest.raises(DriftError, match="10 and 9 bins"):
        psi(expected, [1] * 9)


def test_output_drift_compares_predicted_classes_and_confidences(baseline: dict) -> None:
    # Given validation predictions spread over the ten classes at 0.9 confidence,
    # when the window predicts one class at 0.3, then both PSIs exceed their thresholds.
    records = [WindowRecord(Features({}, []), 7, 0.3) for _ in range(40)]
    drift = output_drift(baseline, records)
    assert drift["ClassPsi"] > DEFAULTS.class_psi and drift["ConfidencePsi"] > DEFAULTS.confidence_psi
    assert baseline["confidence_counts"] == [0] * (CONFIDENCE_BINS - 1) + [150]
    no_predictions = {**baseline, "predictions": 0}
    assert output_drift(no_predictions, records) == {}


def test_live_accuracy_and_breaches() -> None:
    assert live_accuracy([]) == (None, 0)
    assert live_accuracy([("cat", "cat"), ("cat", "dog"), ("dog", "dog"), ("dog", "dog")]) == (0.75, 4)
    thresholds = {"InputShift": 1.5, "LiveAccuracy": 0.8}
    assert breaches({"InputShift": 1.6, "LiveAccuracy": 0.9}, thresholds) == ["InputShift"]
    assert breaches({"InputShift": 1.5, "LiveAccuracy": 0.7}, thresholds) == ["LiveAccuracy"]
    assert breaches({}, thresholds) == []


def test_a_window_below_min_requests_puts_no_drift_metrics(baseline: dict) -> None:
    # Given minRequests 20, when a window has 10 drifted requests, then only the counts are put;
    # with 30 it has the drift metrics and names its breaches.
    config = MonitoringConfig(min_requests=20, min_labeled=2)
    end = datetime(2026, 1, 15, 10, tzinfo=UTC)
    small = evaluate_window(
        baseline=baseline,
        records=window(300, 10, drifted=True),
        feedback=[],
        config=config,
        start=end - timedelta(hours=1),
        end=end,
    )
    assert small["metrics"] == {"WindowRequests": 10.0, "LabeledSamples": 0.0}
    assert small["breaches"] == [] and len(small["skipped"]) == 2
    full = evaluate_window(
        baseline=baseline,
        records=window(300, 30, drifted=True),
        feedback=[("1", "1"), ("2", "7")],
        config=config,
        start=end - timedelta(hours=1),
        end=end,
    )
    assert {"InputShift", "EmbeddingDistance", "LiveAccuracy"} <= set(full["breaches"])
    assert full["metrics"]["LiveAccuracy"] == 0.5 and full["metrics"]["LabeledSamples"] == 2.0
    assert full["window"] == {"start": "2026-01-15T09:00:00Z", "end": "2026-01-15T10:00:00Z"}


def test_request_records_round_trip_through_their_keys_and_parse() -> None:
    at = datetime(2026, 1, 15, 9, 59, 58, 123000, tzinfo=UTC)
    key = request_key("0f8fad5b-d9cb-469f-a165-70867728950e", at)
    assert key.startswith("monitoring/requests/2026/01/15/09/20260115T095958.123000Z-")
    assert request_key_time(key) == at
    assert request_key_time("monitoring/requests/2026/01/15/09/other.json") is None
    features = image_features(png(next(digit_images(0, 1))[1]))
    record = request_record(
        inference_id="id",
        at=at,
        features=features,
        answer={"label": "3", "confidence": 0.8},
        serving={"source_run_id": "run-1", "endpoint_name": "e"},
    )
    parsed = parse_request_record(record, CLASSES)
    assert (parsed.predicted, parsed.confidence) == (3, 0.8)
    assert parse_request_record({**record, "label": "cat"}, CLASSES).predicted is None
    with pytest.raises(DriftError, match="embedding of 64"):
        parse_request_record({**record, "embedding": [0.1]}, CLASSES)


def test_hour_prefixes_cover_the_window_and_window_keys_are_dated() -> None:
    end = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
    assert hour_prefixes(end - timedelta(minutes=90), end) == [
        "monitoring/requests/2026/01/15/09/",
        "monitoring/requests/2026/01/15/10/",
    ]
    assert window_key(end) == "monitoring/windows/2026/01/15/20260115T103000Z.json"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "needs a 'time'"),
        ({"time": "yesterday"}, "not ISO 8601"),
        ({"time": "2026-01-15T10:00:00"}, "no time zone"),
        ([], "needs a 'time'"),
    ],
)
def test_the_window_end_comes_from_the_event_time(event: object, message: str) -> None:
    assert window_end({"time": "2026-01-15T10:00:00Z"}) == datetime(2026, 1, 15, 10, tzinfo=UTC)
    with pytest.raises(DriftError, match=message):
        window_end(event)


def test_a_stored_baseline_is_checked(baseline: dict) -> None:
    assert check_baseline(baseline) is baseline
    with pytest.raises(DriftError, match="version 1"):
        check_baseline({"version": 9})
    with pytest.raises(DriftError, match="stats or embedding"):
        check_baseline({"version": 1, "stats": {}, "embedding": {}})
