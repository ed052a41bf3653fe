"""gtpipe_shared.capture: the capture decision, the keys and the records (pure; no AWS)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from gtpipe_shared import capture
from gtpipe_shared.config import CaptureConfig

ON = CaptureConfig(confidence_threshold=0.6, sample_percent=5)
AT = datetime(2026, 1, 2, 23, 30, tzinfo=UTC)
ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize(
    ("confidence", "draw", "reason"),
    [
        (0.59, 0.99, "low-confidence"),
        (0.0, 0.0, "low-confidence"),
        (0.6, 0.049, "sample"),
        (0.99, 0.0, "sample"),
        (0.6, 0.05, None),
        (0.99, 0.5, None),
    ],
)
def test_low_confidence_is_always_kept_and_the_rest_by_the_random_draw(
    confidence: float, draw: float, reason: str | None
) -> None:
    assert capture.capture_reason(confidence, ON, draw) == reason


def test_disabled_capture_keeps_nothing() -> None:
    off = CaptureConfig(enabled=False, sample_percent=100)
    assert capture.capture_reason(0.0, off, 0.0) is None


def test_the_sample_share_follows_sample_percent_with_a_seeded_random_source() -> None:
    rng = random.Random(7)
    kept = sum(capture.capture_reason(0.9, ON, rng.random()) == "sample" for _ in range(20_000))
    assert 0.04 < kept / 20_000 < 0.06
    rng_again = random.Random(7)
    again = sum(capture.capture_reason(0.9, ON, rng_again.random()) == "sample" for _ in range(20_000))
    assert again == kept


def test_answer_confidence_of_classification_and_detection() -> None:
    assert capture.answer_confidence({"label": "cat", "confidence": 0.7}) == 0.7
    boxes = {"detections": [{"confidence": 0.55}, {"confidence": 0.8}]}
    assert capture.answer_confidence(boxes) == 0.8
    assert capture.answer_confidence({"detections": []}) == 0.0


@pytest.mark.parametrize(
    ("value", "out"), [("off", True), (" OFF ", True), ("false", True), ("on", False), (None, False)]
)
def test_opt_out_header_values(value: str | None, out: bool) -> None:
    assert capture.opted_out(value) is out


def test_inference_ids_are_canonical_uuid4() -> None:
    made = capture.new_inference_id()
    assert capture.valid_inference_id(made) and made != capture.new_inference_id()
    assert capture.valid_inference_id(ID)
    for bad in (ID.upper(), "x", "", None, 42, "0f8fad5b-d9cb-169f-a165-70867728950e", ID + "\n", "../" + ID):
        assert not capture.valid_inference_id(bad)


def test_keys_are_dated_in_utc_under_captured() -> None:
    local = AT.astimezone(timezone(timedelta(hours=5)))  # already 3 January there
    assert capture.capture_keys(ID, local, "image/png") == (
        f"captured/2026/01/02/{ID}.png",
        f"captured/2026/01/02/{ID}.json",
    )
    assert capture.capture_keys(ID, AT, "image/jpeg")[0].endswith(".jpg")
    assert capture.pointer_key(ID) == f"captured/ids/{ID}.json"
    assert capture.feedback_key(ID) == f"captured/feedback/{ID}.json"


def test_capture_record_shape() -> None:
    answer = {"label": "cat", "confidence": 0.4, "probabilities": {"cat": 0.4, "dog": 0.6}}
    serving = {
        "source_run_id": "run-1",
        "endpoint_name": "gtpipe-endpoint",
        "endpoint_config_name": "epc",
        "model_name": "m",
        "task_type": "image-classification",
        "metrics": {"accuracy": 0.9},
    }
    record = capture.capture_record(
        inference_id=ID,
        at=AT,
        reason="low-confidence",
        answer=answer,
        class_names=["cat", "dog"],
        serving=serving,
        image_key="captured/2026/01/02/x.png",
        image_type="image/png",
        config=ON,
    )
    assert record == {
        "version": 1,
        "inference_id": ID,
        "captured_at": "2026-01-02T23:30:00.000Z",
        "reason": "low-confidence",
        "confidence": 0.4,
        "prediction": answer,
        "class_names": ["cat", "dog"],
        "model": {
            "run_id": "run-1",
            "endpoint_name": "gtpipe-endpoint",
            "endpoint_config_name": "epc",
            "model_name": "m",
            "task_type": "image-classification",
        },
        "image": {"key": "captured/2026/01/02/x.png", "type": "image/png"},
        "capture": {"confidence_threshold": 0.6, "sample_percent": 5.0},
    }
    assert capture.feedback_record(inference_id=ID, label="dog", record_key="k", at=AT) == {
        "version": 1,
        "inference_id": ID,
        "label": "dog",
        "record": "k",
        "received_at": "2026-01-02T23:30:00.000Z",
    }


def test_capture_config_bounds() -> None:
    assert CaptureConfig() == CaptureConfig(
        enabled=True, confidence_threshold=0.6, sample_percent=5, retention_days=90
    )
    for bad in ({"sample_percent": 101}, {"confidence_threshold": -0.1}, {"retention_days": 0}, {"x": 1}):
        with pytest.raises(ValueError):
            CaptureConfig(**bad)
