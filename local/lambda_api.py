"""Lambda's ``Invoke`` API on the local endpoint, answered by the deployed local functions.

The deployer registers functions with the local runtime, not with moto's Lambda backend (which would need
Docker), so a function that calls ``lambda:Invoke`` on another deployed function (the labeling API starts
the ``finish`` of a job with ``InvocationType="Event"``) would get moto's ``ResourceNotFoundException``.

**Patch point** (installed by :func:`install`, restored by :meth:`LambdaInvokeApi.uninstall`):
``moto.awslambda.responses.LambdaResponse.invoke``. For a function the :class:`local.sfn.LambdaRegistry`
knows (by name, full or partial ARN; the qualifier is ignored), the replacement answers like Lambda:

- ``InvocationType=Event``: the event goes to :class:`local.eventbridge.AsyncLambdaInvoker` (Lambda's
  asynchronous invocation: retries, the function's dead-letter queue); 202 with an empty body;
- ``RequestResponse`` (default): runs the function; 200 with its result, plus ``X-Amz-Function-Error:
  Unhandled`` and the error payload when it raised;
- ``DryRun``: 204.

An unknown function, a payload that is not JSON, or one over Lambda's payload limits (6 MB synchronous, 1 MB
asynchronous) gets Lambda's error (404 ``ResourceNotFoundException``, 400 ``InvalidRequestContentException``,
413 ``RequestEntityTooLargeException``). Functions moto knows itself (none
in a local deployment) still reach moto.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from moto.awslambda.responses import LambdaResponse

from local.moto_compat import MotoInternalsChanged
from local.sfn import LambdaRegistry, LambdaServiceError, function_name_of
from local.sfn.lambdas import ASYNC_PAYLOAD_LIMIT_BYTES, check_payload_size

from .eventbridge import AsyncLambdaInvoker

_ORIGINAL: dict[str, Callable[..., Any]] = {}
_ACTIVE: list[LambdaInvokeApi] = []
_LOCK = threading.Lock()


class LambdaInvokeApi:
    """The installed patch (see module docstring)."""

    def __init__(self, registry: LambdaRegistry, invoker: AsyncLambdaInvoker) -> None:
        self.registry = registry
        self.invoker = invoker

    def answer(self, function: str, invocation_type: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """The HTTP answer of ``Invoke`` for a registered function."""
        headers = {"content-type": "application/json"}
        try:
            if invocation_type == "Event":
                check_payload_size(body, ASYNC_PAYLOAD_LIMIT_BYTES, invocation_type)
                event = json.loads(body.decode("utf-8") or "{}")
                request_id = self.invoker.invoke_async(function, event)
                return 202, {**headers, "x-amzn-RequestId": request_id}, b""
            if invocation_type == "DryRun":
                return 204, headers, b""
            response = self.registry.invoke(function, body)
        except ValueError as error:
            return _error(
                400, "InvalidRequestContentException", f"Could not parse request body into json: {error}"
            )
        except LambdaServiceError as error:
            return _error(error.status_code, error.code, error.message)
        if "FunctionError" in response:
            headers["X-Amz-Function-Error"] = str(response["FunctionError"])
        headers["X-Amz-Executed-Version"] = str(response.get("ExecutedVersion", "$LATEST"))
        return 200, headers, json.dumps(response.get("Payload")).encode()

    def uninstall(self) -> None:
        """Restore moto's ``invoke``."""
        with _LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
                LambdaResponse.invoke = _ORIGINAL.pop("invoke")  # type: ignore[method-assign]


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"x-amzn-ErrorType": code}, json.dumps({"Type": "User", "Message": message}).encode()


def _invoke(self: LambdaResponse) -> Any:
    api = _ACTIVE[0] if _ACTIVE else None
    function = unquote(self.path.split("?", 1)[0].rstrip("/").rsplit("/", 2)[-2])
    if api is None or function_name_of(function) not in api.registry.names:
        return _ORIGINAL["invoke"](self)
    body = self.body if isinstance(self.body, bytes) else str(self.body or "").encode()
    status, headers, payload = api.answer(
        function, self.headers.get("X-Amz-Invocation-Type") or "RequestResponse", body
    )
    # moto's dispatcher takes the status from a "status" header when there is one (as moto's invoke sets).
    return status, {**headers, "status": str(status)}, payload


def install(registry: LambdaRegistry, invoker: AsyncLambdaInvoker) -> LambdaInvokeApi:
    """Patch moto's Lambda ``Invoke`` (process-wide; one installation at a time)."""
    if not callable(getattr(LambdaResponse, "invoke", None)):
        raise MotoInternalsChanged("local.lambda_api: moto's LambdaResponse.invoke is missing")
    api = LambdaInvokeApi(registry, invoker)
    with _LOCK:
        if _ACTIVE:
            raise RuntimeError("local.lambda_api is already installed")
        _ORIGINAL["invoke"] = LambdaResponse.invoke
        LambdaResponse.invoke = _invoke  # type: ignore[method-assign]
        _ACTIVE.append(api)
    return api
