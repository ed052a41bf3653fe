"""Local Step Functions execution for gtpipe: moto's ASL interpreter with in-process Lambda and SageMaker.

moto (``mock_aws(config={"stepfunctions": {"execute_state_machine": True}})`` or a ``ThreadedMotoServer``)
interprets the real state machine definition. :func:`install` plugs in:

- a :class:`LambdaRegistry` answering ``lambda:invoke``, ``lambda:invoke.waitForTaskToken`` and function-ARN
  tasks with Python callables (no Docker);
- a :class:`SageMakerService` answering ``sagemaker:*`` tasks, ``.sync`` included (the default
  :class:`InMemorySageMakerService` validates requests with botocore's model and lets a
  :class:`JobRunner`, e.g. :class:`ScriptedJobRunner`, decide how jobs end).

Example::

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        with install(LambdaRegistry({"split": split_handler}), InMemorySageMakerService(runner),
                     poll_interval=0.02) as handle:
            ...  # create_state_machine / start_execution with boto3 as usual
"""

from .lambdas import (
    Invocation,
    LambdaContext,
    LambdaHandler,
    LambdaRegistry,
    LambdaServiceError,
    function_name_of,
)
from .moto_patches import (
    MOTO_VERSION,
    Handle,
    MotoInternalsChanged,
    active_handle,
    check_moto_compatibility,
    install,
    is_installed,
    json_safe,
    uninstall,
)
from .sagemaker import (
    InMemorySageMakerService,
    Job,
    JobKind,
    JobRunner,
    JobState,
    JobStatus,
    RunnerCall,
    SageMakerService,
    SageMakerServiceError,
    ScriptedJobRunner,
    ScriptedOutcome,
    aws_sdk_integration_error_name,
    fail,
    optimized_integration_error_name,
    reject,
    succeed,
    validate_request,
)

__all__ = [
    "MOTO_VERSION",
    "Handle",
    "InMemorySageMakerService",
    "Invocation",
    "Job",
    "JobKind",
    "JobRunner",
    "JobState",
    "JobStatus",
    "LambdaContext",
    "LambdaHandler",
    "LambdaRegistry",
    "LambdaServiceError",
    "MotoInternalsChanged",
    "RunnerCall",
    "SageMakerService",
    "SageMakerServiceError",
    "ScriptedJobRunner",
    "ScriptedOutcome",
    "active_handle",
    "aws_sdk_integration_error_name",
    "check_moto_compatibility",
    "fail",
    "function_name_of",
    "install",
    "is_installed",
    "json_safe",
    "optimized_integration_error_name",
    "reject",
    "succeed",
    "uninstall",
    "validate_request",
]
