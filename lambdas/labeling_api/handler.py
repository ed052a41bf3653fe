"""labeling_api: the builtin labeling service's REST API (API Gateway proxy). Work in progress."""

from __future__ import annotations

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway proxy event -> proxy response (first cut: not implemented yet)."""
    return {
        "statusCode": 501,
        "headers": {"Content-Type": "application/json"},
        "body": '{"error":"NotImplemented","message":"work in progress"}',
        "isBase64Encoded": False,
    }
