"""predict: API Gateway proxy -> validation -> @serving lookup -> endpoint (stubbed sagemaker-runtime)."""

from __future__ import annotations

import base64
import io
import json
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from gtpipe_shared import ledger
from gtpipe_shared.aws import client
from predict import handler

from tests.lambdas.conftest import Cloud, FakeContext, load_event

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def request(
    body: bytes | None, content_type: str | None = "image/jpeg", encode: bool = True
) -> dict[str, Any]:
    event = load_event("apigw_predict.json")
    event["headers"] = {"Content-Type": content_type} if content_type else {}
    if body is None:
        event["body"] = None
    else:
        event["body"] = base64.b64encode(body).decode() if encode else body.decode("latin-1")
    event["isBase64Encoded"] = encode
    return event


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def serving(cloud: Cloud) -> Cloud:
    item = ledger.serving_item(
        endpoint_name="gtpipe-endpoint",
        endpoint_config_name="r-epc-0",
        model_name="r-model-0",
        class_names=["cat", "dog", "bird"],
        source_run_id="demo-0123456789abcdef",
        metrics={"accuracy": 0.9},
        task_type="image-classification",
        now=ledger.now_iso(),
    )
    cloud.runs().put_item(Item=ledger.to_dynamo(item))
    return cloud


@pytest.fixture
def runtime(cloud: Cloud) -> Iterator[Stubber]:
    stubber = Stubber(client("sagemaker-runtime"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def endpoint_returns(stubber: Stubber, payload: Any) -> None:
    raw = json.dumps(payload).encode()
    stubber.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(raw), len(raw)), "ContentType": "application/json"},
        {
            "EndpointName": "gtpipe-endpoint",
            "ContentType": "application/x-image",
            "Accept": "application/json",
            "Body": ANY,
        },
    )


def test_prediction(serving: Cloud, runtime: Stubber, context: FakeContext) -> None:
    endpoint_returns(runtime, [0.1, 0.7, 0.2])
    status, body = answer(handler.lambda_handler(request(JPEG), context))
    assert status == 200
    assert body["label"] == "dog" and body["confidence"] == 0.7
    assert body["probabilities"] == {"cat": 0.1, "dog": 0.7, "bird": 0.2}
    assert body["model"] == {"run_id": "demo-0123456789abcdef", "endpoint": "gtpipe-endpoint"}


def test_png_declared_as_jpeg_is_fine(serving: Cloud, runtime: Stubber, context: FakeContext) -> None:
    endpoint_returns(runtime, {"prediction": [0.8, 0.1, 0.1]})
    status, body = answer(handler.lambda_handler(request(PNG, "image/jpeg"), context))
    assert status == 200 and body["label"] == "cat" and body["image_type"] == "image/png"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (None, "image/jpeg", 400, "EmptyBody"),
        (b"", "image/jpeg", 400, "EmptyBody"),
        (b"just some text", "image/jpeg", 400, "NotAnImage"),
        (b"\xff\xd8\xff" + b"\x00" * (4 * 1024 * 1024), "image/jpeg", 413, "PayloadTooLarge"),
        (b"GIF89a" + b"\x00" * 10, "image/gif", 415, "UnsupportedImageType"),
        (JPEG, "application/json", 415, "UnsupportedMediaType"),
    ],
)
def test_bad_requests(
    serving: Cloud, context: FakeContext, body: bytes | None, content_type: str, status: int, code: str
) -> None:
    got_status, got = answer(handler.lambda_handler(request(body, content_type), context))
    assert (got_status, got["code"]) == (status, code)
    assert set(got) == {"error", "code"}


def test_invalid_base64_is_400(serving: Cloud, context: FakeContext) -> None:
    event = request(JPEG)
    event["body"] = "!!!not-base64!!!"
    assert answer(handler.lambda_handler(event, context))[1]["code"] == "InvalidBase64"


def test_no_model_yet_is_503(cloud: Cloud, context: FakeContext) -> None:
    status, body = answer(handler.lambda_handler(request(JPEG), context))
    assert status == 503 and body == {"error": "no model deployed yet", "code": "NoModel"}


def test_endpoint_error_is_502(serving: Cloud, runtime: Stubber, context: FakeContext) -> None:
    runtime.add_client_error(
        "invoke_endpoint", service_error_code="ModelError", service_message="boom", http_status_code=424
    )
    status, body = answer(handler.lambda_handler(request(JPEG), context))
    assert status == 502 and body["code"] == "EndpointError" and "boom" not in body["error"]


def test_unusable_endpoint_answer_is_502(serving: Cloud, runtime: Stubber, context: FakeContext) -> None:
    endpoint_returns(runtime, [0.5, 0.5])  # two probabilities for three classes
    status, body = answer(handler.lambda_handler(request(JPEG), context))
    assert status == 502 and body["code"] == "BadModelResponse"


def test_serving_item_is_cached(serving: Cloud, runtime: Stubber, context: FakeContext) -> None:
    endpoint_returns(runtime, [0.1, 0.7, 0.2])
    handler.lambda_handler(request(JPEG), context)
    serving.runs().delete_item(Key={"run_id": "@serving"})
    endpoint_returns(runtime, [0.1, 0.7, 0.2])
    assert handler.lambda_handler(request(JPEG), context)["statusCode"] == 200


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk declaring ``width`` x ``height`` (the handler never decodes pixels)."""
    ihdr = struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\x00" * 80


@pytest.fixture
def detector(cloud: Cloud) -> Cloud:
    item = ledger.serving_item(
        endpoint_name="gtpipe-endpoint",
        endpoint_config_name="c",
        model_name="m",
        class_names=["bird", "nest"],
        source_run_id="birds-0123456789abcdef",
        metrics={"map": 0.8},
        task_type="object-detection",
        now="t",
    )
    cloud.runs().put_item(Item=ledger.to_dynamo(item))
    return cloud


BIRD_PREDICTION = {
    "prediction": [
        [1, 0.55, 0.0, 0.5, 0.5, 1.0],
        [0, 0.9, 0.1, 0.2, 0.3, 0.4],
        [0, 0.2, 0.0, 0.0, 1.0, 1.0],
    ]
}


def test_detections_are_pixel_boxes_of_the_submitted_image(
    detector: Cloud, runtime: Stubber, context: FakeContext
) -> None:
    # Given a detector answering relative coordinates and a 200x100 image
    endpoint_returns(runtime, BIRD_PREDICTION)
    # When the image is posted
    status, body = answer(handler.lambda_handler(request(png_header(200, 100), "image/png"), context))
    # Then boxes scoring at least 0.5 come back best first, in pixels of that image
    assert status == 200
    assert body["detections"] == [
        {"label": "bird", "confidence": 0.9, "box": {"left": 20, "top": 20, "width": 40, "height": 20}},
        {"label": "nest", "confidence": 0.55, "box": {"left": 0, "top": 50, "width": 100, "height": 50}},
    ]
    assert body["model"]["run_id"] == "birds-0123456789abcdef"


def test_min_confidence_query_parameter_filters_boxes(
    detector: Cloud, runtime: Stubber, context: FakeContext
) -> None:
    # Given a low threshold in the query string
    endpoint_returns(runtime, BIRD_PREDICTION)
    event = request(png_header(10, 10), "image/png")
    event["queryStringParameters"] = {"min_confidence": "0.1"}
    # When posted / Then the low-scoring whole-image box is kept too, clipped to the image
    status, body = answer(handler.lambda_handler(event, context))
    assert status == 200
    assert [d["confidence"] for d in body["detections"]] == [0.9, 0.55, 0.2]
    assert body["detections"][-1]["box"] == {"left": 0, "top": 0, "width": 10, "height": 10}


@pytest.mark.parametrize("value", ["high", "1.5", "-0.1", "nan", ""])
def test_bad_min_confidence_is_400_naming_it(detector: Cloud, context: FakeContext, value: str) -> None:
    event = request(png_header(10, 10), "image/png")
    event["queryStringParameters"] = {"min_confidence": value}
    status, body = answer(handler.lambda_handler(event, context))
    assert status == 400 and body["code"] == "InvalidParameter" and "min_confidence" in body["error"]


def test_detection_needs_an_image_that_declares_its_size(detector: Cloud, context: FakeContext) -> None:
    # Given a PNG without an IHDR chunk (no stubbed endpoint response: the endpoint must not be called)
    status, body = answer(handler.lambda_handler(request(PNG, "image/png"), context))
    assert status == 400 and body["code"] == "InvalidImage" and "width and height" in body["error"]


def test_unexpected_errors_never_leak(
    cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNS_TABLE")
    status, body = answer(handler.lambda_handler(request(JPEG), context))
    assert status == 500 and body == {"error": "the service is misconfigured", "code": "ConfigurationError"}


def test_model_rejecting_the_image_is_400(serving: Cloud, runtime: Stubber, context: FakeContext) -> None:
    # Given an endpoint whose container answers 400 for an image it cannot decode
    runtime.add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message="cannot identify image file",
        http_status_code=424,
        response_meta={},
        modeled_fields={"OriginalStatusCode": 400},
    )
    # When a truncated PNG (valid magic bytes) is posted
    status, body = answer(handler.lambda_handler(request(PNG), context))
    # Then the client is told its image is bad, not that the service failed
    assert status == 400 and body["code"] == "InvalidImage"
