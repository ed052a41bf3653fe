"""``LocalSageMaker``: a SageMaker that runs real jobs on this machine.

It implements :class:`local.sagemaker.api.SageMakerService` (requests and responses are the API's PascalCase dicts,
validated against botocore's SageMaker model), so the Step Functions interpreter of :mod:`local.sfn`
drives it, and :func:`local.sagemaker.install_sagemaker_api` lets boto3 ``sagemaker`` and
``sagemaker-runtime`` clients reach the same state through moto.

Jobs run in background threads (training in a subprocess); Describe* reports InProgress until they end.
Every status change is published through ``emit_event`` in order, from one dispatcher thread, so a slow
or re-entrant event sink (one that calls back into this API) never blocks or deadlocks a job.
"""

from __future__ import annotations

from typing import Final

from .async_invocations import AsyncInvocationsApi
from .endpoints import Invocation
from .registry import ModelRegistryApi
from .tuning_job import TuningApi


class LocalSageMaker(TuningApi, AsyncInvocationsApi, ModelRegistryApi):
    """A local SageMaker for the embedded cloud (see the package docstring for the wiring).

    ``runner``: the :class:`~local.sagemaker.runners.JobRunner` deciding how jobs and endpoint
    deployments end (default: :class:`~local.sagemaker.runners.LocalJobRunner`, real work; tests pass a
    :class:`~local.sagemaker.runners.ScriptedJobRunner` and may then omit ``s3_client`` and ``work_dir``).
    ``s3_client``: a factory of boto3 S3 clients reaching the local cloud's S3 (called once per job
    thread, and once for the backend's own calls); ``work_dir``: where jobs lay out their files (default:
    a fresh temporary folder, made when first needed);
    ``emit_event(detail_type, detail, resources)``: receives every state-change event (source
    ``aws.sagemaker``); ``workforce``: how simulated labeling behaves. ``algorithms`` overrides the
    image table of :mod:`local.sagemaker.algorithms`; ``python`` runs training modules;
    ``stop_grace_seconds`` is the SIGTERM-to-SIGKILL delay when stopping training; ``logs_client``: a
    factory of CloudWatch Logs clients; with it, training logs are copied to ``/aws/sagemaker/TrainingJobs``.
    ``algorithm_threads``: CPU threads of every algorithm process (training jobs and automated labeling's
    models); None lets each use every core, at the price of numbers that differ between machines (see
    :data:`~local.sagemaker.algorithm_process.DEFAULT_ALGORITHM_THREADS`).
    ``s3_for_role(role_arn)``: a client acting with that role; with it, every S3 access on a job's or model's
    behalf uses the role it was given (``RoleArn``; a model's ``ExecutionRoleArn`` for transform jobs and
    endpoints), as SageMaker does, so a role that cannot read a channel fails the job with AccessDenied.
    """

    API_OPERATIONS: Final[dict[str, str]] = {
        "CreateTrainingJob": "create_training_job",
        "DescribeTrainingJob": "describe_training_job",
        "StopTrainingJob": "stop_training_job",
        "CreateTransformJob": "create_transform_job",
        "DescribeTransformJob": "describe_transform_job",
        "StopTransformJob": "stop_transform_job",
        "CreateLabelingJob": "create_labeling_job",
        "DescribeLabelingJob": "describe_labeling_job",
        "StopLabelingJob": "stop_labeling_job",
        "CreateHyperParameterTuningJob": "create_hyper_parameter_tuning_job",
        "DescribeHyperParameterTuningJob": "describe_hyper_parameter_tuning_job",
        "StopHyperParameterTuningJob": "stop_hyper_parameter_tuning_job",
        "ListTrainingJobsForHyperParameterTuningJob": "list_training_jobs_for_hyper_parameter_tuning_job",
        "CreateModel": "create_model",
        "DescribeModel": "describe_model",
        "DeleteModel": "delete_model",
        "CreateEndpointConfig": "create_endpoint_config",
        "DescribeEndpointConfig": "describe_endpoint_config",
        "DeleteEndpointConfig": "delete_endpoint_config",
        "CreateEndpoint": "create_endpoint",
        "UpdateEndpoint": "update_endpoint",
        "DescribeEndpoint": "describe_endpoint",
        "DeleteEndpoint": "delete_endpoint",
        "CreateModelPackageGroup": "create_model_package_group",
        "DescribeModelPackageGroup": "describe_model_package_group",
        "CreateModelPackage": "create_model_package",
        "DescribeModelPackage": "describe_model_package",
        "UpdateModelPackage": "update_model_package",
        "ListModelPackages": "list_model_packages",
        "ListTags": "list_tags",
        "AddTags": "add_tags",
        "DeleteTags": "delete_tags",
    }
    """SageMaker API actions this backend answers, and the method answering each."""


__all__ = ["Invocation", "LocalSageMaker"]
