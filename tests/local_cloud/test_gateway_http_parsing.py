"""The local gateway's HTTP framing over raw TLS sockets on loopback (fast; every read has a timeout).

Given the local gateway serving a proxy method, when a client sends a malformed ``Content-Length``, a
chunked body, or asks for the stage without a trailing slash, then it answers as API Gateway does: 400 for
a body length it cannot use (and closes the connection), chunked bodies decoded and passed to the function
as one body (not parsed as a second request), and ``/<stage>`` served by the root resource like
``/<stage>/``, with ``requestContext.path`` as requested.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.apigateway import ApiGatewayServer
from local.sfn import LambdaRegistry
from local.tls import LocalCertificateAuthority
from tests.local_cloud.test_api_gateway import FUNCTION_ARN, api_model, proxy_method

TIMEOUT = 5.0


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCertificateAuthority:
    return LocalCertificateAuthority(tmp_path_factory.mktemp("tls") / "ca.pem")


@pytest.fixture
def gateway(ca: LocalCertificateAuthority) -> Iterator[ApiGatewayServer]:
    api = api_model()
    api.methods[("/", "GET")] = proxy_method("root", "/", "GET")
    server = ApiGatewayServer(
        api,
        LambdaRegistry({FUNCTION_ARN: echo}).invoke,
        ssl_context=ca.server_context(),
        account_id="123456789012",
        region="us-east-1",
        access_key_id="AKIALOCALTEST0000000",
    ).start()
    yield server
    server.stop()


def exchange(ca: LocalCertificateAuthority, port: int, raw: bytes) -> bytes:
    """Send ``raw`` over TLS to 127.0.0.1:``port``; everything the server sends until it closes or goes
    quiet for a second (bounded by :data:`TIMEOUT` overall)."""
    context = ssl.create_default_context(cafile=str(ca.ca_path))
    deadline = time.monotonic() + TIMEOUT
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as plain,
        context.wrap_socket(plain, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(raw)
        received = b""
        tls.settimeout(1.0)
        while time.monotonic() < deadline:
            try:
                data = tls.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            received += data
        return received


def responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """The HTTP/1.1 responses in ``raw`` (Content-Length framed)."""
    parsed = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        parsed.append((int(lines[0].split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return parsed


def post(path: str, headers: str, body: bytes = b"") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{headers}\r\n".encode()
        + body
    )


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "12, 13"])
def test_a_content_length_that_is_not_a_length_is_400_and_the_connection_closes(
    ca: LocalCertificateAuthority, gateway: ApiGatewayServer, length: str
) -> None:
    started = time.monotonic()
    answers = responses(
        exchange(ca, gateway.port, post("/v1/predict", f"Content-Length: {length}\r\n", b"{}"))
    )
    assert time.monotonic() - started < TIMEOUT - 1, "the server must answer, not wait for more body"
    assert [status for status, _, _ in answers] == [400]
    assert answers[0][1].get("connection") == "close"
    assert json.loads(answers[0][2]) == {"message": "Bad Request"}


def test_chunked_bodies_are_decoded_and_never_read_as_another_request(
    ca: LocalCertificateAuthority, gateway: ApiGatewayServer
) -> None:
    smuggled = b"GET /v1/items/7 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    chunks = (
        b'5;ext=1\r\n{"a":\r\n' + f"{len(smuggled) + 2:x}".encode() + b"\r\n1}" + smuggled + b"\r\n0\r\n\r\n"
    )
    raw = post("/v1/predict", "Transfer-Encoding: chunked\r\nConnection: close\r\n", chunks)
    answers = responses(exchange(ca, gateway.port, raw))
    assert [status for status, _, _ in answers] == [200]
    event = json.loads(answers[0][2])
    assert event["body"] == '{"a":1}' + smuggled.decode()
    assert event["path"] == "/predict"


def test_malformed_chunks_are_400(ca: LocalCertificateAuthority, gateway: ApiGatewayServer) -> None:
    for chunks in (b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcdef\r\n0\r\n\r\n"):
        raw = post("/v1/predict", "Transfer-Encoding: chunked\r\n", chunks)
        assert [status for status, _, _ in responses(exchange(ca, gateway.port, raw))] == [400], chunks
    raw = post("/v1/predict", "Transfer-Encoding: gzip\r\nContent-Length: 2\r\n", b"{}")
    assert [status for status, _, _ in responses(exchange(ca, gateway.port, raw))] == [400]


def test_the_stage_without_a_slash_is_its_root_resource(
    ca: LocalCertificateAuthority, gateway: ApiGatewayServer
) -> None:
    for path in ("/v1", "/v1/"):
        raw = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        answers = responses(exchange(ca, gateway.port, raw))
        assert [status for status, _, _ in answers] == [200], path
        event = json.loads(answers[0][2])
        assert (event["resource"], event["path"], event["requestContext"]["path"]) == ("/", "/", path)
