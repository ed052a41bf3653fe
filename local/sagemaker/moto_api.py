"""Every place where local.sagemaker reaches into moto: keep them in this module.

:func:`install_sagemaker_api` makes moto's ``sagemaker`` and ``sagemaker-runtime`` APIs answer from a
:class:`~local.sagemaker.LocalSageMaker`, both under ``mock_aws()`` and in a moto server, so boto3
clients (the pipeline's Lambda functions) and the Step Functions interpreter see one state.

Written against moto 5.2.5 (:data:`local.moto_compat.MOTO_VERSION`). Patch points (class attributes, set by :func:`install_sagemaker_api` and
restored by :func:`uninstall_sagemaker_api`):

1. ``moto.sagemaker.responses.SageMakerResponse.call_action`` -- not defined by moto on that class (it
   inherits ``BaseResponse.call_action``, which looks the action up and calls the method of that name).
   Ours answers every action in ``LocalSageMaker.API_OPERATIONS`` from the backend (request dict from
   moto's already-parsed ``self.params``; response serialized by moto's own serializer with botocore's
   model) and hands every other action to ``BaseResponse.call_action``, i.e. to moto's SageMaker mock.
   Patching the dispatcher instead of one method per action also covers actions moto does not
   implement (``DescribeLabelingJob``...).
2. ``moto.sagemakerruntime.responses.SageMakerRuntimeResponse.invoke_endpoint`` -- moto's canned-answer
   InvokeEndpoint; ours runs the endpoint's model. The endpoint name is the URL path segment.
3. ``SageMakerRuntimeResponse.use_raw_body = True`` -- moto's switch (``BaseResponse.use_raw_body``, set
   by its S3, Glacier, EBS ... responses) that keeps a request body as bytes; without it moto decodes
   every body as UTF-8 and an image upload fails before any handler runs.
4. ``moto.sagemakerruntime.responses.SageMakerRuntimeResponse.invoke_endpoint_async`` -- moto's canned
   InvokeEndpointAsync; ours queues the request on the endpoint (local/sagemaker/async_invocations.py).

Errors are AWS error responses built here (JSON ``__type``/``message`` and ``x-amzn-ErrorType``, status
from the error), so botocore raises ``ClientError`` with the code: ``ValidationException``,
``ResourceNotFound``, ``ResourceInUse``, ``ThrottlingException`` for ``sagemaker``; ``ValidationError``
and ``ModelError`` (HTTP 424, with ``OriginalStatusCode``/``OriginalMessage``) for ``sagemaker-runtime``.
Requests for another region than the backend's go to moto's own mock.

:func:`check_moto_compatibility` verifies the names, signatures and behaviours these patches rely on;
:func:`install_sagemaker_api` calls it, so a moto upgrade that moves them fails loudly.
"""

from __future__ import annotations

import inspect
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from moto.core.responses import ActionResult, BaseResponse
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime import urls as runtime_urls
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from local.moto_compat import raise_if_changed

from .errors import ModelError, SageMakerServiceError
from .service import LocalSageMaker

TYPE_RESPONSE = tuple[int, dict[str, Any], Any]


@dataclass
class ApiHandle:
    """The installed routing; a context manager that uninstalls on exit."""

    backend: LocalSageMaker

    def uninstall(self) -> None:
        """Restore moto's SageMaker APIs (same as :func:`uninstall_sagemaker_api`)."""
        uninstall_sagemaker_api()

    def __enter__(self) -> ApiHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()


_LOCK = threading.Lock()
_ACTIVE: ApiHandle | None = None
_ORIGINAL_INVOKE: Any = None
_ORIGINAL_INVOKE_ASYNC: Any = None


def install_sagemaker_api(backend: LocalSageMaker) -> ApiHandle:
    """Route moto's ``sagemaker`` actions that ``backend`` implements, and ``sagemaker-runtime``
    InvokeEndpoint, to ``backend``. Process-wide; one installation at a time (``RuntimeError``
    otherwise). Works before or after ``mock_aws()`` starts and for a ``ThreadedMotoServer``.
    """
    global _ACTIVE, _ORIGINAL_INVOKE, _ORIGINAL_INVOKE_ASYNC
    check_moto_compatibility()
    with _LOCK:
        if _ACTIVE is not None:
            raise RuntimeError("local.sagemaker's API routing is already installed: uninstall it first")
        _ORIGINAL_INVOKE = SageMakerRuntimeResponse.__dict__["invoke_endpoint"]
        _ORIGINAL_INVOKE_ASYNC = SageMakerRuntimeResponse.__dict__["invoke_endpoint_async"]
        SageMakerResponse.call_action = _sagemaker_call_action  # type: ignore[method-assign,assignment]
        SageMakerRuntimeResponse.invoke_endpoint = _runtime_invoke_endpoint  # type: ignore[method-assign]
        SageMakerRuntimeResponse.invoke_endpoint_async = _runtime_invoke_endpoint_async  # type: ignore[method-assign]
        SageMakerRuntimeResponse.use_raw_body = True
        _ACTIVE = ApiHandle(backend)
        return _ACTIVE


def uninstall_sagemaker_api() -> None:
    """Restore moto's own SageMaker APIs (a no-op when nothing is installed)."""
    global _ACTIVE, _ORIGINAL_INVOKE, _ORIGINAL_INVOKE_ASYNC
    with _LOCK:
        if _ACTIVE is None:
            return
        del SageMakerResponse.call_action  # back to the inherited BaseResponse.call_action
        SageMakerRuntimeResponse.invoke_endpoint = _ORIGINAL_INVOKE  # type: ignore[method-assign]
        SageMakerRuntimeResponse.invoke_endpoint_async = _ORIGINAL_INVOKE_ASYNC  # type: ignore[method-assign]
        _ORIGINAL_INVOKE_ASYNC = None
        del SageMakerRuntimeResponse.use_raw_body  # back to the inherited BaseResponse.use_raw_body
        _ORIGINAL_INVOKE = None
        _ACTIVE = None


def active_api() -> ApiHandle | None:
    """The installed :class:`ApiHandle`, or None."""
    return _ACTIVE


# --------------------------------------------------------------------------------------------------
# Compatibility tripwire
# --------------------------------------------------------------------------------------------------


def _parameters(target: Any) -> tuple[str, ...]:
    return tuple(inspect.signature(target).parameters)


def _source(target: Any) -> str:
    try:
        return inspect.getsource(target)
    except (OSError, TypeError):
        return ""


def check_moto_compatibility() -> None:
    """Raise :class:`~local.moto_compat.MotoInternalsChanged` if anything the patches rely on moved or changed."""
    problems: list[str] = []
    if not issubclass(SageMakerResponse, BaseResponse):
        problems.append("SageMakerResponse no longer subclasses BaseResponse")
    if _ACTIVE is None:
        for patched, attribute in (
            (SageMakerResponse, "call_action"),
            (SageMakerRuntimeResponse, "use_raw_body"),
        ):
            if attribute in patched.__dict__:
                problems.append(
                    f"{patched.__name__} defines its own {attribute} (a patch point would replace it)"
                )
    if getattr(BaseResponse, "use_raw_body", None) is not False:
        problems.append("BaseResponse.use_raw_body (class-level raw body switch) is missing")
    expected: list[tuple[type, str, tuple[str, ...]]] = [
        (BaseResponse, "call_action", ("self",)),
        (BaseResponse, "_get_action", ("self",)),
        (BaseResponse, "serialized", ("self", "action_result")),
        (BaseResponse, "setup_class", ("self", "request", "full_url", "headers", "use_raw_body")),
        (BaseResponse, "_transform_response", ("headers", "response")),
        (SageMakerRuntimeResponse, "invoke_endpoint", ("self",)),
        (SageMakerRuntimeResponse, "invoke_endpoint_async", ("self",)),
    ]
    for owner, name, parameters in expected:
        target = getattr(owner, name, None)
        if target is None:
            problems.append(f"{owner.__name__}.{name} is missing")
        elif (not name.startswith("invoke_endpoint") or _ACTIVE is None) and _parameters(
            target
        ) != parameters:
            # (While installed, invoke_endpoint is ours: its moto original was checked at install time.)
            problems.append(f"{owner.__name__}.{name}{_parameters(target)} != expected {parameters}")
    if "self.raw_body" not in _source(BaseResponse.setup_class):
        problems.append("BaseResponse.setup_class no longer keeps the undecoded body in self.raw_body")
    if 'new_headers.get("status"' not in _source(BaseResponse._transform_response):
        problems.append("BaseResponse._transform_response no longer takes the status from the headers")
    if "automated_parameter_parsing = True" not in _source(SageMakerResponse.__init__):
        problems.append("SageMakerResponse no longer parses parameters automatically (self.params)")
    if not any("invocations" in pattern for pattern in runtime_urls.url_paths):
        problems.append("moto.sagemakerruntime no longer routes /endpoints/<name>/invocations")
    if not any("async-invocations" in pattern for pattern in runtime_urls.url_paths):
        problems.append("moto.sagemakerruntime no longer routes /endpoints/<name>/async-invocations")
    if not callable(getattr(ActionResult, "execute_result", None)):
        problems.append("moto.core.responses.ActionResult.execute_result is missing")
    raise_if_changed("local.sagemaker", problems)


# --------------------------------------------------------------------------------------------------
# Error responses
# --------------------------------------------------------------------------------------------------


def _error_response(error: SageMakerServiceError, content_type: str) -> TYPE_RESPONSE:
    body: dict[str, Any] = {"__type": error.code, "message": error.message, "Message": error.message}
    if isinstance(error, ModelError):
        body.update(
            {"OriginalStatusCode": error.original_status_code, "OriginalMessage": error.original_message}
        )
        if error.log_stream_arn:
            body["LogStreamArn"] = error.log_stream_arn
    headers = {
        "status": str(error.status_code),
        "Content-Type": content_type,
        "x-amzn-ErrorType": error.code,
        "x-amzn-RequestId": str(uuid.uuid4()),
    }
    return error.status_code, headers, json.dumps(body)


def _plain(value: Any) -> Any:
    # moto's parsed parameters may be mapping views; the backend wants plain dicts and lists.
    original = getattr(value, "original_dict", None)
    if callable(original):
        value = original()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


# --------------------------------------------------------------------------------------------------
# Patch point 1: the sagemaker API
# --------------------------------------------------------------------------------------------------


def _sagemaker_call_action(self: SageMakerResponse) -> TYPE_RESPONSE:
    handle = _ACTIVE
    action = self._get_action()
    if handle is None or action not in handle.backend.API_OPERATIONS or self.region != handle.backend.region:
        return BaseResponse.call_action(self)
    method = getattr(handle.backend, handle.backend.API_OPERATIONS[action])
    try:
        result = method(_plain(self.params))
    except SageMakerServiceError as error:
        return _error_response(error, "application/x-amz-json-1.1")
    status, headers, body = self.serialized(ActionResult(result))
    return status, headers, body


# --------------------------------------------------------------------------------------------------
# Patch point 2: sagemaker-runtime InvokeEndpoint
# --------------------------------------------------------------------------------------------------


def _runtime_invoke_endpoint(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
    handle = _ACTIVE
    if handle is None or self.region != handle.backend.region:
        # moto's own answer expects a text body (patch point 3 made it bytes).
        if isinstance(self.body, bytes):
            self.body = self.body.decode("utf-8", errors="replace")
        original: Any = _ORIGINAL_INVOKE
        return original(self)
    # /endpoints/<name>/invocations
    parts = self.path.split("/")
    name = unquote(parts[2]) if len(parts) > 2 else ""
    body = self.raw_body
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        invocation = handle.backend.invoke_endpoint_detailed(
            name,
            body or b"",
            self.headers.get("Content-Type"),
            self.headers.get("Accept"),
            target_variant=self.headers.get("X-Amzn-SageMaker-Target-Variant"),
        )
    except SageMakerServiceError as error:
        return _error_response(error, "application/json")
    headers = {
        "status": "200",
        "Content-Type": invocation.content_type,
        "x-Amzn-Invoked-Production-Variant": invocation.variant,
    }
    return 200, headers, invocation.body


# --------------------------------------------------------------------------------------------------
# Patch point 4: sagemaker-runtime InvokeEndpointAsync (local/sagemaker/async_invocations.py)
# --------------------------------------------------------------------------------------------------

_ASYNC_HEADERS = {
    "InputLocation": "X-Amzn-SageMaker-InputLocation",
    "ContentType": "X-Amzn-SageMaker-Content-Type",
    "Accept": "X-Amzn-SageMaker-Accept",
    "InferenceId": "X-Amzn-SageMaker-Inference-Id",
    "InvocationTimeoutSeconds": "X-Amzn-SageMaker-InvocationTimeoutSeconds",
}


def _runtime_invoke_endpoint_async(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
    handle = _ACTIVE
    if handle is None or self.region != handle.backend.region:
        if isinstance(self.body, bytes):
            self.body = self.body.decode("utf-8", errors="replace")
        original: Any = _ORIGINAL_INVOKE_ASYNC
        return original(self)
    # /endpoints/<name>/async-invocations; the members travel as headers, an inline payload as the body.
    parts = self.path.split("/")
    name = unquote(parts[2]) if len(parts) > 2 else ""
    request: dict[str, Any] = {
        member: self.headers.get(header)
        for member, header in _ASYNC_HEADERS.items()
        if self.headers.get(header)
    }
    body = self.raw_body
    if body:
        request["Body"] = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    try:
        answer = handle.backend.invoke_endpoint_async(name, request)
    except SageMakerServiceError as error:
        return _error_response(error, "application/json")
    headers = {
        "status": "202",
        "Content-Type": "application/json",
        "X-Amzn-SageMaker-OutputLocation": answer["OutputLocation"],
        "X-Amzn-SageMaker-FailureLocation": answer["FailureLocation"],
    }
    return 202, headers, json.dumps({"InferenceId": answer["InferenceId"]})
