"""The REST API's Lambda proxy integration format: the proxy event a request becomes, the HTTP answer a proxy
response becomes, and which payloads are binary (``BinaryMediaTypes``). See :mod:`local.apigateway`."""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from typing import Any

from .api_model import MethodModel, RestApiModel, StageModel
from .apigateway_http import GatewayError


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def is_binary(content_type: str | None, binary_media_types: list[str]) -> bool:
    """Whether API Gateway would treat a payload of ``content_type`` as binary (``*`` wildcards allowed)."""
    media = _media_type(content_type)
    if not media:
        return False
    for pattern in binary_media_types:
        # In templates "/" is sometimes escaped as "~1" (JSON Patch style).
        regex = re.escape(pattern.replace("~1", "/").lower()).replace(r"\*", "[^/]*")
        if re.fullmatch(regex, media) or pattern == "*/*":
            return True
    return False


def proxy_event(
    api: RestApiModel,
    account_id: str,
    *,
    method: MethodModel,
    stage: StageModel,
    http_method: str,
    request_path: str,
    path_parameters: dict[str, str],
    raw_path: str | None = None,
    header_pairs: list[tuple[str, str]],
    query: dict[str, list[str]],
    body: bytes,
    source_ip: str,
    identity: dict[str, Any],
    request_id: str,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The REST API (v1) Lambda proxy event for a request to ``api`` (``authorizer``: the Cognito claims;
    ``raw_path``: the path as requested, for ``requestContext.path``)."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in header_pairs:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    content_type = next((v for k, v in header_pairs if k.lower() == "content-type"), None)
    binary = is_binary(content_type, api.binary_media_types)
    body_value = _event_body(body, binary)
    now = dt.datetime.now(dt.UTC)
    user_agent = next((v for k, v in header_pairs if k.lower() == "user-agent"), None)
    event: dict[str, Any] = {
        "resource": method.resource_path,
        "path": "/" + request_path.lstrip("/"),
        "httpMethod": http_method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": dict(query) or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": method.resource_id,
            "resourcePath": method.resource_path,
            "httpMethod": http_method,
            "extendedRequestId": base64.b64encode(uuid.uuid4().bytes).decode()[:16],
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            # $context.path: the path as requested ("/prod" and "/prod/" both reach the root resource).
            "path": raw_path or f"/{stage.name}/{request_path.lstrip('/')}",
            "accountId": account_id,
            "protocol": "HTTP/1.1",
            "stage": stage.name,
            "domainPrefix": "127",
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": _event_identity(source_ip, user_agent, identity),
            "domainName": "127.0.0.1",
            "apiId": api.id,
        },
        "body": body_value,
        "isBase64Encoded": bool(body) and binary,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    return event


def _event_body(body: bytes, binary: bool) -> str | None:
    """The event's ``body``: None when empty, base64 when binary, else the text."""
    if not body:
        return None
    if binary:
        return base64.b64encode(body).decode("ascii")
    return body.decode("utf-8", errors="replace")


def _event_identity(source_ip: str, user_agent: str | None, identity: dict[str, Any]) -> dict[str, Any]:
    """``requestContext.identity``: API Gateway's fields, those the authorization filled (``identity``) set."""
    return {
        "cognitoIdentityPoolId": None,
        "accountId": None,
        "cognitoIdentityId": None,
        "caller": None,
        "sourceIp": source_ip,
        "principalOrgId": None,
        "accessKey": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": None,
        "userAgent": user_agent,
        "user": None,
        **identity,
    }


def proxy_response(payload: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Map a Lambda proxy response to (status, headers, body); a malformed one is API Gateway's 502."""
    if not isinstance(payload, dict):
        raise GatewayError(502, "Internal server error", "InternalServerErrorException")
    allowed = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies"}
    status = payload.get("statusCode", 200)
    if set(payload) - allowed or not isinstance(status, int) or not 100 <= status <= 599:
        raise GatewayError(502, "Internal server error", "InternalServerErrorException")
    headers: list[tuple[str, str]] = []
    for name, value in (payload.get("headers") or {}).items():
        headers.append((str(name), str(value)))
    single = {name.lower() for name, _ in headers}
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        if str(name).lower() in single:
            continue
        headers.extend((str(name), str(value)) for value in values or [])
    body = payload.get("body")
    if body is None:
        data = b""
    elif payload.get("isBase64Encoded"):
        try:
            data = base64.b64decode(str(body))
        except ValueError:
            raise GatewayError(502, "Internal server error", "InternalServerErrorException") from None
    else:
        data = str(body).encode("utf-8")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return status, headers, data
