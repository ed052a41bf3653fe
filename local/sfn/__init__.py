"""Local Step Functions execution for gtpipe: moto's ASL interpreter with in-process Lambda and SageMaker.

moto (``mock_aws(config={"stepfunctions": {"execute_state_machine": True}})`` or a ``ThreadedMotoServer``)
interprets the real state machine definition. :func:`install` plugs in:

- a :class:`LambdaRegistry` answering ``lambda:invoke``, ``lambda:invoke.waitForTaskToken`` and function-ARN
  tasks with Python callables (no Docker);
- a :class:`local.sagemaker.SageMakerService` answering ``sagemaker:*`` tasks, ``.sync`` included: a
  :class:`local.sagemaker.LocalSageMaker`, whose :class:`local.sagemaker.JobRunner` decides how jobs end
  (by default a :class:`local.sagemaker.ScriptedJobRunner`; the local cloud runs real jobs).

SageMaker itself (API model, validation, errors, the backend and its runners) is :mod:`local.sagemaker`; this package only
holds the interpreter glue (:mod:`.sagemaker`: SageMaker task states and Step Functions error names).

Example::

    from local.sagemaker import LocalSageMaker, ScriptedJobRunner

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        with install(LambdaRegistry({"split": split_handler}), LocalSageMaker(runner=runner),
                     poll_interval=0.02) as handle:
            ...  # create_state_machine / start_execution with boto3 as usual
"""

from local.moto_compat import MOTO_VERSION, MotoInternalsChanged

from .handle import Handle, active_handle, is_installed
from .lambdas import (
    Invocation,
    LambdaContext,
    LambdaHandler,
    LambdaRegistry,
    LambdaServiceError,
    function_name_of,
)
from .moto_patches import check_moto_compatibility, install, uninstall
from .sagemaker import aws_sdk_integration_error_name, optimized_integration_error_name

__all__ = [
    "MOTO_VERSION",
    "Handle",
    "Invocation",
    "LambdaContext",
    "LambdaHandler",
    "LambdaRegistry",
    "LambdaServiceError",
    "MotoInternalsChanged",
    "active_handle",
    "aws_sdk_integration_error_name",
    "check_moto_compatibility",
    "function_name_of",
    "install",
    "is_installed",
    "optimized_integration_error_name",
    "uninstall",
]
