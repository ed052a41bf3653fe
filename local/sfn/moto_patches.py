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

import datetime as dt
import inspect
import logging
import re
import threading
import time
import uuid
from base64 import b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Final, cast

import moto
from botocore.exceptions import ClientError
from moto.core.responses import ActionResult, EmptyResult
from moto.stepfunctions.parser.api import (
    HistoryEventType,
    LambdaFunctionFailedEventDetails,
    TaskFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    LambdaResource,
    Resource,
    ResourceCondition,
    ResourceRuntimePart,
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
    CallbackOutcome,
    CallbackOutcomeSuccess,
    CallbackOutcomeTimedOut,
    HeartbeatEndpoint,
    HeartbeatTimeoutError,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.asl.parse import preprocessor
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

from .iam import SESSION, Authorizer, lambda_requests, sagemaker_requests
from .lambdas import LambdaRegistry, LambdaServiceError
from .payload_limits import install_payload_limits, uninstall_payload_limits
from .sagemaker import (
    InMemorySageMakerService,
    SageMakerService,
    SageMakerServiceError,
    aws_sdk_integration_error_name,
    optimized_integration_error_name,
    service_model,
)

LOG = logging.getLogger(__name__)

MOTO_VERSION: Final[str] = "5.2.5"
"""The moto release these patch points were written and tested against."""

# How often a waitForTaskToken task re-checks whether its execution was stopped.
_TOKEN_WAIT_SLICE_SECONDS: Final[float] = 0.2


# --------------------------------------------------------------------------------------------------
# Installation state
# --------------------------------------------------------------------------------------------------


@dataclass
class Handle:
    """The installed extensions; also a context manager that uninstalls on exit."""

    lambdas: LambdaRegistry
    sagemaker: SageMakerService
    poll_interval: float
    retry_interval_scale: float
    principals: Authorizer | None = None
    """Authorizes each integration call with the state machine's role (None: not evaluated)."""

    def uninstall(self) -> None:
        """Restore moto's interpreter (same as :func:`uninstall`)."""
        uninstall()

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()


_LOCK = threading.Lock()
_ACTIVE: Handle | None = None
_ORIGINALS: dict[str, Any] = {}


def active_handle() -> Handle:
    """The installed :class:`Handle`; raises ``RuntimeError`` if :func:`install` was not called."""
    handle = _ACTIVE
    if handle is None:
        raise RuntimeError("local.sfn is not installed: call local.sfn.install() first")
    return handle


def is_installed() -> bool:
    """Whether :func:`install` is in effect."""
    return _ACTIVE is not None


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
    global _ACTIVE
    if poll_interval <= 0:
        raise ValueError("poll_interval must be positive")
    if retry_interval_scale < 0:
        raise ValueError("retry_interval_scale must not be negative")
    check_moto_compatibility()
    handle = Handle(
        lambdas=lambdas if lambdas is not None else LambdaRegistry(),
        sagemaker=sagemaker if sagemaker is not None else InMemorySageMakerService(),
        poll_interval=poll_interval,
        retry_interval_scale=retry_interval_scale,
        principals=principals,
    )
    with _LOCK:
        if _ACTIVE is not None:
            raise RuntimeError("local.sfn is already installed: uninstall() the previous handle first")
        install_payload_limits()  # first: it checks its own patch points before changing anything
        _ORIGINALS["state_task_for"] = preprocessor.state_task_for
        _ORIGINALS["_invoke_lambda_function"] = lambda_eval_utils._invoke_lambda_function
        _ORIGINALS["retrier_time"] = retrier_decl.time
        _ORIGINALS["send_task_failure"] = StepFunctionResponse.send_task_failure
        StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
        preprocessor.state_task_for = _state_task_for
        lambda_eval_utils._invoke_lambda_function = _invoke_lambda_function
        if retry_interval_scale != 1.0:
            retrier_decl.time = SimpleNamespace(  # type: ignore[assignment]
                sleep=lambda seconds: time.sleep(seconds * retry_interval_scale)
            )
        _ACTIVE = handle
    return handle


def uninstall() -> None:
    """Restore moto's original interpreter functions (a no-op if nothing is installed).

    Executions that already parsed their definition keep their task objects; their Lambda and
    SageMaker calls fail with ``RuntimeError`` (States.Runtime) once nothing is installed.
    """
    global _ACTIVE
    with _LOCK:
        if _ACTIVE is None:
            return
        preprocessor.state_task_for = _ORIGINALS.pop("state_task_for")
        lambda_eval_utils._invoke_lambda_function = _ORIGINALS.pop("_invoke_lambda_function")
        retrier_decl.time = _ORIGINALS.pop("retrier_time")
        StepFunctionResponse.send_task_failure = _ORIGINALS.pop("send_task_failure")  # type: ignore[method-assign]
        uninstall_payload_limits()
        _ACTIVE = None


# --------------------------------------------------------------------------------------------------
# Compatibility tripwire
# --------------------------------------------------------------------------------------------------


class MotoInternalsChanged(RuntimeError):
    """moto's interpreter no longer has the shape local.sfn patches (see :data:`MOTO_VERSION`)."""


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
    (Environment, "program_state_event", None),
    (ServiceResource, "api_action", None),
    (ServiceResource, "condition", None),
]


def check_moto_compatibility() -> None:
    """Raise :class:`MotoInternalsChanged` if a patched or overridden moto internal moved or changed."""
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
    if problems:
        raise MotoInternalsChanged(
            f"moto {moto.__version__} differs from {MOTO_VERSION}, which local.sfn patches: "
            + "; ".join(problems)
        )


def _init_assigns(owner: object, attribute: str) -> bool:
    init = getattr(owner, "__init__", None)
    try:
        source = inspect.getsource(init) if init is not None else ""
    except (OSError, TypeError):
        return False
    return f"self.{attribute}" in source


# --------------------------------------------------------------------------------------------------
# Abandoning a waiting task when its execution stops
# --------------------------------------------------------------------------------------------------


class _EndsQuietlyWhenStopped(StateTaskService):
    """Placed after moto's callback class in the MRO of our long-waiting tasks (``.sync`` jobs, token waits).

    When a wait loop notices that its execution was stopped (or the task timed out), it returns
    without an outcome. Without this mixin moto would then record a bogus ``TaskSucceeded`` and, if
    ``ResultSelector`` fails on the missing result, turn the stopped execution into a FAILED one.
    """

    def _after_eval_execution(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict,
        state_credentials: StateCredentials,
    ) -> None:
        if env.is_running():
            super()._after_eval_execution(
                env, resource_runtime_part, normalised_parameters, state_credentials
            )

    def _eval_state(self, env: Environment) -> None:
        try:
            super()._eval_state(env)
        except FailureEventException:
            if isinstance(env.program_state(), ProgramStopped):
                return
            raise


# --------------------------------------------------------------------------------------------------
# Patch point 1: the Task factory
# --------------------------------------------------------------------------------------------------


def _state_task_for(resource: Resource) -> StateTask:
    if isinstance(resource, ServiceResource):
        if resource.service_name == "sagemaker":
            return _SageMakerTask()
        if resource.service_name == "aws-sdk" and resource.api_name == "sagemaker":
            return _SageMakerAwsSdkTask()
        if resource.service_name == "lambda":
            return _LambdaInvokeTask()
    if isinstance(resource, LambdaResource):
        return _LambdaFunctionTask()
    original: Callable[[Resource], StateTask] = _ORIGINALS["state_task_for"]
    return original(resource)


# --------------------------------------------------------------------------------------------------
# Patch point 2: Lambda invocations
# --------------------------------------------------------------------------------------------------


def _invoke_lambda_function(parameters: dict, region: str, state_credentials: StateCredentials) -> dict:
    # Same contract as moto's: return the Invoke response with a decoded Payload; a service failure is a
    # botocore ClientError, which moto names "Lambda.<Code>" (StateTaskServiceLambda) and which
    # _LambdaFunctionTask names the same way for plain function ARNs.
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
# Lambda tasks (returned by patch point 1)
# --------------------------------------------------------------------------------------------------


class _HeartbeatTimeoutErrorName(StatesErrorName):
    """``States.Timeout`` caused by a missed heartbeat: Step Functions reports it as ``States.Timeout`` and
    also lets ``ErrorEquals: ["States.HeartbeatTimeout"]`` match it; moto only knows the former."""

    def __init__(self) -> None:
        super().__init__(typ=StatesErrorNameType.StatesTimeout)

    def matches(self, error_name: str | None) -> bool:
        return error_name in (self.error_name, StatesErrorNameType.StatesHeartbeatTimeout.to_name())


class _LambdaInvokeTask(StateTaskServiceLambda, _EndsQuietlyWhenStopped):
    """``lambda:invoke[.waitForTaskToken]``: moto's class, but a heartbeat timeout also matches
    ``States.HeartbeatTimeout`` in Retry/Catch, a token returned before the wait starts is not lost when
    HeartbeatSeconds is set, and StopExecution ends a token wait."""

    def _eval_wait_for_task_token(
        self,
        env: Environment,
        timeout_seconds: int,
        callback_endpoint: CallbackEndpoint,
        heartbeat_endpoint: HeartbeatEndpoint | None,
    ) -> CallbackOutcome:
        # moto blocks on the callback for the whole TimeoutSeconds (default 99999999 s) without looking
        # at the execution, so StopExecution left the execution RUNNING until the token came back.
        # Wait in slices and give up once the execution (or this task's frame) is no longer running.
        early = callback_endpoint.get_outcome()
        if early is not None:
            # The token came back while the function was still running (the endpoint Lambda may report
            # an instant local deployment). moto's heartbeat loop only wakes on a heartbeat that arrives
            # *after* it starts, so it would report a heartbeat timeout for this success.
            return early
        if heartbeat_endpoint is not None:
            # moto's heartbeat loop already re-checks env.is_running() every HeartbeatSeconds.
            return super()._eval_wait_for_task_token(
                env, timeout_seconds, callback_endpoint, heartbeat_endpoint
            )
        deadline = time.monotonic() + timeout_seconds
        while env.is_running():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return CallbackOutcomeTimedOut(callback_id=callback_endpoint.callback_id)
            outcome = callback_endpoint.wait(timeout=min(remaining, _TOKEN_WAIT_SLICE_SECONDS))
            if outcome is not None:
                return outcome
        # Stopped (or timed out by the state's own timer): no outcome; _EndsQuietlyWhenStopped records
        # nothing for it.
        return CallbackOutcomeSuccess(callback_id=callback_endpoint.callback_id, output="{}")

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        failure_event = super()._from_error(env=env, ex=ex)
        if isinstance(ex, HeartbeatTimeoutError):
            failure_event = FailureEvent(
                env=env,
                error_name=_HeartbeatTimeoutErrorName(),
                event_type=failure_event.event_type,
                event_details=failure_event.event_details,
            )
        return failure_event


class _LambdaFunctionTask(StateTaskLambda):
    """A Task whose Resource is a function ARN. moto names Lambda *service* errors "Exception" here;
    Step Functions uses ``Lambda.<Code>`` (as for ``lambda:invoke``), which Retry blocks rely on.
    The task's result is the function's payload alone, so the payload quota is measured on it (moto
    measures the invocation response around it)."""

    def _verify_size_quota(self, env: Environment, value: Any) -> None:
        payload = value.get("Payload", value) if isinstance(value, dict) else value
        super()._verify_size_quota(env, payload)

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        if isinstance(ex, ClientError):
            error, cause = StateTaskServiceLambda._error_cause_from_client_error(ex)
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(error),
                event_type=HistoryEventType.LambdaFunctionFailed,
                # moto types EventDetails as a total TypedDict but always fills a single key.
                event_details=cast(
                    EventDetails,
                    {
                        "lambdaFunctionFailedEventDetails": LambdaFunctionFailedEventDetails(
                            error=error, cause=cause
                        )
                    },
                ),
            )
        return super()._from_error(env=env, ex=ex)


# --------------------------------------------------------------------------------------------------
# Patch point 4: SendTaskFailure keeps its cause
# --------------------------------------------------------------------------------------------------


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
# SageMaker tasks
# --------------------------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """A JSON-compatible copy of an API response: datetimes become epoch milliseconds (as Step Functions
    renders SDK timestamps), bytes base64, tuples/sets lists, Decimals numbers."""
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _snake_case(action: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()


@dataclass(frozen=True)
class _SyncJob:
    name_key: str
    status_key: str
    describe: str
    stop: str


# Run-a-Job (.sync) actions of the optimized integration, and how to poll them.
_SYNC_JOBS: Final[dict[str, _SyncJob]] = {
    "createLabelingJob": _SyncJob(
        "LabelingJobName", "LabelingJobStatus", "describe_labeling_job", "stop_labeling_job"
    ),
    "createTrainingJob": _SyncJob(
        "TrainingJobName", "TrainingJobStatus", "describe_training_job", "stop_training_job"
    ),
    "createTransformJob": _SyncJob(
        "TransformJobName", "TransformJobStatus", "describe_transform_job", "stop_transform_job"
    ),
}
# Request-response actions of the optimized integration that the SageMakerService protocol covers.
# (AWS also offers createProcessingJob and createHyperParameterTuningJob: not needed by gtpipe.)
_REQUEST_RESPONSE: Final[frozenset[str]] = frozenset(
    {*_SYNC_JOBS, "createModel", "createEndpointConfig", "createEndpoint", "updateEndpoint"}
)


def _task_failed(env: Environment, task: StateTaskServiceCallback, error: str, cause: str) -> FailureEvent:
    # "States.*" names must be StatesErrorName (CustomErrorName refuses them, and ErrorEquals treats
    # "States.TaskFailed" as matching every non-States error only).
    error_name: ErrorName = (
        StatesErrorName.from_name(error) if error.startswith("States.") else CustomErrorName(error)
    )
    return FailureEvent(
        env=env,
        error_name=error_name,
        event_type=HistoryEventType.TaskFailed,
        event_details=cast(
            EventDetails,
            {
                "taskFailedEventDetails": TaskFailedEventDetails(
                    error=error,
                    cause=cause,
                    resource=task._get_sfn_resource(),
                    resourceType=task._get_sfn_resource_type(),
                )
            },
        ),
    )


class _SageMakerTask(StateTaskServiceCallback, _EndsQuietlyWhenStopped):
    """``arn:aws:states:::sagemaker:<action>[.sync]`` answered by the installed SageMakerService.

    Replaces moto's ``StateTaskServiceUnsupported`` (forwarding to moto's SageMaker mock, no ``.sync``).
    """

    def __init__(self) -> None:
        super().__init__(supported_integration_patterns={cast(ResourceCondition, ResourceCondition.Sync)})

    def _get_supported_parameters(self) -> set[str] | None:
        # None disables moto's silent dropping of unknown parameters: the service validates them all.
        return None

    def _validate_service_integration_is_supported(self) -> None:
        # Runs at parse time, so create_state_machine rejects unsupported actions/patterns the way
        # Step Functions does (InvalidDefinition) instead of failing mid-execution.
        action = self.resource.api_action
        condition = self.resource.condition
        supported = action in _REQUEST_RESPONSE and (
            condition is None or (condition == ResourceCondition.Sync and action in _SYNC_JOBS)
        )
        if not supported:
            raise ValueError(
                f"The resource provided {self.resource.resource_arn} not recognized. The value is not a valid "
                "resource ARN, or the resource is not available in this region (local.sfn supports "
                f"sagemaker:{{{', '.join(sorted(_REQUEST_RESPONSE))}}} and .sync for {sorted(_SYNC_JOBS)})."
            )

    def _eval_service_task(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict,
        state_credentials: StateCredentials,
    ) -> None:
        handle = active_handle()
        if handle.principals is not None:
            requests = sagemaker_requests(
                self.resource.api_action,
                normalised_parameters,
                sync=self.resource.condition == ResourceCondition.Sync,
                region=handle.lambdas.region,
                account=handle.lambdas.account_id,
            )
            refused = handle.principals.refusal(state_credentials.role_arn, SESSION, requests)
            if refused:
                raise SageMakerServiceError("AccessDeniedException", refused)
        method = getattr(handle.sagemaker, _snake_case(self.resource.api_action))
        env.stack.append(json_safe(method(normalised_parameters)))

    def _eval_integration_pattern(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict,
        state_credentials: StateCredentials,
    ) -> None:
        # moto's version waits for callbacks and crashes without a task token; Run-a-Job is only
        # "poll Describe* until terminal", so it is implemented here with a configurable interval.
        created = env.stack.pop()
        job = _SYNC_JOBS[self.resource.api_action]
        handle = active_handle()
        name = normalised_parameters[job.name_key]
        describe = getattr(handle.sagemaker, job.describe)
        while env.is_running():
            try:
                response = json_safe(describe({job.name_key: name}))
            except SageMakerServiceError as error:
                if error.code != "ThrottlingException":
                    raise
                # Step Functions' own poller retries throttled Describe* calls.
                response = {}
            status = response.get(job.status_key)
            if status == "Completed":
                env.stack.append(response)
                return
            if status in ("Failed", "Stopped"):
                raise FailureEventException(
                    _task_failed(
                        env, self, StatesErrorNameType.StatesTaskFailed.to_name(), to_json_str(response)
                    )
                )
            # Wake early when the task times out or the execution stops (moto signals this event).
            env.program_state_event.wait(handle.poll_interval)
        # The task timed out or the execution ended: stop the job, as Step Functions does.
        try:
            getattr(handle.sagemaker, job.stop)({job.name_key: name})
        except Exception as error:
            LOG.info("could not stop abandoned SageMaker job %s: %s", name, error)
        env.stack.append(created)

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        if isinstance(ex, SageMakerServiceError):
            cause = (
                f"{ex.message} (Service: AmazonSageMaker; Status Code: {ex.status_code}; "
                f"Error Code: {ex.code}; Request ID: {uuid.uuid4()}; Proxy: null)"
            )
            return _task_failed(env, self, optimized_integration_error_name(ex.code), cause)
        return super()._from_error(env=env, ex=ex)


class _SageMakerAwsSdkTask(StateTaskServiceAwsSdk):
    """``arn:aws:states:::aws-sdk:sagemaker:<action>`` answered by the installed SageMakerService
    (the method named like the action in snake_case; missing methods fail with States.Runtime)."""

    def _validate_service_integration_is_supported(self) -> None:
        action = self.resource.api_action
        operation = action[:1].upper() + action[1:]
        if operation not in service_model().operation_names:
            raise ValueError(f"The resource provided {self.resource.resource_arn} not recognized.")

    def _eval_service_task(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict,
        state_credentials: StateCredentials,
    ) -> None:
        service = active_handle().sagemaker
        method_name = _snake_case(self.resource.api_action)
        method = getattr(service, method_name, None)
        if method is None:
            raise NotImplementedError(f"{type(service).__name__} does not implement {method_name}")
        env.stack.append(json_safe(method(normalised_parameters)))

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        if isinstance(ex, SageMakerServiceError):
            cause = f"{ex.message} (Service: SageMaker, Status Code: {ex.status_code}, Request ID: {uuid.uuid4()})"
            return _task_failed(env, self, aws_sdk_integration_error_name(ex.code), cause)
        return super()._from_error(env=env, ex=ex)


__all__ = [
    "MOTO_VERSION",
    "Handle",
    "MotoInternalsChanged",
    "active_handle",
    "check_moto_compatibility",
    "install",
    "is_installed",
    "json_safe",
    "uninstall",
]
