"""Task states local.sfn adds to moto's interpreter for Lambda (returned by the patched Task factory).

Also what every long-waiting task of ours shares (:class:`EndsQuietlyWhenStopped`, used by the SageMaker
tasks of :mod:`local.sfn.sagemaker` too). The moto methods overridden here are listed in :mod:`local.sfn.moto_patches`'s
compatibility tripwire.
"""

from __future__ import annotations

import time
from typing import Any, Final, cast

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import (
    HistoryEventType,
    LambdaFunctionFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceRuntimePart,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
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

# How often a waitForTaskToken task re-checks whether its execution was stopped.
_TOKEN_WAIT_SLICE_SECONDS: Final[float] = 0.2


# --------------------------------------------------------------------------------------------------
# Abandoning a waiting task when its execution stops
# --------------------------------------------------------------------------------------------------


class EndsQuietlyWhenStopped(StateTaskService):
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
# Lambda tasks (returned by patch point 1)
# --------------------------------------------------------------------------------------------------


class HeartbeatTimeoutErrorName(StatesErrorName):
    """``States.Timeout`` caused by a missed heartbeat: Step Functions reports it as ``States.Timeout`` and
    also lets ``ErrorEquals: ["States.HeartbeatTimeout"]`` match it; moto only knows the former."""

    def __init__(self) -> None:
        super().__init__(typ=StatesErrorNameType.StatesTimeout)

    def matches(self, error_name: str | None) -> bool:
        return error_name in (self.error_name, StatesErrorNameType.StatesHeartbeatTimeout.to_name())


class LambdaInvokeTask(StateTaskServiceLambda, EndsQuietlyWhenStopped):
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
        # Stopped (or timed out by the state's own timer): no outcome; EndsQuietlyWhenStopped records
        # nothing for it.
        return CallbackOutcomeSuccess(callback_id=callback_endpoint.callback_id, output="{}")

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        failure_event = super()._from_error(env=env, ex=ex)
        if isinstance(ex, HeartbeatTimeoutError):
            failure_event = FailureEvent(
                env=env,
                error_name=HeartbeatTimeoutErrorName(),
                event_type=failure_event.event_type,
                event_details=failure_event.event_details,
            )
        return failure_event


class LambdaFunctionTask(StateTaskLambda):
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
