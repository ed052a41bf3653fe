"""Feedback capture end to end in moto: predict keeps low-confidence answers and a seeded random sample
under captured/, honours the opt-out header and never fails for a failed capture; feedback records a
correction for a captured inference and answers 400/404 JSON otherwise."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber
from feedback import handler as feedback
from gtpipe_shared import capture
from predict import handler as predict

from tests.lambdas.conftest import CLASS_NAMES, DATA_BUCKET, Cloud, FakeContext
from tests.lambdas.test_handler_predict import JPEG, answer, endpoint_returns, request
from tests.lambdas.test_handler_predict import runtime as runtime
from tests.lambdas.test_handler_predict import serving as serving

CAPTURE = {"enabled": True, "confidence_threshold": 0.6, "sample_percent": 5, "retention_days": 90}


@pytest.fixture
def capturing(serving: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    monkeypatch.setenv("CAPTURE_CONFIG", json.dumps(CAPTURE))
    monkeypatch.setenv("DATA_BUCKET", DATA_BUCKET)
    # Seeded: draws 0.134, 0.847, 0.764, 0.255 (none below 0.05), so only low-confidence answers are kept.
    monkeypatch.setattr(predict, "rng", random.Random(1))
    yield serving


def captured_keys(cloud: Cloud) -> list[str]:
    listed = cloud.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="captured/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


def predict_with(
    runtime: Stubber, context: FakeContext, probs: list[float], **headers: str
) -> dict[str, Any]:
    endpoint_returns(runtime, probs)
    event = request(JPEG)
    event["headers"].update(headers)
    status, body = answer(predict.lambda_handler(event, context))
    assert status == 200, body
    return body


def send_feedback(context: FakeContext, body: Any, raw: str | None = None) -> tuple[int, dict[str, Any]]:
    event = {"body": raw if raw is not None else json.dumps(body), "isBase64Encoded": False, "headers": {}}
    return answer(feedback.lambda_handler(event, context))


def test_a_low_confidence_prediction_is_captured_and_its_correction_recorded(
    capturing: Cloud,
    runtime: Stubber,
    context: FakeContext,
) -> None:
    body = predict_with(runtime, context, [0.5, 0.3, 0.2])
    inference_id = body["inference_id"]
    assert capture.valid_inference_id(inference_id) and body["captured"] is True
    keys = captured_keys(capturing)
    assert len(keys) == 3 and f"captured/ids/{inference_id}.json" in keys
    record_key = next(k for k in keys if k.endswith(f"{inference_id}.json") and "/ids/" not in k)
    image_key = next(k for k in keys if k.endswith(".jpg"))
    assert capturing.read(image_key) == JPEG
    record = json.loads(capturing.read(record_key))
    assert record["reason"] == "low-confidence" and record["confidence"] == 0.5
    assert record["prediction"]["label"] == "cat" and record["class_names"] == CLASS_NAMES
    assert record["model"]["run_id"] == "demo-0123456789abcdef" and record["image"]["key"] == image_key

    status, got = send_feedback(context, {"inference_id": inference_id, "label": "bird"})
    assert (status, got) == (201, {"inference_id": inference_id, "label": "bird", "status": "recorded"})
    kept = json.loads(capturing.read(f"captured/feedback/{inference_id}.json"))
    assert kept["label"] == "bird" and kept["record"] == record_key


def test_confident_answers_outside_the_sample_are_not_kept(
    capturing: Cloud,
    runtime: Stubber,
    context: FakeContext,
) -> None:
    body = predict_with(runtime, context, [0.1, 0.8, 0.1])
    assert body["captured"] is False and capture.valid_inference_id(body["inference_id"])
    assert captured_keys(capturing) == []
    status, got = send_feedback(context, {"inference_id": body["inference_id"], "label": "cat"})
    assert status == 404 and got["code"] == "NotCaptured"


def test_the_random_sample_keeps_confident_answers(
    capturing: Cloud,
    runtime: Stubber,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(predict, "rng", random.Random(0))
    monkeypatch.setenv("CAPTURE_CONFIG", json.dumps({**CAPTURE, "sample_percent": 100}))
    body = predict_with(runtime, context, [0.1, 0.8, 0.1])
    assert body["captured"] is True
    record_key = next(k for k in captured_keys(capturing) if k.endswith(".json") and "/ids/" not in k)
    assert json.loads(capturing.read(record_key))["reason"] == "sample"


def test_the_opt_out_header_keeps_nothing(capturing: Cloud, runtime: Stubber, context: FakeContext) -> None:
    body = predict_with(runtime, context, [0.4, 0.3, 0.3], **{"x-gtpipe-capture": "OFF"})
    assert body["captured"] is False and "inference_id" in body
    assert captured_keys(capturing) == []


def test_without_capture_config_nothing_is_kept(
    serving: Cloud, runtime: Stubber, context: FakeContext
) -> None:
    body = predict_with(runtime, context, [0.4, 0.3, 0.3])
    assert body["captured"] is False and capture.valid_inference_id(body["inference_id"])


def test_a_failed_capture_never_fails_the_prediction(
    capturing: Cloud,
    runtime: Stubber,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATA_BUCKET", "no-such-bucket")
    body = predict_with(runtime, context, [0.4, 0.3, 0.3])
    assert body["captured"] is False and body["label"] == "cat"


@pytest.mark.parametrize(
    ("payload", "raw", "code"),
    [
        (None, "", "EmptyBody"),
        (None, "{not json", "InvalidJson"),
        (None, "[1, 2]", "InvalidJson"),
        ({"label": "cat"}, None, "MissingField"),
        ({"inference_id": "../../etc", "label": "cat"}, None, "InvalidInferenceId"),
        ({"inference_id": "0f8fad5b-d9cb-469f-a165-70867728950e"}, None, "MissingField"),
        ({"inference_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "label": 3}, None, "InvalidLabel"),
        (
            {"inference_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "label": "cat", "x": 1},
            None,
            "UnknownField",
        ),
    ],
)
def test_bad_feedback_is_400_naming_the_problem(
    capturing: Cloud, context: FakeContext, payload: Any, raw: str | None, code: str
) -> None:
    status, got = send_feedback(context, payload, raw)
    assert (status, got["code"]) == (400, code) and set(got) == {"error", "code"}


def test_a_label_outside_the_models_classes_is_400(
    capturing: Cloud,
    runtime: Stubber,
    context: FakeContext,
) -> None:
    inference_id = predict_with(runtime, context, [0.5, 0.3, 0.2])["inference_id"]
    status, got = send_feedback(context, {"inference_id": inference_id, "label": "horse"})
    assert status == 400 and got["code"] == "UnknownLabel" and "cat, dog, bird" in got["error"]
    assert f"captured/feedback/{inference_id}.json" not in captured_keys(capturing)


def test_feedback_without_a_bucket_setting_is_a_json_500(
    cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATA_BUCKET", raising=False)
    status, got = send_feedback(context, {"inference_id": capture.new_inference_id(), "label": "cat"})
    assert (status, got["code"]) == (500, "ConfigurationError")
