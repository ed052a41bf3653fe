"""API Gateway (REST, proxy integration) responses: JSON bodies, never stack traces."""

from __future__ import annotations

import json
from typing import Any

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


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


def header(headers: dict[str, Any] | None, name: str) -> str | None:
    """Case-insensitive header lookup (API Gateway keeps the client's spelling)."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None
