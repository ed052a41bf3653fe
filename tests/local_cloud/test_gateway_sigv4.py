"""What the local cloud verifies as AWS does: SigV4 on ``AWS_IAM`` methods, presigned S3 URLs (fast).

Given the local gateway serving an ``AWS_IAM`` method with known local credentials, when requests are
signed with the right secret, a wrong secret, an old date, another region or service, or are altered after
signing, then only the correctly signed, current request reaches the function; the others answer 403 with
API Gateway's JSON message and error type.

Given moto's S3 in server mode with the presigned-URL check installed, when presigned GET URLs are used as
issued, with a tampered key, an unknown key, a wrong secret or after expiry, then only the URL as issued
serves the object; the others answer S3's XML errors (403 SignatureDoesNotMatch / InvalidAccessKeyId /
AccessDenied "Request has expired"; 400 for X-Amz-Expires over a week).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from moto.server import ThreadedMotoServer

from local.apigateway import ApiGatewayServer
from local.sfn import LambdaRegistry
from local.sigv4 import install_presigned_url_check, secrets_of
from local.tls import LocalCertificateAuthority
from tests.local_cloud.test_api_gateway import FUNCTION_ARN, PNG, api_model, call, echo

ACCESS_KEY = "AKIALOCALTEST0000000"
SECRET = "local-test-secret-key"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCertificateAuthority:
    return LocalCertificateAuthority(tmp_path_factory.mktemp("tls") / "ca.pem")


@pytest.fixture
def gateway(ca: LocalCertificateAuthority) -> Iterator[tuple[ApiGatewayServer, list[str]]]:
    calls: list[str] = []

    def counted(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append("x")
        return echo(event, context)

    registry = LambdaRegistry({FUNCTION_ARN: counted})
    server = ApiGatewayServer(
        api_model(auth="AWS_IAM"),
        registry.invoke,
        ssl_context=ca.server_context(),
        account_id="123456789012",
        region=REGION,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET,
    ).start()
    yield server, calls
    server.stop()


def signed_headers(
    url: str,
    *,
    secret: str = SECRET,
    key: str = ACCESS_KEY,
    region: str = REGION,
    service: str = "execute-api",
    when: dt.datetime | None = None,
    body: bytes = PNG,
) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "image/png"})
    auth = SigV4Auth(Credentials(key, secret), service, region)
    if when is None:
        auth.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
            auth.add_auth(request)
    return dict(request.headers.items())


def test_only_a_current_signature_with_the_keys_secret_reaches_the_function(
    ca: LocalCertificateAuthority, gateway: tuple[ApiGatewayServer, list[str]]
) -> None:
    server, calls = gateway
    url = f"{server.stage_url('v1')}/predict?mode=echo"
    status, _, body = call(ca, url, PNG, signed_headers(url))
    assert status == 200, body
    assert json.loads(body)["requestContext"]["identity"]["accessKey"] == ACCESS_KEY
    assert calls == ["x"]
    now = dt.datetime.now(dt.UTC)
    mismatch = "The request signature we calculated does not match the signature you provided."
    cases: dict[str, tuple[dict[str, str], bytes, str, str]] = {
        "wrong secret": (
            signed_headers(url, secret="not-the-secret"),
            PNG,
            mismatch,
            "InvalidSignatureException",
        ),
        "body changed after signing": (
            signed_headers(url),
            PNG + b"x",
            mismatch,
            "InvalidSignatureException",
        ),
        "query changed after signing": (
            signed_headers(url.replace("mode=echo", "mode=other")),
            PNG,
            mismatch,
            "InvalidSignatureException",
        ),
        "unknown key": (
            signed_headers(url, key="AKIAUNKNOWN000000000"),
            PNG,
            "The security token included in the request is invalid.",
            "UnrecognizedClientException",
        ),
        "signed 6 minutes ago": (
            signed_headers(url, when=now - dt.timedelta(minutes=6)),
            PNG,
            "Signature expired: ",
            "InvalidSignatureException",
        ),
        "signed 6 minutes ahead": (
            signed_headers(url, when=now + dt.timedelta(minutes=6)),
            PNG,
            "Signature not yet current: ",
            "InvalidSignatureException",
        ),
        "another region": (
            signed_headers(url, region="eu-west-1"),
            PNG,
            "Credential should be scoped to a valid region, not 'eu-west-1'. ",
            "InvalidSignatureException",
        ),
        "another service": (
            signed_headers(url, service="s3"),
            PNG,
            "Credential should be scoped to correct service: 'execute-api'. ",
            "InvalidSignatureException",
        ),
    }
    for case, (headers, data, message, error_type) in cases.items():
        status, response_headers, body = call(ca, url, data, headers)
        assert status == 403, case
        assert json.loads(body)["message"].startswith(message), (case, body)
        assert response_headers["x-amzn-ErrorType"] == error_type, case
    assert calls == ["x"]


def test_a_mismatch_shows_the_canonical_request_as_api_gateway_does(
    ca: LocalCertificateAuthority, gateway: tuple[ApiGatewayServer, list[str]]
) -> None:
    server, _ = gateway
    url = f"{server.stage_url('v1')}/predict"
    status, _, body = call(ca, url, PNG, signed_headers(url, secret="wrong"))
    message = json.loads(body)["message"]
    assert status == 403
    assert "The Canonical String for this request should have been\n'POST\n/v1/predict\n" in message
    assert f"/{REGION}/execute-api/aws4_request\n" in message


# -- presigned S3 URLs ------------------------------------------------------------------------------


@pytest.fixture
def s3_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    check = install_presigned_url_check(secrets_of({ACCESS_KEY: SECRET}), REGION)
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        check.uninstall()
        server.stop()


def s3_client(endpoint: str, key: str = ACCESS_KEY, secret: str = SECRET) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_presigned_urls_are_verified_like_s3(s3_server: str) -> None:
    s3 = s3_client(s3_server)
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="images/a b.png", Body=PNG)
    s3.put_object(Bucket="data", Key="incoming/run/manifest", Body=b"secret manifest")

    def presign(client: Any, key: str, expires: int = 60) -> str:
        url: str = client.generate_presigned_url(
            "get_object", Params={"Bucket": "data", "Key": key}, ExpiresIn=expires
        )
        return url

    good = presign(s3, "images/a b.png")
    assert fetch(good) == (200, PNG)
    tampered = good.replace("images/a%20b.png", "incoming/run/manifest")
    status, body = fetch(tampered)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    status, body = fetch(presign(s3_client(s3_server, secret="guessed"), "incoming/run/manifest"))
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    status, body = fetch(presign(s3_client(s3_server, key="AKIAUNKNOWN000000000"), "images/a b.png"))
    assert status == 403 and b"<Code>InvalidAccessKeyId</Code>" in body
    status, body = fetch(presign(s3, "images/a b.png", expires=8 * 24 * 3600))
    assert status == 400 and b"<Code>AuthorizationQueryParametersError</Code>" in body
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    with mock.patch("botocore.auth.get_current_datetime", return_value=old.replace(tzinfo=None)):
        expired = presign(s3, "images/a b.png", expires=60)
    status, body = fetch(expired)
    assert status == 403 and b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in body
    # SDK calls signed in the Authorization header still reach moto as before.
    assert s3.get_object(Bucket="data", Key="incoming/run/manifest")["Body"].read() == b"secret manifest"
