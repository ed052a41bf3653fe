"""A local SageMaker that runs real jobs, for gtpipe's embedded cloud (GitHub issue 5).

SageMaker's API as the local cloud models it lives here, whoever calls it: botocore's service model,
the :class:`SageMakerService` protocol and account/region defaults (:mod:`.api`), request validation
(:mod:`.validation`) and the API errors (:mod:`.errors`). :mod:`local.sfn` (the Step Functions interpreter)
imports them; nothing here imports :mod:`local.sfn`.

One backend implements :class:`SageMakerService`: :class:`LocalSageMaker`. It validates every request,
keeps the resources and leaves how jobs end to its :class:`JobRunner` (:mod:`.runners`): the default
:class:`LocalJobRunner` runs real jobs on this machine; tests plug in a :class:`ScriptedJobRunner`
(outcomes scripted with :func:`succeed`/:func:`fail`/:func:`reject`, reached after N Describe* calls;
no files, no processes). With real jobs:

- **training** runs the built-in algorithm's local implementation (``python -m training.train``) in a
  subprocess with SageMaker's folder layout and ``SM_*`` variables, uploads ``model.tar.gz``, reports
  ``SecondaryStatus``, ``FinalMetricDataList`` and ``FailureReason`` (:mod:`.training_job`,
  image table in :mod:`.algorithms`);
- **models / endpoint configs** are stored (CreateModel checks the model data exists in S3);
- **batch transform** runs ``training.inference`` over a ManifestFile or S3Prefix (:mod:`.transform_job`);
- **endpoints** host the model in-process, with blue/green updates and rollback (``invoke_endpoint``);
- **labeling** is done by a simulated workforce, consolidated and written in Ground Truth's exact output
  by the builtin labeling service's code (:mod:`.labeling_job`, :mod:`.workforce`,
  :mod:`gtpipe_shared.consolidation`, :mod:`gtpipe_shared.labeling_output`);
- every status change is emitted as a SageMaker EventBridge event (:mod:`.events`);
- ``backend.faults`` injects failures (:mod:`.faults`).

:func:`install_sagemaker_api` routes moto's ``sagemaker`` and ``sagemaker-runtime`` APIs to the backend
(:mod:`.moto_api`), so boto3 clients and the Step Functions interpreter share one state.

Wiring::

    from moto import mock_aws
    from local.sfn import install
    from local.sagemaker import LocalSageMaker, WorkforceSettings, install_sagemaker_api

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        backend = LocalSageMaker(
            lambda: boto3.client("s3", region_name="us-east-1"),
            work_dir=".local/sagemaker",
            emit_event=lambda detail_type, detail, resources: publish(detail_type, detail, resources),
            workforce=WorkforceSettings("s3://bucket/reference.jsonl", error_rate=0.1, seed=7),
        )
        with backend, install_sagemaker_api(backend), install(lambdas, backend, poll_interval=0.5):
            ...  # start executions; boto3 "sagemaker"/"sagemaker-runtime" clients see the same state
"""

from local.moto_compat import MOTO_VERSION, MotoInternalsChanged

from .algorithms import ALGORITHMS, Algorithm, UnsupportedImage, resolve_image
from .api import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, SageMakerService, json_safe, service_model
from .errors import ModelError, SageMakerServiceError
from .events import (
    ENDPOINT_STATE_CHANGE,
    LABELING_JOB_STATE_CHANGE,
    TRAINING_JOB_STATE_CHANGE,
    TRANSFORM_JOB_STATE_CHANGE,
    EventSink,
    event_status,
)
from .faults import Faults
from .moto_api import (
    ApiHandle,
    check_moto_compatibility,
    install_sagemaker_api,
    uninstall_sagemaker_api,
)
from .runners import (
    Job,
    JobKind,
    JobRunner,
    JobState,
    JobStatus,
    LocalJobRunner,
    RunnerCall,
    ScriptedJobRunner,
    ScriptedOutcome,
    fail,
    reject,
    succeed,
)
from .service import Invocation, LocalSageMaker
from .validation import validate_request
from .workforce import WorkforceSettings, simulate_answers

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_REGION",
    "ENDPOINT_STATE_CHANGE",
    "LABELING_JOB_STATE_CHANGE",
    "MOTO_VERSION",
    "TRAINING_JOB_STATE_CHANGE",
    "TRANSFORM_JOB_STATE_CHANGE",
    "Algorithm",
    "ApiHandle",
    "EventSink",
    "Faults",
    "Invocation",
    "Job",
    "JobKind",
    "JobRunner",
    "JobState",
    "JobStatus",
    "LocalJobRunner",
    "LocalSageMaker",
    "ModelError",
    "MotoInternalsChanged",
    "RunnerCall",
    "SageMakerService",
    "SageMakerServiceError",
    "ScriptedJobRunner",
    "ScriptedOutcome",
    "UnsupportedImage",
    "WorkforceSettings",
    "check_moto_compatibility",
    "event_status",
    "fail",
    "install_sagemaker_api",
    "json_safe",
    "reject",
    "resolve_image",
    "service_model",
    "simulate_answers",
    "succeed",
    "uninstall_sagemaker_api",
    "validate_request",
]
