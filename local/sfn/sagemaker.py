"""SageMaker tasks in the interpreter: the glue between local.sfn and :mod:`local.sagemaker`.

The patched Task factory (:mod:`local.sfn.moto_patches`) turns every ``arn:aws:states:::sagemaker:*``
resource into a :class:`SageMakerTask` and every ``aws-sdk:sagemaker:*`` one into a
:class:`SageMakerAwsSdkTask`; both call the installed :class:`local.sagemaker.SageMakerService` (``.sync``
polls Describe* every ``poll_interval``) and turn the :class:`local.sagemaker.SageMakerServiceError` it
raises into the error name a ``Catch``/``Retry`` sees (:func:`optimized_integration_error_name`,
:func:`aws_sdk_integration_error_name`). SageMaker's API model, validation and errors live in
:mod:`local.sagemaker`; nothing here emulates SageMaker.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Final, cast

from moto.stepfunctions.parser.api import (
    HistoryEventType,
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
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
    ResourceRuntimePart,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

from local.sagemaker.api import json_safe, modeled_error_codes, service_model
from local.sagemaker.errors import SageMakerServiceError

from .handle import active_handle
from .iam import SESSION, sagemaker_requests
from .task_states import EndsQuietlyWhenStopped

LOG = logging.getLogger(__name__)


def _exception_class_name(code: str) -> str:
    return code if code.endswith("Exception") else f"{code}Exception"


def optimized_integration_error_name(code: str) -> str:
    """The Step Functions error name of a SageMaker error in the optimized integration.

    Step Functions names service errors after the AWS SDK for Java exception class, prefixed with
    ``SageMaker.``: modeled errors get their own class (``ResourceLimitExceeded`` ->
    ``SageMaker.ResourceLimitExceededException``, ``ResourceInUse`` ->
    ``SageMaker.ResourceInUseException``); every other code (``ValidationException``,
    ``ThrottlingException``, ``InternalFailure`` ...) is the generic
    ``SageMaker.AmazonSageMakerException``, with the code only in the cause ("Error Code: ...").
    """
    if code in modeled_error_codes():
        return f"SageMaker.{_exception_class_name(code)}"
    return "SageMaker.AmazonSageMakerException"


def aws_sdk_integration_error_name(code: str) -> str:
    """The error name for ``arn:aws:states:::aws-sdk:sagemaker:*`` tasks (AWS SDK for Java v2 naming:
    modeled errors ``SageMaker.<Code>Exception``, others ``SageMaker.SageMakerException``)."""
    if code in modeled_error_codes():
        return f"SageMaker.{_exception_class_name(code)}"
    return "SageMaker.SageMakerException"


# --------------------------------------------------------------------------------------------------
# SageMaker tasks (returned by the patched Task factory, :mod:`local.sfn.moto_patches`)
# --------------------------------------------------------------------------------------------------


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
    "createHyperParameterTuningJob": _SyncJob(
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus",
        "describe_hyper_parameter_tuning_job",
        "stop_hyper_parameter_tuning_job",
    ),
}
# Request-response actions of the optimized integration that the SageMakerService protocol covers.
# (AWS also offers createProcessingJob: not needed by gtpipe.)
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


class SageMakerTask(StateTaskServiceCallback, EndsQuietlyWhenStopped):
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


class SageMakerAwsSdkTask(StateTaskServiceAwsSdk):
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
        handle = active_handle()
        if handle.principals is not None:
            # The state machine's role must allow the action, as for the optimized integration.
            requests = sagemaker_requests(
                self.resource.api_action,
                normalised_parameters,
                sync=False,
                region=handle.lambdas.region,
                account=handle.lambdas.account_id,
            )
            refused = handle.principals.refusal(state_credentials.role_arn, SESSION, requests)
            if refused:
                raise SageMakerServiceError("AccessDeniedException", refused)
        service = handle.sagemaker
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
