"""In-process Lambda functions for the local Step Functions interpreter.

A :class:`LambdaRegistry` maps function names (or ARNs) to plain Python callables with the Lambda
signature ``handler(event, context)``. The interpreter patch in :mod:`local.sfn.moto_patches` sends
every Lambda invocation of a state machine here instead of to moto's Lambda backend (which needs
Docker), so tests and the local cloud run the real handler code in-process.

The registry reproduces what Step Functions sees from the Lambda service:

- a handler that returns: ``{"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": <JSON>}``;
- a handler that raises: ``FunctionError: "Unhandled"`` with the Python runtime's error payload
  ``{"errorMessage", "errorType", "requestId", "stackTrace"}``, which Step Functions turns into the
  error name ``errorType`` (the exception class name) and the payload as cause;
- a handler (usually a test double) that raises :class:`LambdaServiceError`: the *Lambda service*
  rejected the call, which Step Functions names ``Lambda.<code>``, e.g. ``Lambda.TooManyRequestsException``.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local.sagemaker.api import DEFAULT_ACCOUNT_ID, DEFAULT_REGION

LambdaHandler = Callable[[Any, "LambdaContext"], Any]
"""A Lambda entry point: ``handler(event, context) -> JSON-serialisable result``."""


# HTTP status codes the Lambda Invoke API uses for its error codes; Step Functions copies the status
# code into the cause ("Status Code: 429"), nothing matches on it.
_SERVICE_ERROR_STATUS: dict[str, int] = {
    "TooManyRequestsException": 429,
    "ResourceNotFoundException": 404,
    "ServiceException": 500,
    "EC2ThrottledException": 502,
    "ResourceNotReadyException": 502,
    "AWSLambdaException": 500,
    "RequestEntityTooLargeException": 413,
}

# "Invocation payload (request and response): 6 MB each for request and response (synchronous)". Lambda
# refuses a larger request before the function runs (RequestEntityTooLargeException, HTTP 413, "Request must
# be smaller than 6291556 bytes for the Invoke operation"); a larger response is a function error.
#   https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
#   https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html (413; the API reference names it
#   RequestTooLargeException, the service answers with the code RequestEntityTooLargeException)
SYNC_PAYLOAD_LIMIT_BYTES = 6_291_556
ASYNC_PAYLOAD_LIMIT_BYTES = 1_048_576


class LambdaServiceError(Exception):
    """The Lambda *service* failed the Invoke call (the function code did not run or its result is lost).

    Raise it from a test double to simulate throttling or service faults. Step Functions reports it
    with the error name ``Lambda.<code>``, e.g.::

        raise LambdaServiceError("TooManyRequestsException", "Rate Exceeded.")
        # -> error "Lambda.TooManyRequestsException", matched by Retry ErrorEquals
    """

    def __init__(self, code: str, message: str = "", *, status_code: int | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message or code
        self.status_code = status_code if status_code is not None else _SERVICE_ERROR_STATUS.get(code, 400)


@dataclass
class LambdaContext:
    """The subset of the Python runtime's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 128
    timeout_seconds: int = 900
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"
        if not self._deadline:
            self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the configured function timeout (not enforced locally)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Invocation:
    """One recorded call of a registered function (for assertions in tests)."""

    function_name: str
    event: Any
    result: Any = None
    error: str | None = None


@dataclass(frozen=True)
class _Function:
    name: str
    handler: LambdaHandler
    memory_mb: int
    timeout_seconds: int


def function_name_of(name_or_arn: str) -> str:
    """The bare function name of any FunctionName form Lambda accepts.

    ``my-fn``, ``my-fn:live``, ``123456789012:function:my-fn`` and
    ``arn:aws:lambda:us-east-1:123456789012:function:my-fn[:qualifier]`` all give ``my-fn``.
    """
    parts = name_or_arn.split(":")
    if "function" in parts:
        index = parts.index("function")
        if index + 1 < len(parts):
            return parts[index + 1]
    return parts[0]


class LambdaRegistry:
    """Maps Lambda function names to in-process handlers; thread-safe.

    Functions are keyed by bare name, so a state machine may refer to them by name, full ARN or partial
    ARN (the qualifier is ignored: every alias/version runs the registered handler)::

        registry = LambdaRegistry({"gtpipe-split": split.handler.lambda_handler})
        registry.register("arn:aws:lambda:us-east-1:123456789012:function:gtpipe-evaluate", evaluate)
    """

    def __init__(
        self,
        functions: Mapping[str, LambdaHandler] | None = None,
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self._lock = threading.Lock()
        self._functions: dict[str, _Function] = {}
        self._invocations: list[Invocation] = []
        for name, handler in (functions or {}).items():
            self.register(name, handler)

    def register(
        self,
        name_or_arn: str,
        handler: LambdaHandler,
        *,
        memory_mb: int = 128,
        timeout_seconds: int = 900,
    ) -> None:
        """Register (or replace) the handler of a function."""
        name = function_name_of(name_or_arn)
        with self._lock:
            self._functions[name] = _Function(name, handler, memory_mb, timeout_seconds)

    def unregister(self, name_or_arn: str) -> None:
        """Remove a function; invoking it afterwards fails with ``Lambda.ResourceNotFoundException``."""
        with self._lock:
            self._functions.pop(function_name_of(name_or_arn), None)

    @property
    def names(self) -> list[str]:
        """The registered function names, sorted."""
        with self._lock:
            return sorted(self._functions)

    @property
    def invocations(self) -> list[Invocation]:
        """A snapshot of every invocation so far, oldest first."""
        with self._lock:
            return list(self._invocations)

    def invocations_of(self, name_or_arn: str) -> list[Invocation]:
        """The recorded invocations of one function."""
        name = function_name_of(name_or_arn)
        return [call for call in self.invocations if call.function_name == name]

    def function_arn(self, name_or_arn: str) -> str:
        """The ARN a function has in this registry's account and region."""
        name = function_name_of(name_or_arn)
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"

    def invoke(self, function_name: str, payload: bytes | str | None) -> dict[str, Any]:
        """Run a function like the Lambda Invoke API (``RequestResponse``) and return its response.

        The response is ``{"StatusCode", "ExecutedVersion", "Payload"}`` plus ``"FunctionError":
        "Unhandled"`` when the handler raised; ``Payload`` is the decoded JSON result (or error payload).
        Raises :class:`LambdaServiceError` for service-level failures (unknown function, invalid JSON
        payload, or a handler that raised ``LambdaServiceError`` itself).
        """
        name = function_name_of(function_name)
        with self._lock:
            function = self._functions.get(name)
        if function is None:
            raise LambdaServiceError(
                "ResourceNotFoundException",
                f"Function not found: {self.function_arn(name)} (registered: {', '.join(self.names)})",
            )
        check_payload_size(payload, SYNC_PAYLOAD_LIMIT_BYTES)
        event = _decode_payload(payload)
        context = LambdaContext(
            function_name=name,
            invoked_function_arn=function_name
            if function_name.startswith("arn:")
            else self.function_arn(name),
            memory_limit_in_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds,
        )
        response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        try:
            result = function.handler(event, context)
        except LambdaServiceError as service_error:
            self._record(Invocation(name, event, error=service_error.code))
            raise
        except Exception as error:
            response["FunctionError"] = "Unhandled"
            response["Payload"] = _error_payload(error, context.aws_request_id)
            self._record(Invocation(name, event, error=type(error).__name__))
            return response
        try:
            # Lambda serialises the return value with json.dumps; anything else is a marshalling error
            # reported as a function error, exactly like the Python runtime does.
            serialised = json.dumps(result)
            response["Payload"] = json.loads(serialised)
        except (TypeError, ValueError) as error:
            response["FunctionError"] = "Unhandled"
            response["Payload"] = {
                "errorMessage": f"Unable to marshal response: {error}",
                "errorType": "Runtime.MarshalError",
                "requestId": context.aws_request_id,
                "stackTrace": [],
            }
            self._record(Invocation(name, event, error="Runtime.MarshalError"))
            return response
        if len(serialised.encode("utf-8")) > SYNC_PAYLOAD_LIMIT_BYTES:
            response["FunctionError"] = "Unhandled"
            response["Payload"] = {
                "errorMessage": f"Response payload size exceeded maximum allowed payload size "
                f"({SYNC_PAYLOAD_LIMIT_BYTES} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            self._record(Invocation(name, event, error="Function.ResponseSizeTooLarge"))
            return response
        self._record(Invocation(name, event, result=response["Payload"]))
        return response

    def _record(self, invocation: Invocation) -> None:
        with self._lock:
            self._invocations.append(invocation)


def check_payload_size(
    payload: bytes | str | None, limit: int, invocation_type: str = "RequestResponse"
) -> None:
    """Raise Lambda's RequestEntityTooLargeException (413) when ``payload`` exceeds ``limit`` bytes."""
    size = len(payload.encode("utf-8") if isinstance(payload, str) else payload or b"")
    if size <= limit:
        return
    message = (
        f"Request must be smaller than {limit} bytes for the Invoke operation"
        if invocation_type == "RequestResponse"
        else f"{size} byte payload is too large for the {invocation_type} invocation type (limit {limit} bytes)"
    )
    raise LambdaServiceError("RequestEntityTooLargeException", message, status_code=413)


def _decode_payload(payload: bytes | str | None) -> Any:
    if payload is None or payload in (b"", ""):
        return {}
    text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    try:
        return json.loads(text)
    except ValueError as error:
        raise LambdaServiceError(
            "InvalidRequestContentException", f"Could not parse request body into json: {error}"
        ) from error


def _error_payload(error: BaseException, request_id: str) -> dict[str, Any]:
    # The Python runtime reports the handler's frames only; drop the first frame (this module's call).
    frames = traceback.extract_tb(error.__traceback__)[1:]
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }
