"""API Gateway (REST, proxy integration) responses: JSON bodies, never stack traces."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gtpipe_shared.config import ConfigError

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

# nosniff: browsers must not read a JSON answer as anything else (HTML, script).
JSON_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


class RequestError(Exception):
    """A client error with its HTTP status and code: the handler answers it as :func:`error_response`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A proxy-integration response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":"), default=str),
        "isBase64Encoded": False,
    }


def error_response(status: int, code: str, message: str) -> dict[str, Any]:
    """``{"error": message, "code": code}`` with the given status."""
    return json_response(status, {"error": message, "code": code})


def never_raising(
    event: Any,
    handle: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    logger: Logger,
    error: Callable[[int, str, str], dict[str, Any]] = error_response,
) -> dict[str, Any]:
    """``handle(event)``, or the error response that keeps stack traces from clients.

    Not a proxy event (not a JSON object): 400 ``InvalidRequest``; a ConfigError (logged): 500
    ``ConfigurationError``; anything else (logged with its traceback): 500 ``InternalError``. ``error``
    builds these responses from (status, code, message), in the API's own error shape.
    """
    try:
        if not isinstance(event, dict):
            return error(400, "InvalidRequest", "not an API Gateway proxy event")
        return handle(event)
    except ConfigError as exc:
        logger.error("configuration error", extra={"error": str(exc)})
        return error(500, "ConfigurationError", "the service is misconfigured")
    except Exception:
        logger.exception("unexpected error")
        return error(500, "InternalError", "internal error")


def header(headers: dict[str, Any] | None, name: str) -> str | None:
    """Case-insensitive header lookup (API Gateway keeps the client's spelling)."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def json_object_body(event: dict[str, Any], *, max_bytes: int, shape: str) -> dict[str, Any]:
    """The request body parsed as a JSON object (base64-decoded when API Gateway marked it so).

    RequestError 400 ``EmptyBody``/``InvalidBody``/``InvalidJson`` naming ``shape`` (what the route expects,
    e.g. ``{"upload_id": ...}``), 413 ``PayloadTooLarge`` over ``max_bytes``.
    """
    body = event.get("body")
    if not isinstance(body, str) or not body:
        raise RequestError(400, "EmptyBody", f"send a JSON object {shape}")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise RequestError(400, "InvalidBody", "request body is not valid base64 UTF-8") from exc
    if len(body.encode("utf-8", "surrogateescape")) > max_bytes:
        raise RequestError(413, "PayloadTooLarge", f"the body is over {max_bytes} bytes")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise RequestError(400, "InvalidJson", f"request body is not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise RequestError(400, "InvalidJson", f"the body must be a JSON object {shape}")
    return data
