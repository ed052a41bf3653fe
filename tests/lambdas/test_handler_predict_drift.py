"""predict's drift request records (predict/drift_record.py): with MONITORING_RECORDS=on every answered
request leaves one record (features, predicted class, confidence, serving run) under monitoring/requests/;
off, nothing; a record that cannot be made never fails the prediction."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber
from gtpipe_shared.drift import EMBEDDING_DIMENSIONS
from gtpipe_shared.drift_monitor import request_key_time
from predict import handler as predict

from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext
from tests.lambdas.test_handler_predict import JPEG, answer, endpoint_returns, request
from tests.lambdas.test_handler_predict import runtime as runtime
from tests.lambdas.test_handler_predict import serving as serving
from tests.monitoring.streams import digit_images, png


def records(cloud: Cloud) -> list[dict[str, Any]]:
    listed = cloud.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="monitoring/requests/").get("Contents", [])
    return [{"key": item["Key"], **json.loads(cloud.read(item["Key"]))} for item in listed]


def predict_png(runtime: Stubber, context: FakeContext, probs: list[float]) -> dict[str, Any]:
    endpoint_returns(runtime, probs)
    image = png(next(digit_images(0, 1))[1])
    status, body = answer(predict.lambda_handler(request(image, "image/png"), context))
    assert status == 200, body
    return body


def test_every_answer_leaves_a_request_record_when_monitoring_is_on(
    serving: Cloud, runtime: Stubber, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given monitoring on, when a 32x32 digit is predicted
    monkeypatch.setenv("MONITORING_RECORDS", "on")
    monkeypatch.setenv("DATA_BUCKET", DATA_BUCKET)
    body = predict_png(runtime, context, [0.1, 0.7, 0.2])
    # then one record names the inference, the serving run, the answer and the image's features
    [record] = records(serving)
    assert record["inference_id"] == body["inference_id"] and record["key"].endswith(
        f"-{body['inference_id']}.json"
    )
    assert request_key_time(record["key"]) is not None
    assert (record["label"], record["confidence"]) == ("dog", 0.7)
    assert record["run_id"] == "demo-0123456789abcdef" and record["endpoint_name"] == "gtpipe-endpoint"
    assert record["stats"]["size"] == 32.0 and 0.0 < record["stats"]["brightness"] < 1.0
    assert len(record["embedding"]) == EMBEDDING_DIMENSIONS


def test_without_monitoring_nothing_is_recorded(
    serving: Cloud, runtime: Stubber, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITORING_RECORDS", raising=False)
    monkeypatch.setenv("DATA_BUCKET", DATA_BUCKET)
    predict_png(runtime, context, [0.1, 0.7, 0.2])
    assert records(serving) == []


def test_a_record_that_cannot_be_made_never_fails_the_prediction(
    serving: Cloud, runtime: Stubber, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given monitoring on, when an image passes the magic-byte check but Pillow cannot decode it
    monkeypatch.setenv("MONITORING_RECORDS", "on")
    monkeypatch.setenv("DATA_BUCKET", DATA_BUCKET)
    endpoint_returns(runtime, [0.1, 0.7, 0.2])
    status, body = answer(predict.lambda_handler(request(JPEG), context))
    # then the prediction is answered and no record is written
    assert status == 200 and body["label"] == "dog"
    assert records(serving) == []
