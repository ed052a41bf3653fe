"""predict's asynchronous routes (POST /predict/async, GET /predictions/{id}) on moto S3 with a stubbed
sagemaker-runtime InvokeEndpointAsync."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from gtpipe_shared.async_inference import OUTPUT_PREFIX, request_key
from gtpipe_shared.aws import client
from gtpipe_shared.uploads import new_upload_id, upload_key
from PIL import Image
from predict import handler as predict

from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext, load_event
from tests.lambdas.test_handler_predict import BIRD_PREDICTION, answer, detector  # noqa: F401 (fixture)

ASYNC_ENDPOINT = "gtpipe-endpoint-async"
# A well-formed upload id nothing was uploaded under: fixed, so the parametrized tests' ids are too.
UNKNOWN_ID = "5d9c1f0e-8b7a-4c36-9e21-0a4b3c2d1e0f"


def post_async(body: Any, query: dict[str, str] | None = None) -> dict[str, Any]:
    event = load_event("apigw_predict.json")
    event.update(resource="/predict/async", path="/predict/async", queryStringParameters=query)
    event["headers"] = {"Content-Type": "application/json"}
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    event["isBase64Encoded"] = False
    event["requestContext"]["domainName"] = "abc123.execute-api.us-east-1.amazonaws.com"
    return event


def get_status(prediction_id: str) -> dict[str, Any]:
    event = load_event("apigw_predict.json")
    event.update(
        resource="/predictions/{id}",
        path=f"/predictions/{prediction_id}",
        httpMethod="GET",
        body=None,
        isBase64Encoded=False,
        pathParameters={"id": prediction_id},
    )
    event["headers"] = {}
    return event


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(out, format="JPEG", quality=80)
    return out.getvalue()


@pytest.fixture
def async_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNC_ENDPOINT_NAME", ASYNC_ENDPOINT)


@pytest.fixture
def runtime(cloud: Cloud) -> Iterator[Stubber]:
    stubber = Stubber(client("sagemaker-runtime"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def queued(stubber: Stubber, upload_id: str, output_key: str, failure_key: str) -> None:
    stubber.add_response(
        "invoke_endpoint_async",
        {
            "InferenceId": "ignored",
            "OutputLocation": f"s3://{DATA_BUCKET}/{output_key}",
            "FailureLocation": f"s3://{DATA_BUCKET}/{failure_key}",
        },
        {
            "EndpointName": ASYNC_ENDPOINT,
            "InputLocation": f"s3://{DATA_BUCKET}/{upload_key(upload_id)}",
            "ContentType": "application/x-image",
            "Accept": "application/json",
            "InferenceId": ANY,
            "InvocationTimeoutSeconds": 900,
        },
    )


def test_a_queued_detection_is_pending_then_answered_in_the_uploads_pixels(
    detector: Cloud,  # noqa: F811
    runtime: Stubber,
    async_env: None,
    context: FakeContext,
) -> None:
    # Given a 4000x3000 JPEG upload and an async endpoint that accepts the request
    upload_id = new_upload_id()
    detector.put(upload_key(upload_id), jpeg(4000, 3000))
    queued(runtime, upload_id, f"{OUTPUT_PREFIX}abc.out", "async/failure/abc-error.out")
    # When it is queued
    status, body = answer(predict.lambda_handler(post_async({"upload_id": upload_id}), context))
    # Then the answer is 202 with where to poll, and the record keeps the original's size
    assert status == 202, body
    prediction_id = body["prediction_id"]
    assert body["status"] == "pending"
    assert (
        body["status_url"]
        == f"https://abc123.execute-api.us-east-1.amazonaws.com/prod/predictions/{prediction_id}"
    )
    record = json.loads(detector.read(request_key(prediction_id)))
    assert record["size"] == [4000, 3000] and record["class_names"] == ["bird", "nest"]
    # And polling before SageMaker wrote anything is still pending
    status, body = answer(predict.lambda_handler(get_status(prediction_id), context))
    assert (status, body["status"]) == (202, "pending")
    # When the output lands
    detector.put(f"{OUTPUT_PREFIX}abc.out", json.dumps(BIRD_PREDICTION))
    status, body = answer(predict.lambda_handler(get_status(prediction_id), context))
    # Then boxes above the default 0.5 are in pixels of the 4000x3000 original, best first, as POST /predict
    assert status == 200
    assert [d["label"] for d in body["detections"]] == ["bird", "nest"]
    assert body["detections"][0]["box"] == {"left": 400, "top": 600, "width": 800, "height": 600}
    assert body["detections"][1]["box"] == {"left": 0, "top": 1500, "width": 2000, "height": 1500}
    assert body["image_type"] == "image/jpeg" and body["status"] == "completed"
    assert body["model"] == {"run_id": "birds-0123456789abcdef", "endpoint": ASYNC_ENDPOINT}


def test_a_failed_prediction_is_a_json_502(
    detector: Cloud,  # noqa: F811
    runtime: Stubber,
    async_env: None,
    context: FakeContext,
) -> None:
    # Given a queued prediction whose model failed
    upload_id = new_upload_id()
    detector.put(upload_key(upload_id), jpeg(64, 48))
    queued(runtime, upload_id, f"{OUTPUT_PREFIX}x.out", "async/failure/x-error.out")
    _, body = answer(predict.lambda_handler(post_async({"upload_id": upload_id}), context))
    detector.put("async/failure/x-error.out", "Received server error (500) from primary: out of memory")
    # When it is polled
    status, failed = answer(predict.lambda_handler(get_status(body["prediction_id"]), context))
    # Then the failure is a JSON 502 naming it
    assert status == 502 and failed["code"] == "PredictionFailed" and "out of memory" in failed["error"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"upload_id": "../etc/passwd"}, 400, "InvalidUploadId"),
        ({}, 400, "MissingField"),
        ({"upload_id": UNKNOWN_ID, "x": 1}, 400, "UnknownField"),
        ({"upload_id": UNKNOWN_ID}, 404, "UploadNotFound"),
    ],
)
def test_bad_async_requests_are_json_4xx(
    detector: Cloud,  # noqa: F811
    async_env: None,
    context: FakeContext,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    got_status, got = answer(predict.lambda_handler(post_async(body), context))
    assert (got_status, got["code"]) == (status, code)


def test_an_upload_that_is_not_an_image_is_refused_before_the_endpoint(
    detector: Cloud,  # noqa: F811
    async_env: None,
    context: FakeContext,
) -> None:
    upload_id = new_upload_id()
    detector.put(upload_key(upload_id), b"not an image at all")
    status, body = answer(predict.lambda_handler(post_async({"upload_id": upload_id}), context))
    assert (status, body["code"]) == (400, "NotAnImage")


@pytest.mark.parametrize(
    ("prediction_id", "status", "code"),
    [("nope", 400, "InvalidPredictionId"), (UNKNOWN_ID, 404, "PredictionNotFound")],
)
def test_polling_an_unknown_prediction_is_json_4xx(
    detector: Cloud,  # noqa: F811
    context: FakeContext,
    prediction_id: str,
    status: int,
    code: str,
) -> None:
    got_status, got = answer(predict.lambda_handler(get_status(prediction_id), context))
    assert (got_status, got["code"]) == (status, code)


def test_no_async_endpoint_yet_is_503(
    detector: Cloud,  # noqa: F811
    runtime: Stubber,
    async_env: None,
    context: FakeContext,
) -> None:
    # Given an upload but no asynchronous endpoint (the runtime refuses the call, as AWS does)
    upload_id = new_upload_id()
    detector.put(upload_key(upload_id), jpeg(64, 48))
    runtime.add_client_error(
        "invoke_endpoint_async", "ValidationError", "Endpoint gtpipe-endpoint-async not found."
    )
    # When it is queued / Then the answer says so, as JSON
    status, body = answer(predict.lambda_handler(post_async({"upload_id": upload_id}), context))
    assert (status, body["code"]) == (503, "AsyncEndpointNotReady")
