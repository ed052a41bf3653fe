"""The SageMaker side of the local Step Functions interpreter.

The interpreter patch (:mod:`local.sfn.moto_patches`) sends every ``arn:aws:states:::sagemaker:*`` task
to a :class:`SageMakerService`: one method per API action, taking the request dict exactly as the
state machine's ``Parameters`` build it (the API's PascalCase) and returning the API response
(``datetime`` values allowed; the interpreter makes them JSON-safe). Failures are raised as
:class:`SageMakerServiceError` with the API's error code.

:class:`InMemorySageMakerService` is the default implementation: it validates each request against
botocore's SageMaker service model, keeps the created resources in memory and leaves the fate of
every job (labeling, training, transform, endpoint deployment) to a pluggable :class:`JobRunner`.
:class:`ScriptedJobRunner` scripts those outcomes for tests; the local cloud plugs in a runner that
starts real local processes.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Self, runtime_checkable

from botocore.model import Shape

from .lambdas import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from .sagemaker_validation import SageMakerServiceError, service_model, validate_request

Request = dict[str, Any]
Response = dict[str, Any]

JobKind = Literal["labeling", "training", "transform", "endpoint"]
"""The long-running resources whose outcome a :class:`JobRunner` decides."""

JobStatus = Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped"]
"""Generic job status; the service maps it to each API's own status values."""

TERMINAL_STATUSES: frozenset[str] = frozenset({"Completed", "Failed", "Stopped"})


# --------------------------------------------------------------------------------------------------
# Errors and their Step Functions names
# --------------------------------------------------------------------------------------------------


@functools.cache
def modeled_error_codes() -> frozenset[str]:
    """Error codes SageMaker's API model declares (``ResourceInUse``, ``ResourceLimitExceeded`` ...)."""
    model = service_model()
    return frozenset(
        error.name
        for operation in model.operation_names
        for error in model.operation_model(operation).error_shapes
    )


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
# The extension point
# --------------------------------------------------------------------------------------------------


@runtime_checkable
class SageMakerService(Protocol):
    """What the interpreter calls for SageMaker tasks; one method per API action.

    Each method takes the request dict in the API's PascalCase (``{"TrainingJobName": ...}``) and
    returns the API response dict; errors are raised as :class:`SageMakerServiceError`. The ``.sync``
    tasks call ``create_*`` once, then ``describe_*`` every poll interval until the job status is
    terminal, and ``stop_*`` when the task is abandoned (timeout, stopped execution).
    ``aws-sdk:sagemaker:<action>`` tasks call the method named ``<action>`` in snake_case, if present.
    """

    def create_labeling_job(self, request: Request) -> Response: ...
    def describe_labeling_job(self, request: Request) -> Response: ...
    def stop_labeling_job(self, request: Request) -> Response: ...
    def create_training_job(self, request: Request) -> Response: ...
    def describe_training_job(self, request: Request) -> Response: ...
    def stop_training_job(self, request: Request) -> Response: ...
    def create_transform_job(self, request: Request) -> Response: ...
    def describe_transform_job(self, request: Request) -> Response: ...
    def stop_transform_job(self, request: Request) -> Response: ...
    def create_model(self, request: Request) -> Response: ...
    def create_endpoint_config(self, request: Request) -> Response: ...
    def create_endpoint(self, request: Request) -> Response: ...
    def update_endpoint(self, request: Request) -> Response: ...
    def describe_endpoint(self, request: Request) -> Response: ...


# --------------------------------------------------------------------------------------------------
# Jobs and job runners
# --------------------------------------------------------------------------------------------------


@dataclass
class Job:
    """A long-running SageMaker resource as the service tracks it (runners read it, the service owns it).

    ``request`` is the validated Create* (or UpdateEndpoint) request; ``polls`` counts the Describe*
    calls made while the job was not terminal (the service increments it before asking the runner).
    """

    kind: JobKind
    name: str
    arn: str
    request: Request
    created_at: dt.datetime
    status: JobStatus = "InProgress"
    failure_reason: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    polls: int = 0
    ended_at: dt.datetime | None = None

    @property
    def terminal(self) -> bool:
        """Whether the job reached Completed, Failed or Stopped."""
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class JobState:
    """What a runner reports for a job: its status, the failure reason if Failed, and extra Describe*
    fields (merged over the service's defaults, e.g. ``{"ModelArtifacts": {...}}`` or
    ``{"LabelCounters": {...}}``)."""

    status: JobStatus
    failure_reason: str | None = None
    outputs: Mapping[str, Any] | None = None


class JobRunner(Protocol):
    """Decides what happens to jobs: the strategy behind :class:`InMemorySageMakerService`."""

    def start(self, job: Job) -> None:
        """A Create* (or UpdateEndpoint) request was validated. Start the work, or raise
        :class:`SageMakerServiceError` to reject the request (the resource is then not created)."""

    def poll(self, job: Job) -> JobState:
        """Report the current state of a job that is not terminal yet (called on every Describe*)."""
        ...

    def stop(self, job: Job) -> None:
        """Stop* was called: stop the work; later polls should report ``Stopped``."""


OutputsSpec = Mapping[str, Any] | Callable[[Job], Mapping[str, Any]] | None


@dataclass(frozen=True)
class ScriptedOutcome:
    """One scripted job: rejected at creation, or terminal with ``status`` after ``after_polls``
    Describe* calls reporting InProgress. ``outputs`` (a mapping or a function of the job, called once
    when the job ends: a good place to write the job's output files) adds Describe* fields."""

    status: Literal["Completed", "Failed", "Stopped"] = "Completed"
    after_polls: int = 1
    failure_reason: str | None = None
    outputs: OutputsSpec = None
    rejection: SageMakerServiceError | None = None


def succeed(*, after_polls: int = 1, outputs: OutputsSpec = None) -> ScriptedOutcome:
    """A job that completes after ``after_polls`` InProgress polls, with optional extra outputs."""
    return ScriptedOutcome("Completed", after_polls, None, outputs)


def fail(reason: str = "AlgorithmError: scripted failure", *, after_polls: int = 1) -> ScriptedOutcome:
    """A job that fails with ``FailureReason = reason`` after ``after_polls`` InProgress polls."""
    return ScriptedOutcome("Failed", after_polls, reason)


def reject(code: str = "ThrottlingException", message: str = "Rate exceeded") -> ScriptedOutcome:
    """A Create* request that the service refuses with error ``code`` (nothing is created)."""
    return ScriptedOutcome(rejection=SageMakerServiceError(code, message))


@dataclass(frozen=True)
class RunnerCall:
    """A Create* request a :class:`ScriptedJobRunner` saw, and whether it was accepted."""

    kind: JobKind
    name: str
    accepted: bool


class ScriptedJobRunner:
    """A :class:`JobRunner` whose outcomes are scripted per job kind, for tests.

    Each accepted or rejected Create* request of a kind consumes the next scripted outcome of that kind;
    when none is left the kind's default applies (by default: complete after one InProgress poll)::

        runner = ScriptedJobRunner().script("training", reject("ThrottlingException"), fail("OOM"), succeed())
        # 1st CreateTrainingJob -> SageMaker.AmazonSageMakerException, 2nd job -> Failed, 3rd -> Completed
    """

    def __init__(self, defaults: Mapping[JobKind, ScriptedOutcome] | None = None) -> None:
        self._lock = threading.Lock()
        self._defaults: dict[str, ScriptedOutcome] = {
            kind: outcome for kind, outcome in (defaults or {}).items()
        }
        self._queues: dict[str, deque[ScriptedOutcome]] = defaultdict(deque)
        self._assigned: dict[tuple[str, str], ScriptedOutcome] = {}
        self._stopped: set[tuple[str, str]] = set()
        self._calls: list[RunnerCall] = []

    def script(self, kind: JobKind, *outcomes: ScriptedOutcome) -> Self:
        """Queue outcomes for the next jobs of ``kind``; returns ``self`` for chaining."""
        with self._lock:
            self._queues[kind].extend(outcomes)
        return self

    def set_default(self, kind: JobKind, outcome: ScriptedOutcome) -> Self:
        """The outcome of ``kind`` jobs once the scripted queue is empty."""
        with self._lock:
            self._defaults[kind] = outcome
        return self

    @property
    def calls(self) -> list[RunnerCall]:
        """Every Create* request seen so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def start(self, job: Job) -> None:
        """Assign the next scripted outcome to ``job`` (or raise its scripted rejection)."""
        with self._lock:
            queue = self._queues[job.kind]
            outcome = queue.popleft() if queue else self._defaults.get(job.kind, ScriptedOutcome())
            self._calls.append(RunnerCall(job.kind, job.name, outcome.rejection is None))
            if outcome.rejection is not None:
                raise outcome.rejection
            self._assigned[(job.kind, job.name)] = outcome

    def poll(self, job: Job) -> JobState:
        """InProgress for ``after_polls`` polls, then the scripted terminal state."""
        with self._lock:
            outcome = self._assigned.get((job.kind, job.name), ScriptedOutcome())
            stopped = (job.kind, job.name) in self._stopped
        if stopped:
            return JobState("Stopped")
        if job.polls <= outcome.after_polls:
            return JobState("InProgress")
        outputs = outcome.outputs(job) if callable(outcome.outputs) else outcome.outputs
        return JobState(outcome.status, outcome.failure_reason, outputs)

    def stop(self, job: Job) -> None:
        """Make the next poll report ``Stopped``."""
        with self._lock:
            self._stopped.add((job.kind, job.name))


# --------------------------------------------------------------------------------------------------
# The default service
# --------------------------------------------------------------------------------------------------


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
