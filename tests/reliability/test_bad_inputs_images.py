"""Every image of the bad-input corpus through the real ``predict`` handler (API Gateway proxy events).

The endpoint is a stand-in for the model container, hooked into the handler's own ``sagemaker-runtime``
client: it decodes the body with Pillow like the container does (decompression-bomb check on) and answers
probabilities, or a ``ModelError`` with the container's 400 when the image cannot be decoded. It counts
its invocations, so a request that predict's validation rejects is shown never to reach it.
"""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.response import StreamingBody

from tests.lambdas import conftest as lambda_fixtures
from tests.lambdas import test_handler_predict as predict_tests
from tests.lambdas.conftest import Cloud, FakeContext
from tests.lambdas.test_handler_predict import answer, request
from tests.reliability.test_bad_inputs_corpus import Case, case_params, decode_like_a_model

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

# The Lambda tests' moto fixtures and their @serving item, reused (pytest finds fixtures among module
# attributes).
_clients = lambda_fixtures._clients
_fresh_state = lambda_fixtures._fresh_state
cloud = lambda_fixtures.cloud
context = lambda_fixtures.context
serving = predict_tests.serving

INVOKE_EVENT = "before-call.sagemaker-runtime.InvokeEndpoint"


def predict_handler() -> Any:
    """The handler module (imported after tests.lambdas.conftest set the environment and moto hooked in)."""
    return importlib.import_module("predict.handler")


@dataclass
class ModelEndpoint:
    """The stand-in endpoint: every InvokeEndpoint call of the handler's client lands in ``__call__``."""

    bodies: list[bytes] = field(default_factory=list)

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        body = params["body"]
        self.bodies.append(body)
        try:
            decode_like_a_model(body)
        except Exception as exc:  # what a container does with an image it cannot decode: 400
            error = {"Code": "ModelError", "Message": f"Received client error (400) from model: {exc}"}
            return SimpleNamespace(status_code=424, headers={}), {
                "Error": error,
                "OriginalStatusCode": 400,
                "ResponseMetadata": {"HTTPStatusCode": 424},
            }
        raw = json.dumps({"prediction": [0.2, 0.5, 0.3]}).encode()
        return SimpleNamespace(status_code=200, headers={}), {
            "Body": StreamingBody(io.BytesIO(raw), len(raw)),
            "ContentType": "application/json",
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }


@pytest.fixture
def endpoint(serving: Cloud) -> Iterator[ModelEndpoint]:
    """The stand-in endpoint, hooked into the predict handler's cached sagemaker-runtime client."""
    from gtpipe_shared.aws import client

    model = ModelEndpoint()
    events = client("sagemaker-runtime").meta.events
    events.register(INVOKE_EVENT, model, unique_id="bad-inputs-model")
    yield model
    events.unregister(INVOKE_EVENT, unique_id="bad-inputs-model")


def event_for(case: Case) -> dict[str, Any]:
    """The API Gateway proxy event (tests/events/apigw_predict.json) carrying the case's body."""
    event = request(case.data(), case.content_type)
    if case.encoding == "invalid-base64":
        event["body"] = "!!!not-base64!!!"
    return event


@pytest.mark.parametrize("case", case_params("image"))
def test_image_case(case: Case, endpoint: ModelEndpoint, context: FakeContext) -> None:
    # given a deployed model and the case's image in a POST /predict event
    event = event_for(case)
    expect = case.expect

    # when the predict handler answers it
    response = predict_handler().lambda_handler(event, context)

    # then the status and code are the asserted ones, never a 5xx, always JSON without internals
    status, body = answer(response)
    assert status == expect["status"] and status < 500, body
    assert "Traceback" not in response["body"] and 'File "' not in response["body"]
    if status == 200:
        assert body["label"] == "dog" and set(body["probabilities"]) == {"cat", "dog", "bird"}
    else:
        assert set(body) == {"error", "code"} and body["code"] == expect["code"]
        assert expect["contains"] in body["error"]
    # and the endpoint saw the request only when validation let it through
    assert len(endpoint.bodies) == expect["endpoint_calls"]
    if expect["endpoint_calls"]:
        assert endpoint.bodies == [case.data()]


# -- the header check that stops decompression bombs before the endpoint ------------------------------------


@pytest.mark.parametrize(
    ("fmt", "size", "options"),
    [
        ("PNG", (1, 1), {}),
        ("PNG", (640, 3), {}),
        ("JPEG", (17, 33), {"quality": 80}),
        ("JPEG", (300, 200), {"progressive": True}),
        ("JPEG", (8, 8), {"optimize": True, "exif": b"Exif\x00\x00" + b"\x00" * 64}),
    ],
)
def test_declared_dimensions_read_real_headers(
    fmt: str, size: tuple[int, int], options: dict[str, Any]
) -> None:
    from gtpipe_shared.images import declared_dimensions
    from PIL import Image

    # given an image Pillow wrote
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buffer, fmt, **options)
    # then its declared size is read from the header alone
    assert declared_dimensions(buffer.getvalue()) == size


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 100,  # no IHDR
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHD",  # cut in the header
        b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 100,  # segments end before a frame header
        b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20,  # scan before any frame header
        b"\xff\xd8\xff\xc0\x00\x11\x08\x00",  # frame header cut short
        b"GIF89a" + b"\0" * 20,
    ],
)
def test_declared_dimensions_are_none_for_headers_that_say_nothing(data: bytes) -> None:
    from gtpipe_shared.images import declared_dimensions

    assert declared_dimensions(data) is None
