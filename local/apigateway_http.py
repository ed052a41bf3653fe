"""The REST API's HTTP side: TLS server, request framing, API Gateway's own error answers (and the API's
gateway responses that customise them), the access log. See :mod:`local.apigateway`."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import ssl
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final

from .api_model import GatewayResponseModel

if TYPE_CHECKING:
    from .apigateway import ApiGatewayServer

LOG = logging.getLogger("local.apigateway")

MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024


class GatewayError(Exception):
    """An API Gateway answer of its own (not the integration's); ``response_type`` names the gateway
    response that customises it (REQUEST_TOO_LARGE, ...), when the API may customise it locally."""

    def __init__(self, status: int, message: str, error_type: str, response_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.response_type = response_type


def bad_request() -> GatewayError:
    """A request whose body framing cannot be read (the connection is closed after the answer)."""
    return GatewayError(400, "Bad Request", "BadRequestException")


def read_chunked(stream: Any, limit: int) -> bytes:
    """A ``Transfer-Encoding: chunked`` body from ``stream`` (extensions and trailers skipped);
    :func:`bad_request` when malformed, REQUEST_TOO_LARGE past ``limit`` bytes."""
    body = bytearray()
    while True:
        line = stream.readline(1024)
        size_text = line.split(b";", 1)[0].strip()
        if not line.endswith(b"\n") or not size_text or not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_text):
            raise bad_request()
        size = int(size_text, 16)
        if size == 0:
            break
        if len(body) + size > limit:
            raise request_too_large("RequestTooLongException")
        data = stream.read(size)
        if len(data) != size or stream.readline(3) not in (b"\r\n", b"\n"):
            raise bad_request()
        body += data
    for _ in range(100):  # trailer fields, then the empty line
        if stream.readline(8192) in (b"\r\n", b"\n", b""):
            return bytes(body)
    raise bad_request()


def request_too_large(error_type: str) -> GatewayError:
    """API Gateway's REQUEST_TOO_LARGE answer (its payload limit, or Lambda's request limit)."""
    return GatewayError(413, "Request Too Long", error_type, "REQUEST_TOO_LARGE")


def gateway_answer(
    error: GatewayError, responses: Mapping[str, GatewayResponseModel], request_id: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The HTTP answer for one of API Gateway's own errors: its default JSON ``{"message"}``, or the API's
    gateway response of the error's type (status, static headers, the ``application/json`` template)."""
    default_headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.error_type)]
    default = (error.status, default_headers, json.dumps({"message": error.message}).encode())
    custom = responses.get(error.response_type or "")
    if custom is None:
        return default
    templates = dict(custom.templates)
    template = templates.get("application/json", next(iter(templates.values()), None))
    body = default[2] if template is None else _render(template, error, request_id).encode()
    headers = [("x-amzn-ErrorType", error.error_type), *custom.headers]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.insert(0, ("Content-Type", "application/json"))
    return custom.status_code or error.status, headers, body


def _render(template: str, error: GatewayError, request_id: str) -> str:
    # The $context variables gateway response templates use most; anything else stays as written.
    values = {
        "$context.error.messageString": json.dumps(error.message),
        "$context.error.message": error.message,
        "$context.error.responseType": error.response_type or "",
        "$context.requestId": request_id,
    }
    for variable, value in values.items():
        template = template.replace(variable, value)
    return template


class TlsThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    # Many concurrent clients (tests poll while a deployment runs).
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext
    ) -> None:
        super().__init__(address, handler)
        # Handshakes happen in the request threads (on first read), so a slow client cannot block accept().
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # TLS handshake failures (a client that does not trust the CA) are the client's problem: log quietly.
        LOG.debug("connection from %s failed", client_address, exc_info=True)


def access_log_line(
    handler: BaseHTTPRequestHandler, request_id: str, status: int, length: int, seconds: float
) -> str:
    return json.dumps(
        {
            "requestId": request_id,
            "ip": handler.client_address[0],
            "requestTime": dt.datetime.now(dt.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "httpMethod": handler.command,
            "path": handler.path,
            "status": status,
            "protocol": "HTTP/1.1",
            "responseLength": length,
            "latencyMs": round(seconds * 1000, 1),
        }
    )


class GatewayRequestHandler(BaseHTTPRequestHandler):
    """One connection's requests through the gateway's pipeline (see :mod:`local.apigateway`); a subclass
    per server sets :attr:`gateway` (:func:`handler_class`)."""

    gateway: ApiGatewayServer
    protocol_version = "HTTP/1.1"
    server_version = "gtpipe-local-apigateway"
    sys_version = ""
    # A client that stops sending frees its thread (socket reads time out).
    timeout = 60

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def _handle(self) -> None:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        status = 500
        try:
            status, headers, body = self._process(request_id)
        except GatewayError as error:
            status, headers, body = gateway_answer(error, self.gateway.api.gateway_responses, request_id)
            if error.status == 400 and error.message == "Bad Request":
                self.close_connection = True
        except Exception:
            LOG.exception("unexpected error serving %s %s", self.command, self.path)
            status, body = 500, json.dumps({"message": "Internal server error"}).encode()
            headers = [("Content-Type", "application/json")]
        try:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("x-amzn-RequestId", request_id)
            self.send_header("x-amz-apigw-id", base64.b64encode(uuid.uuid4().bytes).decode()[:16])
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return
        self.gateway._access_log(self, request_id, status, len(body), time.monotonic() - started)

    def _process(self, request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
        body = self._body()
        return self.gateway.serve(
            http_method=self.command,
            target=self.path,
            header_pairs=[(name, value) for name, value in self.headers.items()],
            body=body,
            client_ip=self.client_address[0],
            request_id=request_id,
        )

    def _body(self) -> bytes:
        """The request body, framed by Content-Length or chunked transfer coding (see module docstring)."""
        codings = [
            v.strip().lower() for v in ",".join(self.headers.get_all("Transfer-Encoding") or []).split(",")
        ]
        lengths = {v.strip() for v in ",".join(self.headers.get_all("Content-Length") or []).split(",")} - {
            ""
        }
        if codings != [""]:
            self.close_connection = True
            if codings != ["chunked"] or lengths:
                raise bad_request()
            return read_chunked(self.rfile, MAX_PAYLOAD_BYTES)
        if not lengths:
            return b""
        if len(lengths) != 1 or not all(v.isdigit() and v.isascii() for v in lengths):
            self.close_connection = True
            raise bad_request()
        length = int(next(iter(lengths)))
        if length > MAX_PAYLOAD_BYTES:
            self.close_connection = True
            raise request_too_large("RequestTooLongException")
        return self.rfile.read(length) if length else b""


def handler_class(gateway: ApiGatewayServer) -> type[GatewayRequestHandler]:
    """The request handler class of one server (its requests go through ``gateway``)."""
    return type("Handler", (GatewayRequestHandler,), {"gateway": gateway})
