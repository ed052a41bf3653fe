"""The local API Gateway: REST proxy event shape, response mapping, auth, throttling, TLS (fast, no moto)."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local import apigateway
from local.api_model import ApiKeyModel, MethodModel, RestApiModel, StageModel, Throttle, UsagePlanModel
from local.apigateway import ApiGatewayServer, TokenBucket
from local.apigateway_event import is_binary, proxy_response
from local.apigateway_http import GatewayError
from local.sfn import LambdaRegistry
from local.tls import LocalCertificateAuthority

ACCESS_KEY = "AKIALOCALTEST0000000"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:echo"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def proxy_method(
    resource_id: str, path: str, http_method: str, function_arn: str = FUNCTION_ARN, **options: Any
) -> MethodModel:
    """A Lambda proxy method, unauthenticated and without an API key unless ``options`` say otherwise."""
    settings: dict[str, Any] = {"authorization_type": "NONE", "api_key_required": False, **options}
    return MethodModel(
        resource_id=resource_id,
        resource_path=path,
        http_method=http_method,
        integration_type="AWS_PROXY",
        function_arn=function_arn,
        **settings,
    )


def api_model(
    *, auth: str = "NONE", api_key: bool = False, rate: float = 1000, burst: int = 1000
) -> RestApiModel:
    api = RestApiModel(id="abc123", name="test", binary_media_types=["image/png", "application/x-image"])
    api.resource_paths = {"root": "/", "res": "/predict", "item": "/items/{id}"}
    api.validators["val"] = (True, True)
    api.methods[("/predict", "POST")] = proxy_method(
        "res",
        "/predict",
        "POST",
        authorization_type=auth,
        api_key_required=api_key,
        request_parameters={"method.request.header.Content-Type": True},
        validator_id="val",
    )
    api.methods[("/items/{id}", "GET")] = proxy_method("item", "/items/{id}", "GET")
    api.stages["v1"] = StageModel(
        name="v1",
        deployment_id="dep",
        method_settings=[
            {
                "HttpMethod": "*",
                "ResourcePath": "/*",
                "ThrottlingRateLimit": rate,
                "ThrottlingBurstLimit": burst,
            }
        ],
    )
    if api_key:
        api.api_keys["k1"] = ApiKeyModel(id="k1", name="key", value="k" * 40)
        api.usage_plans["p1"] = UsagePlanModel(id="p1", api_stages=[("abc123", "v1")], key_ids={"k1"})
    return api


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A proxy handler that returns the event it got (or misbehaves on request)."""
    mode = (event.get("queryStringParameters") or {}).get("mode")
    if mode == "raise":
        raise RuntimeError("secret internal detail")
    if mode == "malformed":
        return {"statusCode": "two hundred", "unexpected": 1}
    if mode == "binary":
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "image/png"},
            "body": base64.b64encode(PNG).decode(),
            "isBase64Encoded": True,
        }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-One": "1"},
        "multiValueHeaders": {"X-Many": ["a", "b"]},
        "body": json.dumps(event),
        "isBase64Encoded": False,
    }


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCertificateAuthority:
    return LocalCertificateAuthority(tmp_path_factory.mktemp("tls") / "ca.pem")


def start(
    ca: LocalCertificateAuthority, api: RestApiModel, registry: LambdaRegistry | None = None
) -> ApiGatewayServer:
    """A started local gateway for ``api`` (functions: ``registry``, else the echo function)."""
    registry = registry or LambdaRegistry({FUNCTION_ARN: echo})
    return ApiGatewayServer(
        api,
        registry.invoke,
        ssl_context=ca.server_context(),
        account_id="123456789012",
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key="secret",
    ).start()


@pytest.fixture
def server(ca: LocalCertificateAuthority) -> Iterator[ApiGatewayServer]:
    gateway = start(ca, api_model())
    yield gateway
    gateway.stop()


def call(
    ca: LocalCertificateAuthority,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    context = ssl.create_default_context(cafile=str(ca.ca_path))
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def test_binary_body_reaches_the_function_base64_encoded_with_the_proxy_event_shape(
    ca: LocalCertificateAuthority, server: ApiGatewayServer
) -> None:
    status, headers, body = call(
        ca,
        f"{server.stage_url('v1')}/predict?a=1&a=2&b=x",
        PNG,
        {"Content-Type": "image/png", "User-Agent": "t"},
    )
    assert status == 200
    assert headers["X-One"] == "1" and "x-amzn-RequestId" in headers
    event = json.loads(body)
    assert event["resource"] == "/predict"
    assert event["path"] == "/predict"
    assert event["httpMethod"] == "POST"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == PNG
    assert event["headers"]["Content-Type"] == "image/png"
    assert event["multiValueHeaders"]["Content-Type"] == ["image/png"]
    assert event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert event["pathParameters"] is None and event["stageVariables"] is None
    context = event["requestContext"]
    assert context["stage"] == "v1" and context["path"] == "/v1/predict" and context["apiId"] == "abc123"
    assert context["resourcePath"] == "/predict" and context["httpMethod"] == "POST"
    assert context["requestId"] == headers["x-amzn-RequestId"]
    assert context["identity"]["sourceIp"] == "127.0.0.1" and context["identity"]["userAgent"] == "t"
    assert context["accountId"] == "123456789012" and isinstance(context["requestTimeEpoch"], int)


def test_text_bodies_are_passed_as_text_and_path_parameters_are_extracted(
    ca: LocalCertificateAuthority, server: ApiGatewayServer
) -> None:
    status, _, body = call(
        ca, f"{server.stage_url('v1')}/predict", b'{"x": 1}', {"Content-Type": "application/json"}
    )
    event = json.loads(body)
    assert status == 200 and event["isBase64Encoded"] is False and event["body"] == '{"x": 1}'
    status, _, body = call(ca, f"{server.stage_url('v1')}/items/42", method="GET")
    assert status == 200 and json.loads(body)["pathParameters"] == {"id": "42"}
    assert json.loads(body)["body"] is None


def test_binary_responses_are_decoded_and_function_errors_are_502_without_details(
    ca: LocalCertificateAuthority, server: ApiGatewayServer
) -> None:
    url = f"{server.stage_url('v1')}/predict"
    status, headers, body = call(ca, url + "?mode=binary", PNG, {"Content-Type": "image/png"})
    assert (status, headers["Content-Type"], body) == (201, "image/png", PNG)
    for mode in ("raise", "malformed"):
        status, headers, body = call(ca, f"{url}?mode={mode}", PNG, {"Content-Type": "image/png"})
        assert status == 502 and json.loads(body) == {"message": "Internal server error"}
        assert b"secret" not in body and b"Traceback" not in body


@pytest.mark.parametrize(
    ("path", "method", "status", "message"),
    [
        ("/v1/nothing", "POST", 403, "Missing Authentication Token"),
        ("/v1/predict", "GET", 403, "Missing Authentication Token"),
        ("/v2/predict", "POST", 403, "Forbidden"),
    ],
)
def test_unknown_routes_answer_like_api_gateway(
    ca: LocalCertificateAuthority, server: ApiGatewayServer, path: str, method: str, status: int, message: str
) -> None:
    got, headers, body = call(
        ca, server.base_url + path, b"x" if method == "POST" else None, {"Content-Type": "image/png"}, method
    )
    assert got == status and json.loads(body) == {"message": message}
    assert headers["Content-Type"] == "application/json"


def test_required_content_type_is_validated(ca: LocalCertificateAuthority, server: ApiGatewayServer) -> None:
    request = urllib.request.Request(f"{server.stage_url('v1')}/predict", data=PNG, method="POST")
    request.remove_header("Content-type")
    context = ssl.create_default_context(cafile=str(ca.ca_path))
    # urllib adds a form content type to POSTs; send the raw request without one.
    import http.client

    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    connection.putrequest("POST", "/v1/predict", skip_accept_encoding=True)
    connection.putheader("Content-Length", str(len(PNG)))
    connection.endheaders(PNG)
    response = connection.getresponse()
    assert response.status == 400
    assert json.loads(response.read()) == {"message": "Missing required request parameters: [Content-Type]"}


def test_tls_is_verified_against_the_local_ca_only(
    ca: LocalCertificateAuthority, server: ApiGatewayServer
) -> None:
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(
            f"{server.stage_url('v1')}/predict", data=b"x", timeout=10
        )  # default trust store
    status, _, _ = call(ca, f"https://localhost:{server.port}/v1/predict", PNG, {"Content-Type": "image/png"})
    assert status == 200


def test_iam_auth_requires_a_sigv4_header_with_the_local_key(ca: LocalCertificateAuthority) -> None:
    gateway = start(ca, api_model(auth="AWS_IAM"))
    try:
        url = f"{gateway.stage_url('v1')}/predict"
        status, _, body = call(ca, url, PNG, {"Content-Type": "image/png"})
        assert status == 403 and json.loads(body) == {"message": "Missing Authentication Token"}
        for key, expected in (("AKIAWRONGKEY00000000", 403), (ACCESS_KEY, 200)):
            signed = AWSRequest(method="POST", url=url, data=PNG, headers={"Content-Type": "image/png"})
            SigV4Auth(Credentials(key, "secret"), "execute-api", "us-east-1").add_auth(signed)
            status, _, body = call(ca, url, PNG, dict(signed.headers.items()))
            assert status == expected
        identity = json.loads(body)["requestContext"]["identity"]
        assert identity["accessKey"] == ACCESS_KEY and identity["accountId"] == "123456789012"
        status, _, body = call(ca, url, PNG, {"Content-Type": "image/png", "Authorization": "Bearer x"})
        assert status == 403 and "Authorization header requires" in json.loads(body)["message"]
    finally:
        gateway.stop()


def test_api_keys_are_required_when_the_method_says_so(ca: LocalCertificateAuthority) -> None:
    gateway = start(ca, api_model(api_key=True))
    try:
        url = f"{gateway.stage_url('v1')}/predict"
        for headers, status in (
            ({}, 403),
            ({"x-api-key": "wrong" * 8}, 403),
            ({"x-api-key": "k" * 40}, 200),
        ):
            got, _, body = call(ca, url, PNG, {"Content-Type": "image/png", **headers})
            assert got == status, body
        assert json.loads(body)["requestContext"]["identity"]["apiKeyId"] == "k1"
    finally:
        gateway.stop()


def test_stage_throttling_answers_429_like_api_gateway(ca: LocalCertificateAuthority) -> None:
    gateway = start(ca, api_model(rate=0.001, burst=2))
    try:
        url = f"{gateway.stage_url('v1')}/predict"
        statuses = [call(ca, url, PNG, {"Content-Type": "image/png"}) for _ in range(4)]
        assert [s for s, _, _ in statuses] == [200, 200, 429, 429]
        assert json.loads(statuses[-1][2]) == {"message": "Too Many Requests"}
    finally:
        gateway.stop()


class ManualClock:
    """Stands in for the ``time`` module of local.apigateway: ``monotonic()`` moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_token_bucket_refills_at_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a bucket of one token refilling 4 tokens per second, on a clock the test moves by hand
    clock = ManualClock()
    monkeypatch.setattr(apigateway, "time", clock)
    bucket = TokenBucket(Throttle(rate_limit=4, burst_limit=1))
    # When the token is taken, the bucket is empty at the same instant
    assert bucket.take()
    assert not bucket.take()
    # Then after 1/8 s half a token has come back: still throttled
    clock.now += 0.125
    assert not bucket.take()
    # and after another 1/8 s (1/4 s in all, 4 tokens/s) a whole token is there again, for one request
    clock.now += 0.125
    assert [bucket.take(), bucket.take()] == [True, False]
    # and a long pause refills only up to the burst limit
    clock.now += 60.0
    assert [bucket.take(), bucket.take()] == [True, False]
    # and a bucket with rate 0 serves its burst once and never refills
    slow = TokenBucket(Throttle(rate_limit=0.0, burst_limit=3))
    clock.now += 3600.0
    assert [slow.take() for _ in range(4)] == [True, True, True, False]


def test_stage_method_settings_lookup() -> None:
    stage = StageModel(
        name="v1",
        deployment_id="d",
        method_settings=[
            {"HttpMethod": "*", "ResourcePath": "/*", "ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100},
            {
                "HttpMethod": "POST",
                "ResourcePath": "/~1predict",
                "ThrottlingRateLimit": 5,
                "ThrottlingBurstLimit": 10,
            },
        ],
    )
    assert stage.throttle_for("/predict", "POST") == Throttle(5, 10)
    assert stage.throttle_for("/other", "GET") == Throttle(50, 100)


def test_binary_media_type_matching() -> None:
    types = ["image/png", "image/*", "application/x-image"]
    assert is_binary("image/jpeg; charset=binary", types)
    assert is_binary("application/x-image", types)
    assert not is_binary("application/json", types)
    assert not is_binary(None, types)
    assert is_binary("text/plain", ["*/*"])


def test_proxy_response_mapping() -> None:
    status, headers, body = proxy_response(
        {
            "statusCode": 404,
            "headers": {"A": "1"},
            "multiValueHeaders": {"A": ["x"], "B": ["1", "2"]},
            "body": "nope",
        }
    )
    assert (status, body) == (404, b"nope")
    assert headers == [("A", "1"), ("B", "1"), ("B", "2"), ("Content-Type", "application/json")]
    for bad in (None, "text", {"statusCode": 200, "extra": True}, {"statusCode": 99}):
        with pytest.raises(GatewayError) as error:
            proxy_response(bad)
        assert error.value.status == 502
