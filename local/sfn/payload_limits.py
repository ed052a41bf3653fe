"""Step Functions' payload size quota, enforced where AWS enforces it (issue 14).

"Maximum input or output size for a task, state, or execution: 256 KiB of data as a UTF-8 encoded string"
(https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-task-executions).
The number is not copied here: it is the ``max`` of the API model's ``SensitiveData`` shape (StartExecution's
``input``, SendTaskSuccess's ``output``: "Length constraints apply to the payload size, and are expressed as
bytes in UTF-8 encoding", https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).

What AWS does, and what this module makes moto 5.2.5 do (:func:`install_payload_limits`, called by
:func:`local.sfn.install`):

- **API requests.** StartExecution with an ``input``, or SendTaskSuccess with an ``output``, over the quota is
  refused before anything runs, with the service's validation error: ``ValidationException`` "1 validation
  error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal
  to 262144" (the value itself is sensitive data and not echoed). moto accepts both; the execution then
  failed at its first state.
- **Inside an execution** ``States.DataLimitExceeded`` is raised when a connector's (task's) output, a state's
  output, or a state's input after ``Parameters`` processing is over the quota
  (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html#error-data-limit-exceed).
  moto checks the first two with ``<`` (a payload of exactly 256 KiB is allowed on AWS: the quota is a
  maximum); the third is added here.
- **It is terminal for ``States.ALL``.** "The States.ALL error type ... can't catch the
  States.DataLimitExceeded terminal error or Runtime error types" (same page, ``States.ALL``); a ``States.ALL``
  Retry does not retry them either. moto's ``States.ALL`` matches every error; here it matches neither
  ``States.DataLimitExceeded`` nor ``States.Runtime``. Naming ``States.DataLimitExceeded`` in ``ErrorEquals``
  still matches it: the documentation only excludes the wildcard.

Patch points (restored by :func:`uninstall_payload_limits`; :func:`check_payload_patch_points` is the
tripwire): ``StepFunctionResponse.start_execution`` / ``send_task_success`` (the HTTP handlers, both
``mock_aws`` and a moto server), ``ErrorEqualsDecl._eval_body``, ``Parargs._eval_body`` and the
``is_within_size_quota`` name imported by ``state.py``, ``state_task_lambda.py`` and ``state_task_service.py``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Final, cast

from moto.core.responses import ActionResult
from moto.stepfunctions.exceptions import ValidationException
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common import parargs
from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.responses import StepFunctionResponse

QUOTAS_DOCS: Final = (
    "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-task-executions"
)
ERRORS_DOCS: Final = "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html"

DATA_LIMIT_EXCEEDED: Final = StatesErrorNameType.StatesStatesDataLimitExceeded
# The errors that States.ALL does not match (the documentation's "terminal" and "Runtime" error types).
NOT_MATCHED_BY_STATES_ALL: Final = frozenset({DATA_LIMIT_EXCEEDED, StatesErrorNameType.StatesRuntime})


@functools.cache
def max_payload_bytes() -> int:
    """The payload quota in UTF-8 bytes: the ``max`` of StartExecution's ``input`` in botocore's model."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("stepfunctions")
    shape = model.operation_model("StartExecution").input_shape.members["input"]
    return int(shape.metadata["max"])


def payload_bytes(value: Any) -> int:
    """The size Step Functions counts: a string as is, anything else as compact JSON, in UTF-8 bytes."""
    text = value if isinstance(value, str) else to_json_str(value, separators=(",", ":"))
    return len(text.encode("utf-8"))


def is_within_payload_quota(value: Any) -> bool:
    """True when ``value`` is at most :func:`max_payload_bytes` (the quota is a maximum, inclusive)."""
    return payload_bytes(value) <= max_payload_bytes()


def payload_validation_message(member: str) -> str:
    """AWS's validation error for an over-quota request member (sensitive data: no value is quoted)."""
    return (
        f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
        f"Member must have length less than or equal to {max_payload_bytes()}"
    )


def _check_request_member(response: StepFunctionResponse, member: str) -> None:
    value = response._get_param(member)
    if isinstance(value, str) and not is_within_payload_quota(value):
        raise ValidationException(payload_validation_message(member))


def _checking(member: str, original: Callable[[StepFunctionResponse], ActionResult]) -> Callable[..., Any]:
    @functools.wraps(original)
    def handler(self: StepFunctionResponse) -> ActionResult:
        _check_request_member(self, member)
        return original(self)

    return handler


def _error_equals_eval_body(self: error_equals_decl.ErrorEqualsDecl, env: Environment) -> None:
    # moto's body, except that States.ALL does not match the errors the documentation excludes.
    error_name = env.stack[-1]
    excluded = isinstance(error_name, StatesErrorName) and error_name.typ in NOT_MATCHED_BY_STATES_ALL
    if excluded and error_equals_decl.ErrorEqualsDecl._STATE_ALL_ERROR in self.error_names:
        env.stack.pop()
        env.stack.append(error_name in self.error_names)
        return
    _ORIGINALS["error_equals"](self, env)


def data_limit_exceeded(env: Environment, cause: str) -> FailureEventException:
    """The ``States.DataLimitExceeded`` failure moto raises for an over-quota state output, with ``cause``."""
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=DATA_LIMIT_EXCEEDED),
            event_type=HistoryEventType.TaskFailed,
            # moto types EventDetails as a total TypedDict but always fills a single key.
            event_details=cast(
                EventDetails,
                {
                    "executionFailedEventDetails": ExecutionFailedEventDetails(
                        error=DATA_LIMIT_EXCEEDED.to_name(), cause=cause
                    )
                },
            ),
        )
    )


def _parargs_eval_body(self: parargs.Parargs, env: Environment) -> None:
    _ORIGINALS["parargs"](self, env)
    if env.stack and not is_within_payload_quota(env.stack[-1]):
        raise data_limit_exceeded(
            env,
            f"The state's input after Parameters processing ({payload_bytes(env.stack[-1])} bytes) exceeds "
            f"the maximum number of bytes service limit ({max_payload_bytes()}).",
        )


_QUOTA_USERS: Final = (state_module, state_task_lambda, state_task_service)
_ORIGINALS: dict[str, Any] = {}


class PayloadPatchPointsChanged(RuntimeError):
    """moto no longer has the names this module patches."""


def check_payload_patch_points() -> None:
    """Raise :class:`PayloadPatchPointsChanged` if a patched moto name moved or changed its signature."""
    problems = [
        f"{module.__name__}.is_within_size_quota is missing"
        for module in _QUOTA_USERS
        if not callable(getattr(module, "is_within_size_quota", None))
    ]
    expected = {
        (StepFunctionResponse, "start_execution"): ("self",),
        (StepFunctionResponse, "send_task_success"): ("self",),
        (error_equals_decl.ErrorEqualsDecl, "_eval_body"): ("self", "env"),
        (parargs.Parargs, "_eval_body"): ("self", "env"),
    }
    for (owner, name), parameters in expected.items():
        target = _ORIGINALS.get(_key(owner, name)) or getattr(owner, name, None)
        if target is None or tuple(inspect.signature(target).parameters) != parameters:
            problems.append(f"{owner.__name__}.{name}{parameters} changed")
    if not hasattr(error_equals_decl.ErrorEqualsDecl, "_STATE_ALL_ERROR"):
        problems.append("ErrorEqualsDecl._STATE_ALL_ERROR is missing")
    if problems:
        raise PayloadPatchPointsChanged("; ".join(problems))


def _key(owner: type, name: str) -> str:
    return f"{owner.__name__}.{name}"


def install_payload_limits() -> None:
    """Make moto enforce the payload quota as AWS does (see the module docstring). Idempotent."""
    if _ORIGINALS:
        return
    check_payload_patch_points()
    for name, member in (("start_execution", "input"), ("send_task_success", "output")):
        original = getattr(StepFunctionResponse, name)
        _ORIGINALS[_key(StepFunctionResponse, name)] = original
        setattr(StepFunctionResponse, name, _checking(member, original))
    _ORIGINALS["error_equals"] = error_equals_decl.ErrorEqualsDecl._eval_body
    error_equals_decl.ErrorEqualsDecl._eval_body = _error_equals_eval_body  # type: ignore[method-assign]
    _ORIGINALS["parargs"] = parargs.Parargs._eval_body
    parargs.Parargs._eval_body = _parargs_eval_body  # type: ignore[method-assign]
    for module in _QUOTA_USERS:
        _ORIGINALS[f"quota:{module.__name__}"] = module.is_within_size_quota
        module.is_within_size_quota = is_within_payload_quota  # type: ignore[attr-defined]


def uninstall_payload_limits() -> None:
    """Restore moto's originals (a no-op when not installed)."""
    if not _ORIGINALS:
        return
    for name in ("start_execution", "send_task_success"):
        setattr(StepFunctionResponse, name, _ORIGINALS.pop(_key(StepFunctionResponse, name)))
    error_equals_decl.ErrorEqualsDecl._eval_body = _ORIGINALS.pop("error_equals")  # type: ignore[method-assign]
    parargs.Parargs._eval_body = _ORIGINALS.pop("parargs")  # type: ignore[method-assign]
    for module in _QUOTA_USERS:
        module.is_within_size_quota = _ORIGINALS.pop(f"quota:{module.__name__}")  # type: ignore[attr-defined]
