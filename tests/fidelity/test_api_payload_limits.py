"""Finding 13: an image too large for a synchronous Lambda invocation gets the prediction API's JSON 413.

Through the REST API (binary media types, proxy integration) the image reaches Lambda base64-encoded, 4/3 of
its size, inside the proxy event; Lambda refuses a synchronous request over 6 MB
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html) before the function runs, so an
image over ~4.5 MB never reaches ``predict`` and its JSON 413. API Gateway answers with its REQUEST_TOO_LARGE
gateway response, 413 ``{"message": "Request Too Long"}``
(https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html), which
the stack customises into the API's ``{"error", "code"}`` shape; ``predict`` itself refuses images over 4 MiB,
a limit that always fits after base64.

The local API gateway serves the synthesized API's binary media types and gateway responses, and the local
Lambda registry enforces the 6 MB limit; ``predict`` is the real handler, in process.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from local.api_model import RestApiModel, StageModel
from local.apigateway import ApiGatewayServer, gateway_response_resource
from local.sfn import LambdaRegistry, LambdaServiceError
from local.sfn.lambdas import SYNC_PAYLOAD_LIMIT_BYTES
from local.tls import LocalCertificateAuthority
from tests.infra.conftest import Synthesized
from tests.local_cloud.test_api_gateway import proxy_method, start

# Powertools reads these when the handler module is imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "gtpipe")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Gtpipe")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from gtpipe_shared.images import (
    LAMBDA_EVENT_ENVELOPE_BYTES,
    LAMBDA_SYNC_PAYLOAD_BYTES,
    MAX_API_IMAGE_BYTES,
    base64_size,
)
from predict import handler as predict

PREDICT_ARN = "arn:aws:lambda:us-east-1:123456789012:function:predict"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_of(size: int) -> bytes:
    """``size`` bytes that start like a PNG (predict checks the size before decoding anything)."""
    return PNG_SIGNATURE + b"\x00" * (size - len(PNG_SIGNATURE))


def prediction_api(synth: Synthesized, *, gateway_responses: bool = True) -> RestApiModel:
    """The synthesized prediction API's binary media types and gateway responses, with POST /predict."""
    apis = {
        logical_id: resource["Properties"]
        for logical_id, resource in synth.main.find_resources("AWS::ApiGateway::RestApi").items()
        if resource["Properties"].get("BinaryMediaTypes")
    }
    assert len(apis) == 1, apis
    logical_id, props = next(iter(apis.items()))
    api = RestApiModel(id="predictapi", name=props["Name"], binary_media_types=props["BinaryMediaTypes"])
    api.methods[("/predict", "POST")] = proxy_method("predict", "/predict", "POST", PREDICT_ARN)
    api.stages["v1"] = StageModel(name="v1", deployment_id="deployment")
    if gateway_responses:
        deploying = SimpleNamespace(deployment=SimpleNamespace(apis={api.id: api}))
        for name, resource in synth.main.find_resources("AWS::ApiGateway::GatewayResponse").items():
            if resource["Properties"]["RestApiId"] == {"Ref": logical_id}:
                props = {**resource["Properties"], "RestApiId": api.id}
                gateway_response_resource(deploying, name, props)
    return api


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCertificateAuthority:
    return LocalCertificateAuthority(tmp_path_factory.mktemp("tls") / "ca.pem")


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> LambdaRegistry:
    """The real predict handler, with no model deployed (an image it accepts gets 503 NoModel)."""
    monkeypatch.setattr(predict, "serving", lambda: None)
    return LambdaRegistry({PREDICT_ARN: predict.lambda_handler})


def serve(ca: LocalCertificateAuthority, api: RestApiModel, registry: LambdaRegistry) -> ApiGatewayServer:
    return start(ca, api, registry)


@pytest.fixture
def gateway(
    ca: LocalCertificateAuthority, synth: Synthesized, registry: LambdaRegistry
) -> Iterator[ApiGatewayServer]:
    server = serve(ca, prediction_api(synth), registry)
    yield server
    server.stop()


def post_image(ca: LocalCertificateAuthority, server: ApiGatewayServer, image: bytes) -> tuple[int, Any]:
    """POST the image to /v1/predict over HTTPS; the status and the JSON answer."""
    request = urllib.request.Request(
        f"{server.stage_url('v1')}/predict", data=image, headers={"Content-Type": "image/png"}, method="POST"
    )
    context = ssl.create_default_context(cafile=str(ca.ca_path))
    try:
        with urllib.request.urlopen(request, context=context, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        assert error.headers.get("Content-Type", "").startswith("application/json")
        return error.code, json.loads(error.read())


def test_an_image_too_large_for_a_lambda_invocation_gets_the_apis_json_413(
    ca: LocalCertificateAuthority, gateway: ApiGatewayServer, registry: LambdaRegistry
) -> None:
    # given a ~5 MB image: its base64 proxy event is over Lambda's 6 MB synchronous request limit
    image = png_of(5 * 1000 * 1000)
    assert base64_size(len(image)) > SYNC_PAYLOAD_LIMIT_BYTES
    # when it is posted to the prediction API
    status, answer = post_image(ca, gateway, image)
    # then the answer is the API's JSON 413, from the gateway: predict never ran
    assert status == 413
    assert answer["code"] == "PayloadTooLarge"
    assert str(MAX_API_IMAGE_BYTES) in answer["error"]
    assert registry.invocations == []


def test_an_image_over_predicts_limit_that_fits_an_invocation_is_refused_by_predict(
    ca: LocalCertificateAuthority, gateway: ApiGatewayServer, registry: LambdaRegistry
) -> None:
    # given an image just over predict's 4 MiB limit (its proxy event fits Lambda's 6 MB)
    image = png_of(MAX_API_IMAGE_BYTES + 1000)
    # when it is posted
    status, answer = post_image(ca, gateway, image)
    # then predict answers its own JSON 413
    assert (status, answer["code"]) == (413, "PayloadTooLarge")
    assert answer["error"] == f"image is {len(image)} bytes; the limit is {MAX_API_IMAGE_BYTES}"
    assert len(registry.invocations) == 1


def test_an_image_at_predicts_limit_reaches_predict(
    ca: LocalCertificateAuthority, gateway: ApiGatewayServer, registry: LambdaRegistry
) -> None:
    # given an image of exactly the limit: its base64 plus the envelope predict budgets for fits 6 MB
    assert base64_size(MAX_API_IMAGE_BYTES) + LAMBDA_EVENT_ENVELOPE_BYTES <= LAMBDA_SYNC_PAYLOAD_BYTES
    assert LAMBDA_SYNC_PAYLOAD_BYTES <= SYNC_PAYLOAD_LIMIT_BYTES
    # when it is posted
    status, answer = post_image(ca, gateway, png_of(MAX_API_IMAGE_BYTES))
    # then predict takes it (no model is deployed here, so it answers 503 NoModel)
    assert (status, answer["code"]) == (503, "NoModel")


def test_without_the_gateway_response_aws_answers_request_too_long_not_the_apis_error(
    ca: LocalCertificateAuthority, synth: Synthesized, registry: LambdaRegistry
) -> None:
    # given the API without its REQUEST_TOO_LARGE gateway response (the stack before the fix)
    server = serve(ca, prediction_api(synth, gateway_responses=False), registry)
    try:
        # when a ~5 MB image is posted
        status, answer = post_image(ca, server, png_of(5 * 1000 * 1000))
    finally:
        server.stop()
    # then API Gateway's own answer comes back, which is not the API's {"error", "code"}
    assert (status, answer) == (413, {"message": "Request Too Long"})
    assert registry.invocations == []


def test_lambda_refuses_a_synchronous_request_over_6_mb_before_the_function_runs() -> None:
    # given a function
    calls: list[Any] = []
    registry = LambdaRegistry({"f": lambda event, context: calls.append(event)})
    payload = json.dumps({"body": base64.b64encode(b"\x00" * 4_800_000).decode()})
    # when it is invoked with a payload over the limit
    with pytest.raises(LambdaServiceError) as refused:
        registry.invoke("f", payload)
    # then Lambda's RequestEntityTooLargeException (413) comes back and the function did not run
    assert refused.value.code == "RequestEntityTooLargeException"
    assert refused.value.status_code == 413
    assert "Request must be smaller than 6291556 bytes" in refused.value.message
    assert calls == []
