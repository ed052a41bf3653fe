"""Every place where local.sfn reaches into moto's Step Functions interpreter: keep them in this module.

Written against moto 5.2.5 (``moto/stepfunctions/parser``, ported from LocalStack). The interpreter
parses a definition into state objects with ``preprocessor.state_task_for(resource)``; a Task's
``Resource`` ARN picks the class (``StateTaskServiceLambda`` for ``lambda:invoke``, ``StateTaskLambda``
for a function ARN, ``StateTaskServiceUnsupported`` for ``sagemaker:*``, which forwards to moto's
SageMaker mock and rejects ``.sync``). Integration patterns are ``ResourceCondition`` values
(``sync``, ``sync:2``, ``waitForTaskToken``) handled by ``StateTaskServiceCallback``.

Patch points (module/class attributes swapped in by :func:`install`, restored by :func:`uninstall`):

1. ``preprocessor.state_task_for`` -- the single factory turning a Resource into a Task state. The
   wrapper returns our subclasses for ``sagemaker:*``, ``aws-sdk:sagemaker:*``, ``lambda:invoke*`` and
   plain Lambda function ARNs; every other resource gets moto's own class. Patched where it is *used*
   (the preprocessor imported the name), because that is the binding the parser calls.
2. ``lambda_eval_utils._invoke_lambda_function`` -- the one function both Lambda task forms call to reach
   the Lambda service (a boto3 client into moto's Docker-based Lambda backend). We answer from the
   :class:`~local.sfn.lambdas.LambdaRegistry` instead; moto keeps doing the rest (payload handling,
   ``FunctionError`` -> error name, ``waitForTaskToken`` callbacks, heartbeats, timeouts, history).
3. ``retrier_decl.time`` (only when ``retry_interval_scale != 1``) -- ``Retry`` sleeps with
   ``time.sleep(interval)``; a scaled clock lets tests run definitions whose retry intervals are minutes.
4. ``StepFunctionResponse.send_task_failure`` -- moto's HTTP handler drops the ``cause`` of SendTaskFailure
   (the parser backend accepts it); the replacement forwards it, so a Catch sees ``$.Cause`` as on AWS.
5. The payload size quota (256 KiB, ``States.DataLimitExceeded`` not caught by ``States.ALL``): its own patch
   points, listed in :mod:`local.sfn.payload_limits`.
6. ``BaseExecutionWorkerCommunication._reflect_execution_status`` -- records an execution's end on the
   ``Execution`` that DescribeExecution reads. moto sets the terminal status first and ``output`` (or
   ``error``/``cause``) after it, from the execution's thread, so a client polling in between saw SUCCEEDED
   without output (or FAILED without error); the replacement writes the status last.
7. ``AmazonStateLanguageParser.parse`` -- moto parses the definition again for every execution; the parse
   tree is remembered per definition text (:mod:`local.sfn.parse_cache`, which checks its own patch
   points).
8. ``CallbackEndpoint.notify_heartbeat`` -- moto answers SendTaskHeartbeat with ``InvalidToken`` until the
   task has begun waiting with ``HeartbeatSeconds`` (its heartbeat endpoint is set up only after the function
   returns), so a heartbeat sent while the function still runs, or for a task without ``HeartbeatSeconds``,
   was refused. On AWS the token is valid from the task's start and SendTaskHeartbeat accepts it; the
   labeling function's sweep took the refusal for an abandoned job and a run waited forever (measured: a
   sweep 3 ms after a job opened). The replacement accepts the heartbeat of a registered token.

Private moto methods our subclasses override (same tripwire): ``StateTaskServiceCallback.
_eval_integration_pattern`` / ``_eval_service_task`` / ``_validate_service_integration_is_supported`` /
``_get_supported_parameters`` / ``_from_error`` / ``_eval_wait_for_task_token``,
``StateTaskService._after_eval_execution`` / ``_eval_state``, ``StateTaskLambda._from_error`` /
``_verify_size_quota``,
``StateTaskServiceAwsSdk._eval_service_task``.

:func:`check_moto_compatibility` verifies that these names and the overridden private methods still
exist with the expected signatures; :func:`install` calls it so a moto upgrade fails loudly.
"""

from __future__ import annotations

import datetime
import inspect
import logging
import time
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, Final

from botocore.exceptions import ClientError
from moto.core.responses import ActionResult, EmptyResult
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    LambdaResource,
    Resource,
    ResourceCondition,
    ServiceResource,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.asl.parse import preprocessor
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

from local.moto_compat import MOTO_VERSION, MotoInternalsChanged, raise_if_changed
from local.sagemaker.api import SageMakerService
from local.sagemaker.runners import ScriptedJobRunner
from local.sagemaker.service import LocalSageMaker

from .handle import LOCK, Handle, active_handle, is_installed, set_active
from .iam import SESSION, Authorizer, lambda_requests
from .lambdas import LambdaRegistry, LambdaServiceError
from .parse_cache import check_parse_cache_patch_points, install_parse_cache, uninstall_parse_cache
from .payload_limits import install_payload_limits, uninstall_payload_limits
from .sagemaker import SageMakerAwsSdkTask, SageMakerTask
from .task_states import LambdaFunctionTask, LambdaInvokeTask

LOG = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------------------------------

_ORIGINALS: dict[str, Any] = {}


def install(
    lambdas: LambdaRegistry | None = None,
    sagemaker: SageMakerService | None = None,
    *,
    poll_interval: float = 0.5,
    retry_interval_scale: float = 1.0,
    principals: Authorizer | None = None,
) -> Handle:
    """Route Lambda and SageMaker tasks of moto's Step Functions interpreter to local implementations.

    Process-wide: it affects every state machine executed in this process, whether through
    ``mock_aws(config={"stepfunctions": {"execute_state_machine": True}})`` or a ``ThreadedMotoServer``
    (enable execution there with ``moto.core.config.default_user_config`` or ``/moto-api/config``).
    Install before or after starting the mock; only one installation may be active.

    ``poll_interval``: seconds between Describe* calls of ``.sync`` SageMaker tasks.
    ``retry_interval_scale``: multiplies every ``Retry`` interval (``0.01`` turns 300 s into 3 s).
    ``principals``: authorizes each Lambda and SageMaker call with the state machine's role
    (:mod:`local.sfn.iam`); None evaluates nothing.
    Returns a :class:`Handle`, usable as ``with install(...) as handle:``.
    """
    if poll_interval <= 0:
        raise ValueError("poll_interval must be positive")
    if retry_interval_scale < 0:
        raise ValueError("retry_interval_scale must not be negative")
    check_moto_compatibility()
    check_parse_cache_patch_points()
    handle = Handle(
        lambdas=lambdas if lambdas is not None else LambdaRegistry(),
        sagemaker=sagemaker if sagemaker is not None else LocalSageMaker(runner=ScriptedJobRunner()),
        poll_interval=poll_interval,
        retry_interval_scale=retry_interval_scale,
        principals=principals,
    )
    with LOCK:
        if is_installed():
            raise RuntimeError("local.sfn is already installed: uninstall() the previous handle first")
        install_payload_limits()  # first: it checks its own patch points before changing anything
        install_parse_cache()
        _ORIGINALS["state_task_for"] = preprocessor.state_task_for
        _ORIGINALS["_invoke_lambda_function"] = lambda_eval_utils._invoke_lambda_function
        _ORIGINALS["retrier_time"] = retrier_decl.time
        _ORIGINALS["send_task_failure"] = StepFunctionResponse.send_task_failure
        _ORIGINALS["reflect_status"] = BaseExecutionWorkerCommunication._reflect_execution_status
        _ORIGINALS["notify_heartbeat"] = CallbackEndpoint.notify_heartbeat
        CallbackEndpoint.notify_heartbeat = _notify_heartbeat  # type: ignore[method-assign]
        StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
        BaseExecutionWorkerCommunication._reflect_execution_status = _reflect_execution_status  # type: ignore[method-assign]
        preprocessor.state_task_for = _state_task_for
        lambda_eval_utils._invoke_lambda_function = _invoke_lambda_function
        if retry_interval_scale != 1.0:
            retrier_decl.time = SimpleNamespace(  # type: ignore[assignment]
                sleep=lambda seconds: time.sleep(seconds * retry_interval_scale)
            )
        set_active(handle)
    return handle


def uninstall() -> None:
    """Restore moto's original interpreter functions (a no-op if nothing is installed).

    Executions that already parsed their definition keep their task objects; their Lambda and
    SageMaker calls fail with ``RuntimeError`` (States.Runtime) once nothing is installed.
    """
    with LOCK:
        if not is_installed():
            return
        preprocessor.state_task_for = _ORIGINALS.pop("state_task_for")
        lambda_eval_utils._invoke_lambda_function = _ORIGINALS.pop("_invoke_lambda_function")
        retrier_decl.time = _ORIGINALS.pop("retrier_time")
        StepFunctionResponse.send_task_failure = _ORIGINALS.pop("send_task_failure")  # type: ignore[method-assign]
        BaseExecutionWorkerCommunication._reflect_execution_status = _ORIGINALS.pop("reflect_status")  # type: ignore[method-assign]
        CallbackEndpoint.notify_heartbeat = _ORIGINALS.pop("notify_heartbeat")  # type: ignore[method-assign]
        uninstall_payload_limits()
        uninstall_parse_cache()
        set_active(None)


# --------------------------------------------------------------------------------------------------
# Compatibility tripwire
# --------------------------------------------------------------------------------------------------


# (owner, attribute, expected parameter names or None to only require existence)
_EXPECTED: Final[list[tuple[object, str, tuple[str, ...] | None]]] = [
    (preprocessor, "state_task_for", ("resource",)),
    (lambda_eval_utils, "_invoke_lambda_function", ("parameters", "region", "state_credentials")),
    (
        lambda_eval_utils,
        "execute_lambda_function_integration",
        ("env", "parameters", "region", "state_credentials"),
    ),
    (retrier_decl, "time", None),
    (
        StateTaskServiceCallback,
        "_eval_integration_pattern",
        ("self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"),
    ),
    (
        StateTaskServiceCallback,
        "_eval_service_task",
        ("self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"),
    ),
    (StateTaskServiceCallback, "_validate_service_integration_is_supported", ("self",)),
    (StateTaskServiceCallback, "_get_supported_parameters", ("self",)),
    (StateTaskServiceCallback, "_from_error", ("self", "env", "ex")),
    (
        StateTaskServiceCallback,
        "_eval_wait_for_task_token",
        ("self", "env", "timeout_seconds", "callback_endpoint", "heartbeat_endpoint"),
    ),
    (CallbackEndpoint, "wait", ("self", "timeout")),
    (CallbackEndpoint, "get_outcome", ("self",)),
    (CallbackEndpoint, "notify_heartbeat", ("self",)),
    (CallbackEndpoint, "_heartbeat_endpoint", None),
    (
        StateTaskService,
        "_after_eval_execution",
        ("self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"),
    ),
    (StateTaskService, "_eval_state", ("self", "env")),
    (Environment, "program_state", ("self",)),
    (StateTaskServiceLambda, "_error_cause_from_client_error", ("client_error",)),
    (StateTaskLambda, "_from_error", ("self", "env", "ex")),
    (StateTaskLambda, "_verify_size_quota", ("self", "env", "value")),
    (
        StateTaskServiceAwsSdk,
        "_eval_service_task",
        ("self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"),
    ),
    (StepFunctionResponse, "send_task_failure", ("self",)),
    (StepFunctionResponse, "stepfunction_backend", None),
    (StepFunctionsParserBackend, "send_task_failure", ("self", "task_token", "error", "cause")),
    (Environment, "is_running", ("self",)),
    (BaseExecutionWorkerCommunication, "_reflect_execution_status", ("self",)),
    (Environment, "program_state_event", None),
    (ServiceResource, "api_action", None),
    (ServiceResource, "condition", None),
]


def check_moto_compatibility() -> None:
    """Raise :class:`~local.moto_compat.MotoInternalsChanged` if a patched or overridden moto internal
    moved or changed."""
    problems: list[str] = []
    for owner, attribute, parameters in _EXPECTED:
        owner_name = getattr(owner, "__name__", repr(owner))
        target = getattr(owner, attribute, None)
        if target is None:
            # Instance attributes are declared as class annotations only.
            annotations = getattr(owner, "__annotations__", {})
            if attribute not in annotations and not _init_assigns(owner, attribute):
                problems.append(f"{owner_name}.{attribute} is missing")
            continue
        if parameters is not None:
            actual = tuple(inspect.signature(target).parameters)
            if actual != parameters:
                problems.append(f"{owner_name}.{attribute}{actual} != expected {parameters}")
    if not hasattr(ResourceCondition, "Sync") or ResourceCondition.Sync != "sync":
        problems.append("ResourceCondition.Sync changed")
    raise_if_changed("local.sfn", problems)


def _init_assigns(owner: object, attribute: str) -> bool:
    init = getattr(owner, "__init__", None)
    try:
        source = inspect.getsource(init) if init is not None else ""
    except (OSError, TypeError):
        return False
    return f"self.{attribute}" in source


# --------------------------------------------------------------------------------------------------
# Patch point 1: the Task factory
# --------------------------------------------------------------------------------------------------


def _state_task_for(resource: Resource) -> StateTask:
    if isinstance(resource, ServiceResource):
        if resource.service_name == "sagemaker":
            return SageMakerTask()
        if resource.service_name == "aws-sdk" and resource.api_name == "sagemaker":
            return SageMakerAwsSdkTask()
        if resource.service_name == "lambda":
            return LambdaInvokeTask()
    if isinstance(resource, LambdaResource):
        return LambdaFunctionTask()
    original: Callable[[Resource], StateTask] = _ORIGINALS["state_task_for"]
    return original(resource)


# --------------------------------------------------------------------------------------------------
# Patch point 2: Lambda invocations
# --------------------------------------------------------------------------------------------------


def _invoke_lambda_function(parameters: dict, region: str, state_credentials: StateCredentials) -> dict:
    # Same contract as moto's: return the Invoke response with a decoded Payload; a service failure is a
    # botocore ClientError, which moto names "Lambda.<Code>" (StateTaskServiceLambda) and which
    # LambdaFunctionTask names the same way for plain function ARNs.
    handle = active_handle()
    if handle.principals is not None:
        function_arn = handle.lambdas.function_arn(parameters["FunctionName"])
        refused = handle.principals.refusal(
            state_credentials.role_arn, SESSION, lambda_requests(function_arn)
        )
        if refused:
            raise ClientError(
                {
                    "Error": {"Code": "AccessDeniedException", "Message": refused},
                    "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": str(uuid.uuid4())},
                },
                "Invoke",
            )
    try:
        return handle.lambdas.invoke(parameters["FunctionName"], parameters.get("Payload"))
    except LambdaServiceError as error:
        raise ClientError(
            {
                "Error": {"Code": error.code, "Message": error.message},
                "ResponseMetadata": {"HTTPStatusCode": error.status_code, "RequestId": str(uuid.uuid4())},
            },
            "Invoke",
        ) from error


# --------------------------------------------------------------------------------------------------
# Patch point 4: SendTaskFailure keeps its cause
# --------------------------------------------------------------------------------------------------


def _notify_heartbeat(self: CallbackEndpoint) -> bool:
    """A heartbeat for a registered token: accepted, as on AWS (patch point 8); it resets the heartbeat
    timer when the task is waiting with ``HeartbeatSeconds`` (moto's own behaviour then)."""
    heartbeat_endpoint = self._heartbeat_endpoint
    if heartbeat_endpoint is not None:
        heartbeat_endpoint.notify()
    return True


def _send_task_failure(self: StepFunctionResponse) -> ActionResult:
    backend = self.stepfunction_backend
    task_token = self._get_param("taskToken")
    error = self._get_param("error")
    if isinstance(backend, StepFunctionsParserBackend):
        backend.send_task_failure(task_token, error=error, cause=self._get_param("cause"))
    else:
        backend.send_task_failure(task_token, error=error)
    return EmptyResult()


# --------------------------------------------------------------------------------------------------
# Patch point 6: an execution's end is published whole
# --------------------------------------------------------------------------------------------------


def _reflect_execution_status(self: BaseExecutionWorkerCommunication) -> None:
    # moto's logic, reordered: the execution's thread runs this while request threads read the Execution
    # (DescribeExecution reads status, then output/error/cause). Everything a terminal status promises is
    # written first; the status is written last, in one assignment, so a reader seeing it sees the rest.
    execution = self.execution
    worker = execution.exec_worker
    # The worker calls this after evaluating the program, so it and its environment exist.
    assert worker is not None and worker.env is not None
    env = worker.env
    program_state = env.program_state()
    status: ExecutionStatus
    if isinstance(program_state, ProgramEnded):
        status = ExecutionStatus.SUCCEEDED
        execution.output = env.states.get_input()
    elif isinstance(program_state, ProgramStopped):
        status = ExecutionStatus.ABORTED
    elif isinstance(program_state, ProgramError):
        status = ExecutionStatus.FAILED
        assert program_state.error is not None  # moto's ProgramError always carries its details
        execution.error = program_state.error.get("error")
        execution.cause = program_state.error.get("cause")
    elif isinstance(program_state, ProgramTimedOut):
        status = ExecutionStatus.TIMED_OUT
    else:
        raise RuntimeWarning(f"Execution ended with unsupported ProgramState type '{type(program_state)}'.")
    execution.stop_date = datetime.datetime.now(tz=datetime.UTC)
    execution.exec_status = status


__all__ = [
    "MOTO_VERSION",
    "Handle",
    "MotoInternalsChanged",
    "active_handle",
    "check_moto_compatibility",
    "install",
    "is_installed",
    "uninstall",
]
