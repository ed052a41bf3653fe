"""An in-memory SageMaker whose jobs a :class:`~local.sagemaker.runners.JobRunner` decides, for tests.

:class:`InMemorySageMakerService` validates each request against botocore's SageMaker service model,
keeps the created resources in memory and leaves the fate of every job (labeling, training, transform,
endpoint deployment) to its runner (by default a :class:`~local.sagemaker.runners.ScriptedJobRunner`).
It is what :func:`local.sfn.install` plugs in when no SageMaker is given; the local cloud plugs in
:class:`~local.sagemaker.LocalSageMaker`, which runs real jobs.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import Shape

from .api import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, Request, Response, service_model
from .errors import SageMakerServiceError
from .runners import Job, JobKind, JobRunner, JobState, ScriptedJobRunner
from .validation import validate_request


@dataclass(frozen=True)
class _JobApi:
    name_key: str
    arn_key: str
    status_key: str
    arn_type: str
    create_op: str
    describe_op: str


_JOB_APIS: dict[str, _JobApi] = {
    "labeling": _JobApi(
        "LabelingJobName",
        "LabelingJobArn",
        "LabelingJobStatus",
        "labeling-job",
        "CreateLabelingJob",
        "DescribeLabelingJob",
    ),
    "training": _JobApi(
        "TrainingJobName",
        "TrainingJobArn",
        "TrainingJobStatus",
        "training-job",
        "CreateTrainingJob",
        "DescribeTrainingJob",
    ),
    "transform": _JobApi(
        "TransformJobName",
        "TransformJobArn",
        "TransformJobStatus",
        "transform-job",
        "CreateTransformJob",
        "DescribeTransformJob",
    ),
}

_ENDPOINT_STATUS: dict[str, str] = {
    "Completed": "InService",
    "Failed": "Failed",
    "Stopped": "Failed",
}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class InMemorySageMakerService:
    """The default :class:`SageMakerService`: validated requests, in-memory resources, runner-driven jobs.

    - Every request is validated with :func:`validate_request` (``ValidationException`` if bad).
    - Job names are unique per kind (``ResourceInUse``, as in SageMaker), so a ``Retry`` that reuses
      the name of a job that was created fails like it would on AWS.
    - Models, endpoint configs and endpoints must reference existing resources (``ValidationException``).
    - Job and endpoint progress comes from ``runner`` (default: a fresh :class:`ScriptedJobRunner`).
    - ``inject_error(operation, code)`` makes the next calls of an operation fail, e.g. to test
      ``Retry`` on throttled request-response calls.

    Thread-safe: one lock serialises all calls (the runner is called under it, so keep runners fast).
    """

    def __init__(
        self,
        runner: JobRunner | None = None,
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
        strict_constraints: bool = True,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.runner: JobRunner = runner if runner is not None else ScriptedJobRunner()
        self.account_id = account_id
        self.region = region
        self.strict_constraints = strict_constraints
        self._clock = clock
        self._lock = threading.RLock()
        self._jobs: dict[tuple[str, str], Job] = {}
        self._models: dict[str, Response] = {}
        self._endpoint_configs: dict[str, Response] = {}
        self._endpoints: dict[str, dict[str, Any]] = {}
        self._injected: dict[str, deque[SageMakerServiceError]] = defaultdict(deque)
        self._calls: list[tuple[str, Request]] = []

    # -- test helpers -----------------------------------------------------------------------------

    def inject_error(self, operation: str, code: str, message: str = "", *, times: int = 1) -> None:
        """Fail the next ``times`` calls of ``operation`` (``CreateModel``) with error ``code``."""
        with self._lock:
            for _ in range(times):
                self._injected[operation].append(SageMakerServiceError(code, message or code))

    @property
    def calls(self) -> list[tuple[str, Request]]:
        """Every call so far as ``(operation, request)``, oldest first."""
        with self._lock:
            return list(self._calls)

    def jobs(self, kind: JobKind) -> list[Job]:
        """The accepted jobs of a kind, in creation order."""
        with self._lock:
            return [job for (job_kind, _), job in self._jobs.items() if job_kind == kind]

    # -- plumbing ---------------------------------------------------------------------------------

    def _arn(self, resource_type: str, name: str) -> str:
        # SageMaker lower-cases resource names in ARNs.
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{resource_type}/{name.lower()}"

    def _begin(self, operation: str, request: Request) -> Request:
        self._calls.append((operation, copy.deepcopy(request)))
        injected = self._injected.get(operation)
        if injected:
            raise injected.popleft()
        validate_request(operation, request, constraints=self.strict_constraints)
        return copy.deepcopy(request)

    @staticmethod
    def _shape_members(operation: str) -> Mapping[str, Shape]:
        output_shape = service_model().operation_model(operation).output_shape
        return output_shape.members if output_shape is not None else {}

    def _echo(self, operation: str, request: Mapping[str, Any]) -> Response:
        # Describe* responses repeat the creation request's fields that the output shape declares.
        members = self._shape_members(operation)
        return {key: copy.deepcopy(value) for key, value in request.items() if key in members}

    def _apply(self, job: Job, state: JobState) -> None:
        if job.status == "Stopping" and state.status == "InProgress":
            return
        job.status = state.status
        if state.failure_reason is not None:
            job.failure_reason = state.failure_reason
        if state.outputs:
            unknown = set(state.outputs) - set(self._shape_members(_describe_op(job.kind)))
            if unknown:
                raise ValueError(
                    f"runner outputs for {job.kind} job {job.name} have unknown fields {unknown}"
                )
            job.outputs.update(copy.deepcopy(dict(state.outputs)))
        if job.terminal:
            job.ended_at = self._clock()

    def _refresh(self, job: Job) -> None:
        if job.terminal:
            return
        job.polls += 1
        self._apply(job, self.runner.poll(job))

    # -- jobs ---------------------------------------------------------------------------------------

    def _create_job(
        self, kind: JobKind, request: Request, check: Callable[[Request], None] | None = None
    ) -> Response:
        api = _JOB_APIS[kind]
        with self._lock:
            request = self._begin(api.create_op, request)
            if check is not None:
                check(request)
            name = request[api.name_key]
            arn = self._arn(api.arn_type, name)
            if (kind, name) in self._jobs:
                raise SageMakerServiceError(
                    "ResourceInUse",
                    f"{kind.capitalize()} job names must be unique within an AWS account and region, and "
                    f"a {kind} job with this name already exists ({arn})",
                )
            job = Job(kind=kind, name=name, arn=arn, request=request, created_at=self._clock())
            self.runner.start(job)
            self._jobs[(kind, name)] = job
            return {api.arn_key: arn}

    def _job(self, kind: JobKind, name: str) -> Job:
        job = self._jobs.get((kind, name))
        if job is None:
            raise SageMakerServiceError("ResourceNotFound", f"Requested resource not found: {name}")
        return job

    def _describe_job(self, kind: JobKind, request: Request) -> Response:
        api = _JOB_APIS[kind]
        with self._lock:
            request = self._begin(api.describe_op, request)
            job = self._job(kind, request[api.name_key])
            self._refresh(job)
            return self._render_job(job)

    def _stop_job(self, kind: JobKind, operation: str, request: Request) -> Response:
        api = _JOB_APIS[kind]
        with self._lock:
            request = self._begin(operation, request)
            job = self._job(kind, request[api.name_key])
            if job.terminal or job.status == "Stopping":
                raise SageMakerServiceError(
                    "ValidationException", f"The {kind} job {job.name} is not in progress ({job.status})."
                )
            job.status = "Stopping"
            self.runner.stop(job)
            return {}

    def _render_job(self, job: Job) -> Response:
        api = _JOB_APIS[job.kind]
        response = self._echo(api.describe_op, job.request)
        modified = job.ended_at or job.created_at
        response.update(
            {
                api.name_key: job.name,
                api.arn_key: job.arn,
                api.status_key: job.status,
                "CreationTime": job.created_at,
                "LastModifiedTime": modified,
            }
        )
        if job.failure_reason is not None and job.status == "Failed":
            response["FailureReason"] = job.failure_reason
        response.update(self._kind_fields(job))
        response.update(copy.deepcopy(job.outputs))
        return response

    def _kind_fields(self, job: Job) -> Response:
        request = job.request
        completed = job.status == "Completed"
        if job.kind == "training":
            fields: Response = {
                "SecondaryStatus": {"InProgress": "Training", "Stopping": "Stopping"}.get(
                    job.status, job.status
                ),
                "TrainingStartTime": job.created_at,
                "EnableNetworkIsolation": request.get("EnableNetworkIsolation", False),
                "EnableInterContainerTrafficEncryption": request.get(
                    "EnableInterContainerTrafficEncryption", False
                ),
                "EnableManagedSpotTraining": request.get("EnableManagedSpotTraining", False),
            }
            if job.ended_at is not None:
                seconds = int((job.ended_at - job.created_at).total_seconds())
                fields |= {
                    "TrainingEndTime": job.ended_at,
                    "TrainingTimeInSeconds": seconds,
                    "BillableTimeInSeconds": seconds,
                }
            if completed:
                output_path = request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
                fields["ModelArtifacts"] = {
                    "S3ModelArtifacts": f"{output_path}/{job.name}/output/model.tar.gz"
                }
            return fields
        if job.kind == "labeling":
            fields = {
                "JobReferenceCode": uuid.uuid5(uuid.NAMESPACE_URL, job.arn).hex,
                "LabelCounters": {
                    "TotalLabeled": 0,
                    "HumanLabeled": 0,
                    "MachineLabeled": 0,
                    "FailedNonRetryableError": 0,
                    "Unlabeled": 0,
                },
            }
            if completed:
                output_path = request["OutputConfig"]["S3OutputPath"].rstrip("/")
                fields["LabelingJobOutput"] = {
                    "OutputDatasetS3Uri": f"{output_path}/{job.name}/manifests/output/output.manifest"
                }
            return fields
        if job.kind == "transform":
            fields = {"TransformStartTime": job.created_at}
            if job.ended_at is not None:
                fields["TransformEndTime"] = job.ended_at
            return fields
        return {}

    def create_labeling_job(self, request: Request) -> Response:
        """CreateLabelingJob; the runner decides the job's outcome."""
        return self._create_job("labeling", request)

    def describe_labeling_job(self, request: Request) -> Response:
        """DescribeLabelingJob; when Completed: ``LabelingJobOutput.OutputDatasetS3Uri`` is
        ``<S3OutputPath>/<name>/manifests/output/output.manifest`` unless the runner says otherwise."""
        return self._describe_job("labeling", request)

    def stop_labeling_job(self, request: Request) -> Response:
        """StopLabelingJob."""
        return self._stop_job("labeling", "StopLabelingJob", request)

    def create_training_job(self, request: Request) -> Response:
        """CreateTrainingJob; the runner decides the job's outcome."""
        return self._create_job("training", request)

    def describe_training_job(self, request: Request) -> Response:
        """DescribeTrainingJob; when Completed: ``ModelArtifacts.S3ModelArtifacts`` is
        ``<S3OutputPath>/<name>/output/model.tar.gz`` unless the runner says otherwise."""
        return self._describe_job("training", request)

    def stop_training_job(self, request: Request) -> Response:
        """StopTrainingJob."""
        return self._stop_job("training", "StopTrainingJob", request)

    def create_transform_job(self, request: Request) -> Response:
        """CreateTransformJob; the model must exist; the runner decides the job's outcome."""
        return self._create_job(
            "transform", request, check=lambda valid: self._require_model(valid["ModelName"])
        )

    def describe_transform_job(self, request: Request) -> Response:
        """DescribeTransformJob."""
        return self._describe_job("transform", request)

    def stop_transform_job(self, request: Request) -> Response:
        """StopTransformJob."""
        return self._stop_job("transform", "StopTransformJob", request)

    # -- models and endpoint configs ----------------------------------------------------------------

    def create_model(self, request: Request) -> Response:
        """CreateModel (names are unique: ``ValidationException`` for an existing model)."""
        with self._lock:
            request = self._begin("CreateModel", request)
            name = request["ModelName"]
            arn = self._arn("model", name)
            if name in self._models:
                raise SageMakerServiceError(
                    "ValidationException", f'Cannot create already existing model "{arn}".'
                )
            self._models[name] = {
                **self._echo("DescribeModel", request),
                "ModelArn": arn,
                "CreationTime": self._clock(),
            }
            return {"ModelArn": arn}

    def _require_model(self, name: str) -> None:
        if name not in self._models:
            raise SageMakerServiceError(
                "ValidationException", f'Could not find model "{self._arn("model", name)}".'
            )

    def describe_model(self, request: Request) -> Response:
        """DescribeModel."""
        with self._lock:
            request = self._begin("DescribeModel", request)
            self._require_model(request["ModelName"])
            return copy.deepcopy(self._models[request["ModelName"]])

    def create_endpoint_config(self, request: Request) -> Response:
        """CreateEndpointConfig; every production variant's model must exist."""
        with self._lock:
            request = self._begin("CreateEndpointConfig", request)
            name = request["EndpointConfigName"]
            arn = self._arn("endpoint-config", name)
            if name in self._endpoint_configs:
                raise SageMakerServiceError(
                    "ValidationException", f'Cannot create already existing endpoint configuration "{arn}".'
                )
            for variant in request.get("ProductionVariants", []):
                if variant.get("ModelName"):
                    self._require_model(variant["ModelName"])
            self._endpoint_configs[name] = {
                **self._echo("DescribeEndpointConfig", request),
                "EndpointConfigArn": arn,
                "CreationTime": self._clock(),
            }
            return {"EndpointConfigArn": arn}

    def describe_endpoint_config(self, request: Request) -> Response:
        """DescribeEndpointConfig."""
        with self._lock:
            request = self._begin("DescribeEndpointConfig", request)
            config = self._endpoint_configs.get(request["EndpointConfigName"])
            if config is None:
                arn = self._arn("endpoint-config", request["EndpointConfigName"])
                raise SageMakerServiceError(
                    "ValidationException", f'Could not find endpoint configuration "{arn}".'
                )
            return copy.deepcopy(config)

    # -- endpoints ----------------------------------------------------------------------------------

    def _require_config(self, name: str) -> None:
        if name not in self._endpoint_configs:
            arn = self._arn("endpoint-config", name)
            raise SageMakerServiceError(
                "ValidationException", f'Could not find endpoint configuration "{arn}".'
            )

    def create_endpoint(self, request: Request) -> Response:
        """CreateEndpoint: status ``Creating`` until the runner completes the ``endpoint`` job."""
        with self._lock:
            request = self._begin("CreateEndpoint", request)
            name = request["EndpointName"]
            arn = self._arn("endpoint", name)
            if name in self._endpoints:
                raise SageMakerServiceError(
                    "ValidationException", f'Cannot create already existing endpoint "{arn}".'
                )
            self._require_config(request["EndpointConfigName"])
            job = Job(kind="endpoint", name=name, arn=arn, request=request, created_at=self._clock())
            self.runner.start(job)
            self._endpoints[name] = {
                "job": job,
                "config": None,
                "pending": request["EndpointConfigName"],
                "created_at": job.created_at,
                "updating": False,
            }
            return {"EndpointArn": arn}

    def update_endpoint(self, request: Request) -> Response:
        """UpdateEndpoint: only an ``InService`` endpoint can be updated; status ``Updating`` until the
        runner completes the new ``endpoint`` job."""
        with self._lock:
            request = self._begin("UpdateEndpoint", request)
            name = request["EndpointName"]
            endpoint = self._endpoints.get(name)
            arn = self._arn("endpoint", name)
            if endpoint is None:
                raise SageMakerServiceError("ValidationException", f'Could not find endpoint "{arn}".')
            self._refresh(endpoint["job"])
            if _ENDPOINT_STATUS.get(endpoint["job"].status) != "InService":
                raise SageMakerServiceError(
                    "ValidationException", f'Cannot update in-progress endpoint "{arn}".'
                )
            self._require_config(request["EndpointConfigName"])
            job = Job(kind="endpoint", name=name, arn=arn, request=request, created_at=self._clock())
            self.runner.start(job)
            endpoint.update({"job": job, "pending": request["EndpointConfigName"], "updating": True})
            return {"EndpointArn": arn}

    def describe_endpoint(self, request: Request) -> Response:
        """DescribeEndpoint (``Creating``/``Updating`` -> ``InService`` or ``Failed``)."""
        with self._lock:
            request = self._begin("DescribeEndpoint", request)
            name = request["EndpointName"]
            endpoint = self._endpoints.get(name)
            if endpoint is None:
                raise SageMakerServiceError(
                    "ValidationException", f'Could not find endpoint "{self._arn("endpoint", name)}".'
                )
            job: Job = endpoint["job"]
            was_terminal = job.terminal
            self._refresh(job)
            if job.terminal and not was_terminal and job.status == "Completed":
                endpoint["config"] = endpoint["pending"]
            if job.terminal:
                status = _ENDPOINT_STATUS[job.status]
            else:
                status = "Updating" if endpoint["updating"] else "Creating"
            response: Response = {
                "EndpointName": name,
                "EndpointArn": job.arn,
                "EndpointConfigName": endpoint["config"] or endpoint["pending"],
                "EndpointStatus": status,
                "CreationTime": endpoint["created_at"],
                "LastModifiedTime": job.ended_at or job.created_at,
            }
            if status == "Failed" and job.failure_reason:
                response["FailureReason"] = job.failure_reason
            if endpoint["config"] is not None:
                config = self._endpoint_configs[endpoint["config"]]
                response["ProductionVariants"] = [
                    {
                        "VariantName": variant["VariantName"],
                        "CurrentWeight": variant.get("InitialVariantWeight", 1.0),
                        "DesiredWeight": variant.get("InitialVariantWeight", 1.0),
                        "CurrentInstanceCount": variant.get("InitialInstanceCount", 1),
                        "DesiredInstanceCount": variant.get("InitialInstanceCount", 1),
                    }
                    for variant in config.get("ProductionVariants", [])
                ]
            response.update(copy.deepcopy(job.outputs))
            return response


def _describe_op(kind: str) -> str:
    return _JOB_APIS[kind].describe_op if kind in _JOB_APIS else "DescribeEndpoint"
