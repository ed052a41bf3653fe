"""The REST API over HTTPS on 127.0.0.1, forwarding to Lambda like API Gateway's proxy integration.

moto's API Gateway stores the API (so ``aws apigateway get-rest-apis`` / ``get-api-key --include-value``
work) but does not serve it. :class:`ApiGatewayServer` serves one :class:`local.api_model.RestApiModel`
at ``https://127.0.0.1:<port>/<stage>/<path>`` (TLS from :mod:`local.tls`), in a threaded server:

0. framing: a body is ``Content-Length`` bytes or, with ``Transfer-Encoding: chunked``, the decoded chunks
   (never read as a further request); a ``Content-Length`` that is not one decimal length, a malformed
   chunk, or another transfer coding answers 400 ``{"message": "Bad Request"}`` and closes the connection.
   ``/<stage>`` without a trailing slash is the stage's root resource, like ``/<stage>/`` (API Gateway does
   not redirect), with ``requestContext.path`` as requested;
1. routing: the stage, then the resource path (``{param}`` and ``{param+}`` segments supported) and the
   method; unknown paths/methods answer 403 ``{"message": "Missing Authentication Token"}`` like API
   Gateway; payloads over 10 MB answer 413 ``{"message": "Request Too Long"}`` (REQUEST_TOO_LARGE);
2. authorization: ``AWS_IAM`` methods need a SigV4 ``Authorization`` header signed with the local access key
   and its secret, for this region and ``execute-api``, dated within 5 minutes; the signature is recomputed
   with botocore's signer (:func:`local.sigv4.verify_request`: API Gateway's 403 messages for a wrong
   signature, an expired date, a wrong scope or an unknown key); ``ApiKeyRequired`` methods need an
   ``x-api-key`` of an enabled key in a usage plan of the stage; failures answer 403 JSON.
   ``COGNITO_USER_POOLS`` methods need the raw JWT in the authorizer's header (``Authorization``), verified
   by :class:`local.cognito.CognitoTokenVerifier` (signature, issuer = one of the authorizer's pools,
   expiry, ID token whose audience is a client of the pool; access token with a scope when the method
   lists scopes); failures answer 401 ``{"message": "Unauthorized"}``, success puts the claims (strings,
   ``cognito:groups`` comma-joined) into ``requestContext.authorizer.claims``;
3. throttling: token buckets from the stage's ``MethodSettings`` and the usage plan's throttle answer
   429 ``{"message": "Too Many Requests"}``;
4. request validation: required request parameters (``method.request.header.*``/``querystring.*``) when
   the method's validator checks parameters, 400 otherwise;
5. integration: ``AWS_PROXY`` builds the REST API proxy event (``resource``, ``path``, ``httpMethod``,
   ``headers``, ``multiValueHeaders``, query strings, ``pathParameters``, ``requestContext`` with stage,
   request id and identity, ``body`` base64-encoded with ``isBase64Encoded: true`` when the content type
   matches the API's ``BinaryMediaTypes``) and invokes the function; the proxy response's ``statusCode``,
   ``headers``/``multiValueHeaders`` and ``body`` (decoded when ``isBase64Encoded``) become the HTTP
   response. A function error or malformed response answers 502 ``Internal server error``, an
   invocation over the 29 s integration timeout 504. ``MOCK`` integrations answer 200 ``{}``. A proxy event
   over Lambda's 6 MB synchronous request limit (a binary body grows by a third in base64: images over
   ~4.5 MB) never reaches the function: Lambda refuses it (RequestEntityTooLargeException, see
   :mod:`local.sfn.lambdas`) and the gateway answers REQUEST_TOO_LARGE, 413 ``{"message": "Request Too
   Long"}`` (x-amzn-ErrorType BadRequestException), as API Gateway does;
6. gateway responses: the API's ``AWS::ApiGateway::GatewayResponse`` for the error's type (status,
   headers, body template with ``$context.error.message``/``messageString``/``responseType`` and
   ``$context.requestId``) replace the default answer of the errors above that carry a response type.

No error ever carries a stack trace; unexpected failures answer 500 ``{"message": "Internal server
error"}`` and are logged.
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import json
import logging
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from .api_model import GatewayResponseModel, MethodModel, RestApiModel, StageModel, Throttle
from .cfn import ResourceState
from .cognito import CognitoTokenVerifier, Unauthorized, api_gateway_claims, bearer_token
from .iam_auth import Principals
from .iam_policy import Request
from .sfn import LambdaServiceError
from .sigv4 import SecretLookup, SignatureError, secrets_of, verify_request

LOG = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024
INTEGRATION_TIMEOUT_SECONDS: Final = 29.0

Invoke = Callable[[str, str], dict[str, Any]]
"""``invoke(function name or ARN, JSON payload)`` -> Lambda Invoke response (``LambdaRegistry.invoke``)."""


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


def gateway_response_resource(ctx: Any, logical_id: str, props: dict[str, Any]) -> ResourceState:
    """Deploy an ``AWS::ApiGateway::GatewayResponse`` into its API's model (a local deployer handler).

    Header values are API Gateway mapping expressions; static ones (``'application/json'``) are supported.
    """
    api = ctx.deployment.apis[props["RestApiId"]]
    headers = []
    for name, value in (props.get("ResponseParameters") or {}).items():
        header = str(name).removeprefix("gatewayresponse.header.")
        if not (str(value).startswith("'") and str(value).endswith("'")):
            raise ValueError(
                f"{logical_id}: only static gateway response header values are supported locally"
            )
        headers.append((header, str(value)[1:-1]))
    response_type = str(props["ResponseType"])
    api.gateway_responses[response_type] = GatewayResponseModel(
        response_type=response_type,
        status_code=int(props["StatusCode"]) if props.get("StatusCode") else None,
        headers=tuple(headers),
        templates=tuple((props.get("ResponseTemplates") or {}).items()),
    )
    return ResourceState("AWS::ApiGateway::GatewayResponse", f"{api.id}-{response_type}")


class TokenBucket:
    """Thread-safe token bucket: ``rate`` tokens per second, at most ``capacity`` stored."""

    def __init__(self, throttle: Throttle) -> None:
        self.rate = max(0.0, throttle.rate_limit)
        self.capacity = max(1, throttle.burst_limit)
        self._tokens = float(self.capacity)
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Take one token; False when the bucket is empty (the request is throttled)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


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


def _match_route(template: str, path: str) -> dict[str, str] | None:
    """Path parameters when ``path`` matches the resource ``template`` (``/a/{id}/{proxy+}``), else None."""
    template_parts = [p for p in template.split("/") if p]
    path_parts = [p for p in path.split("/") if p]
    params: dict[str, str] = {}
    for index, part in enumerate(template_parts):
        if part.startswith("{") and part.endswith("+}"):
            rest = path_parts[index:]
            if not rest:
                return None
            params[part[1:-2]] = "/".join(rest)
            return params
        if index >= len(path_parts):
            return None
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = unquote(path_parts[index])
        elif part != path_parts[index]:
            return None
    return params if len(template_parts) == len(path_parts) else None


class ApiGatewayServer:
    """Serves one REST API over HTTPS (see module docstring)."""

    def __init__(
        self,
        api: RestApiModel,
        invoke: Invoke,
        *,
        ssl_context: ssl.SSLContext,
        account_id: str,
        region: str,
        access_key_id: str,
        secret_access_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        integration_timeout: float = INTEGRATION_TIMEOUT_SECONDS,
        access_log: Path | None = None,
        token_verifier: CognitoTokenVerifier | None = None,
        secret_for: SecretLookup | None = None,
        principals: Principals | None = None,
    ) -> None:
        self.api = api
        self.token_verifier = token_verifier
        self.invoke = invoke
        self.account_id = account_id
        self.region = region
        self.access_key_id = access_key_id
        # Without the secret no signature can verify: AWS_IAM methods then refuse every request.
        self.secret_for = secret_for or secrets_of(
            {access_key_id: secret_access_key} if secret_access_key else {}
        )
        # Role sessions' keys (local/iam_auth.py): their identity policies must allow execute-api:Invoke.
        self.principals = principals
        self.integration_timeout = integration_timeout
        self.access_log = access_log
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._buckets_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=32, thread_name_prefix="apigw-integration"
        )
        self._server = _TlsThreadingServer((host, port), _handler_class(self), ssl_context)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self.port}"

    def stage_url(self, stage: str) -> str:
        """The invoke URL of a stage (what ``ApiUrl`` is on AWS)."""
        return f"{self.base_url}/{stage}"

    def start(self) -> ApiGatewayServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="apigateway", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- request pipeline ----------------------------------------------------------------------------

    def _bucket(self, key: tuple[str, ...], throttle: Throttle) -> TokenBucket:
        with self._buckets_lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(throttle)
            return bucket

    def route(self, path: str) -> tuple[StageModel, str]:
        """The stage and the resource path part of a request path (``/v1/predict`` -> v1, ``/predict``)."""
        stage_name, _, rest = path.lstrip("/").partition("/")
        stage = self.api.stages.get(stage_name)
        if stage is None:
            raise GatewayError(403, "Forbidden", "ForbiddenException")
        return stage, "/" + rest

    def find_method(self, http_method: str, resource_path: str) -> tuple[MethodModel, dict[str, str]]:
        """The method serving a request, with its path parameters; 403 like API Gateway otherwise."""
        candidates = []
        for (template, method_name), method in self.api.methods.items():
            if method_name not in (http_method, "ANY"):
                continue
            params = _match_route(template, resource_path)
            if params is not None:
                # Literal segments beat parameters; exact methods beat ANY.
                candidates.append((template.count("{"), method_name == "ANY", method, params))
        if not candidates:
            raise GatewayError(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        candidates.sort(key=lambda item: (item[0], item[1]))
        return candidates[0][2], candidates[0][3]

    def authorize(
        self,
        method: MethodModel,
        stage: StageModel,
        headers: Mapping[str, str],
        request: tuple[str, str, list[tuple[str, str]], bytes] | None = None,
    ) -> dict[str, Any]:
        """Check IAM and API-key auth; returns the identity fields of the request context. ``request`` is
        ``(method, raw path with query, header pairs, body)``, whose SigV4 signature ``AWS_IAM`` checks."""
        identity: dict[str, Any] = {}
        if method.authorization_type == "AWS_IAM":
            if not headers.get("authorization", ""):
                raise GatewayError(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
            http_method, raw_path, header_pairs, body = request or (method.http_method, "/", [], b"")
            try:
                caller = verify_request(
                    method=http_method,
                    raw_path=raw_path,
                    headers=header_pairs or list(headers.items()),
                    body=body,
                    secret_for=self.secret_for,
                    region=self.region,
                )
            except SignatureError as error:
                raise GatewayError(error.status, error.message, error.code) from None
            self._authorize_invoke(caller.access_key_id, http_method, raw_path)
            identity.update(
                accessKey=caller.access_key_id,
                accountId=self.account_id,
                caller=caller.access_key_id,
                user=caller.access_key_id,
                userArn=f"arn:aws:iam::{self.account_id}:user/local",
            )
        if method.api_key_required:
            value = headers.get("x-api-key", "")
            usable = self.api.keys_for_stage(stage.name)
            if not value or value not in usable:
                raise GatewayError(403, "Forbidden", "ForbiddenException")
            key, plan = usable[value]
            identity.update(apiKey=value, apiKeyId=key.id)
            if plan.throttle and not self._bucket(("plan", plan.id, key.id), plan.throttle).take():
                raise GatewayError(429, "Too Many Requests", "TooManyRequestsException")
        return identity

    def _authorize_invoke(self, access_key_id: str, http_method: str, raw_path: str) -> None:
        """A role session needs ``execute-api:Invoke`` on ``<api>/<stage>/<METHOD>/<path>``; API Gateway masks
        the account in its 403 (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html)."""
        principal = self.principals.principal_for(access_key_id) if self.principals else None
        if principal is None or self.principals is None:
            return
        stage, _, path = raw_path.split("?", 1)[0].lstrip("/").partition("/")
        arn = f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api.id}/{stage}/{http_method.upper()}/{path}"
        denial = self.principals.denial(principal, [Request("execute-api:Invoke", arn)])
        if denial is not None:
            masked = arn.replace(f":{self.account_id}:", f":********{self.account_id[-4:]}:")
            message = f"User: {principal.arn} is not authorized to perform: execute-api:Invoke on resource: {masked}"
            raise GatewayError(403, message, "AccessDeniedException")

    def authorize_cognito(self, method: MethodModel, headers: Mapping[str, str]) -> dict[str, Any] | None:
        """``requestContext.authorizer`` of a ``COGNITO_USER_POOLS`` method (``{"claims": {...}}``), None for
        other methods; 401 ``Unauthorized`` when the token does not verify."""
        if method.authorization_type != "COGNITO_USER_POOLS":
            return None
        authorizer = self.api.authorizers.get(method.authorizer_id or "")
        if authorizer is None or self.token_verifier is None:
            LOG.warning(
                "%s %s: no Cognito authorizer to check the token", method.http_method, method.resource_path
            )
            raise GatewayError(500, "Internal server error", "AuthorizerConfigurationException")
        token = bearer_token(headers.get(authorizer.header))
        if not token:
            raise GatewayError(401, "Unauthorized", "UnauthorizedException")
        try:
            claims = self.token_verifier.verify(token, authorizer.provider_arns, method.authorization_scopes)
        except Unauthorized as error:
            LOG.debug("%s %s: token refused: %s", method.http_method, method.resource_path, error)
            raise GatewayError(401, "Unauthorized", "UnauthorizedException") from None
        return {"claims": api_gateway_claims(claims)}

    def throttle(self, stage: StageModel, method: MethodModel) -> None:
        """Apply the stage's method throttle (token bucket); 429 when exhausted."""
        throttle = stage.throttle_for(method.resource_path, method.http_method)
        if (
            throttle
            and not self._bucket(
                ("stage", stage.name, method.resource_path, method.http_method), throttle
            ).take()
        ):
            raise GatewayError(429, "Too Many Requests", "TooManyRequestsException")

    def validate(
        self, method: MethodModel, headers: Mapping[str, str], query: Mapping[str, list[str]]
    ) -> None:
        """Required request parameters, when the method's validator checks parameters."""
        validator = self.api.validators.get(method.validator_id or "")
        if not validator or not validator[1]:
            return
        missing = []
        for name, required in method.request_parameters.items():
            if not required:
                continue
            _, _, location_and_name = name.partition("method.request.")
            location, _, parameter = location_and_name.partition(".")
            if (location == "header" and parameter.lower() not in headers) or (
                location == "querystring" and parameter not in query
            ):
                missing.append(parameter)
        if missing:
            raise GatewayError(
                400, f"Missing required request parameters: [{', '.join(missing)}]", "BadRequestException"
            )

    def proxy_event(
        self,
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
        """The REST API (v1) Lambda proxy event for a request (``authorizer``: the Cognito claims;
        ``raw_path``: the path as requested, for ``requestContext.path``)."""
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in header_pairs:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        content_type = next((v for k, v in header_pairs if k.lower() == "content-type"), None)
        binary = is_binary(content_type, self.api.binary_media_types)
        if not body:
            body_value: str | None = None
        elif binary:
            body_value = base64.b64encode(body).decode("ascii")
        else:
            body_value = body.decode("utf-8", errors="replace")
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
                "accountId": self.account_id,
                "protocol": "HTTP/1.1",
                "stage": stage.name,
                "domainPrefix": "127",
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "requestId": request_id,
                "identity": {
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
                },
                "domainName": "127.0.0.1",
                "apiId": self.api.id,
            },
            "body": body_value,
            "isBase64Encoded": bool(body) and binary,
        }
        if authorizer is not None:
            event["requestContext"]["authorizer"] = authorizer
        return event

    def integrate(
        self, method: MethodModel, event: dict[str, Any]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Call the integration; the HTTP status, headers and body to send."""
        if method.integration_type == "MOCK" or method.function_arn is None:
            return 200, [("Content-Type", "application/json")], b"{}"
        future = self._executor.submit(self.invoke, method.function_arn, json.dumps(event))
        try:
            response = future.result(timeout=self.integration_timeout)
        except concurrent.futures.TimeoutError:
            raise GatewayError(504, "Endpoint request timed out", "IntegrationTimeout") from None
        except LambdaServiceError as error:
            if error.code != "RequestEntityTooLargeException":
                LOG.warning("integration call to %s failed: %s", method.function_arn, error)
                raise GatewayError(500, "Internal server error", "InternalServerErrorException") from None
            # Lambda refused the proxy event (over 6 MB): API Gateway answers REQUEST_TOO_LARGE, observed as
            # 413 {"message": "Request Too Long"} with x-amzn-ErrorType BadRequestException.
            raise request_too_large("BadRequestException") from None
        except Exception as error:
            LOG.warning("integration call to %s failed: %s", method.function_arn, error)
            raise GatewayError(500, "Internal server error", "InternalServerErrorException") from None
        if "FunctionError" in response:
            LOG.warning("function %s failed: %s", method.function_arn, str(response.get("Payload"))[:500])
            raise GatewayError(502, "Internal server error", "InternalServerErrorException")
        return proxy_response(response.get("Payload"))

    def _access_log(
        self, handler: BaseHTTPRequestHandler, request_id: str, status: int, length: int, seconds: float
    ) -> None:
        # The stage's access log (AccessLogSetting) goes to a local file instead of CloudWatch Logs.
        if self.access_log is None:
            return
        line = _access_log_line(handler, request_id, status, length, seconds)
        with self._log_lock, self.access_log.open("a", encoding="utf-8") as stream:
            stream.write(line + "\n")


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


class _TlsThreadingServer(ThreadingHTTPServer):
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


def _handler_class(gateway: ApiGatewayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
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
                status, headers, body = gateway_answer(error, gateway.api.gateway_responses, request_id)
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
            gateway._access_log(self, request_id, status, len(body), time.monotonic() - started)

        def _process(self, request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
            split = urlsplit(self.path)
            body = self._body()
            stage, resource_path = gateway.route(split.path)
            http_method = self.command
            method, path_parameters = gateway.find_method(http_method, resource_path)
            header_pairs = [(name, value) for name, value in self.headers.items()]
            lower = {name.lower(): value for name, value in header_pairs}
            query = parse_qs(split.query, keep_blank_values=True)
            identity = gateway.authorize(method, stage, lower, (http_method, self.path, header_pairs, body))
            authorizer = gateway.authorize_cognito(method, lower)
            gateway.throttle(stage, method)
            gateway.validate(method, lower, query)
            header_pairs.extend(
                [
                    ("X-Forwarded-For", self.client_address[0]),
                    ("X-Forwarded-Port", str(gateway.port)),
                    ("X-Forwarded-Proto", "https"),
                ]
            )
            event = gateway.proxy_event(
                method=method,
                stage=stage,
                http_method=http_method,
                request_path=resource_path,
                raw_path=split.path,
                path_parameters=path_parameters,
                header_pairs=header_pairs,
                query=query,
                body=body,
                source_ip=self.client_address[0],
                identity=identity,
                request_id=request_id,
                authorizer=authorizer,
            )
            return gateway.integrate(method, event)

        def _body(self) -> bytes:
            """The request body, framed by Content-Length or chunked transfer coding (see module docstring)."""
            codings = [
                v.strip().lower()
                for v in ",".join(self.headers.get_all("Transfer-Encoding") or []).split(",")
            ]
            lengths = {
                v.strip() for v in ",".join(self.headers.get_all("Content-Length") or []).split(",")
            } - {""}
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

    return Handler


def _access_log_line(
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
