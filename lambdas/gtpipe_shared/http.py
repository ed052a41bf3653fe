"""API Gateway (REST, proxy integration) responses: JSON bodies, never stack traces."""

from __future__ import annotations

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
