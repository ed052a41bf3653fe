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

Here: :class:`ApiGatewayServer` and its pipeline (steps 1-5), throttling buckets, the gateway responses'
deployer handler. The HTTP side (TLS server, framing, step 0, error answers and gateway responses, the
access log) is :mod:`local.apigateway_http`; the proxy integration format (event, response, binary media
types) :mod:`local.apigateway_event`.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from .api_model import GatewayResponseModel, MethodModel, RestApiModel, StageModel, Throttle
from .apigateway_event import proxy_event, proxy_response
from .apigateway_http import (
    GatewayError,
    TlsThreadingServer,
    access_log_line,
    handler_class,
    request_too_large,
)
from .cfn import ResourceState
from .cognito import CognitoTokenVerifier, Unauthorized, api_gateway_claims, bearer_token
from .iam_auth import Principals
from .iam_policy import Request
from .sfn import LambdaServiceError
from .sigv4 import SecretLookup, SignatureError, secrets_of, verify_request

LOG = logging.getLogger(__name__)

INTEGRATION_TIMEOUT_SECONDS: Final = 29.0

Invoke = Callable[[str, str], dict[str, Any]]
"""``invoke(function name or ARN, JSON payload)`` -> Lambda Invoke response (``LambdaRegistry.invoke``)."""


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
        self._server = TlsThreadingServer((host, port), handler_class(self), ssl_context)
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

    def serve(
        self,
        *,
        http_method: str,
        target: str,
        header_pairs: list[tuple[str, str]],
        body: bytes,
        client_ip: str,
        request_id: str,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """One request (``target``: path and query as sent) through the pipeline of the module docstring,
        steps 1-5; the HTTP status, headers and body, or the :class:`GatewayError` that answers it."""
        split = urlsplit(target)
        stage, resource_path = self.route(split.path)
        method, path_parameters = self.find_method(http_method, resource_path)
        lower = {name.lower(): value for name, value in header_pairs}
        query = parse_qs(split.query, keep_blank_values=True)
        identity = self.authorize(method, stage, lower, (http_method, target, header_pairs, body))
        authorizer = self.authorize_cognito(method, lower)
        self.throttle(stage, method)
        self.validate(method, lower, query)
        forwarded = [
            ("X-Forwarded-For", client_ip),
            ("X-Forwarded-Port", str(self.port)),
            ("X-Forwarded-Proto", "https"),
        ]
        event = proxy_event(
            self.api,
            self.account_id,
            method=method,
            stage=stage,
            http_method=http_method,
            request_path=resource_path,
            raw_path=split.path,
            path_parameters=path_parameters,
            header_pairs=[*header_pairs, *forwarded],
            query=query,
            body=body,
            source_ip=client_ip,
            identity=identity,
            request_id=request_id,
            authorizer=authorizer,
        )
        return self.integrate(method, event)

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
        line = access_log_line(handler, request_id, status, length, seconds)
        with self._log_lock, self.access_log.open("a", encoding="utf-8") as stream:
            stream.write(line + "\n")
