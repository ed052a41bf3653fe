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

import copy
import logging
import queue
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared.aws_limits import volume_kms_key_problem

from .algorithms import ALGORITHMS, Algorithm, UnsupportedImage, resolve_image
from .api import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, service_model
from .errors import SageMakerServiceError, not_found, runtime_validation_error, throttled, validation_error
from .events import (
    ENDPOINT_STATE_CHANGE,
    LABELING_JOB_STATE_CHANGE,
    TRAINING_JOB_STATE_CHANGE,
    TRANSFORM_JOB_STATE_CHANGE,
    Emitter,
    EventSink,
    event_detail,
    event_status,
)
from .faults import Faults
from .hosting import LoadedModel, ModelLoadError, load_model, primary_container
from .jobs import JobHandle, JobRecord, JobType, utcnow
from .labeling_job import LabelingRun
from .s3 import S3Uri, object_exists
from .training_job import DEFAULT_ALGORITHM_THREADS, STATUS_MESSAGES, TrainingRun
from .transform_job import TransformRun
from .validation import validate_request
from .workforce import WorkforceSettings

LOG = logging.getLogger(__name__)

Request = dict[str, Any]
Response = dict[str, Any]
S3ClientFactory = Callable[[], Any]

_JOB_EVENTS: Final[dict[str, str]] = {
    "training": TRAINING_JOB_STATE_CHANGE,
    "transform": TRANSFORM_JOB_STATE_CHANGE,
    "labeling": LABELING_JOB_STATE_CHANGE,
}
_JOB_KEYS: Final[dict[str, tuple[str, str, str, str]]] = {
    # kind -> (name key, ARN key, status key, ARN resource type)
    "training": ("TrainingJobName", "TrainingJobArn", "TrainingJobStatus", "training-job"),
    "transform": ("TransformJobName", "TransformJobArn", "TransformJobStatus", "transform-job"),
    "labeling": ("LabelingJobName", "LabelingJobArn", "LabelingJobStatus", "labeling-job"),
}
_DESCRIBE_OPS: Final[dict[str, str]] = {
    "training": "DescribeTrainingJob",
    "transform": "DescribeTransformJob",
    "labeling": "DescribeLabelingJob",
}
ENDPOINT_BUSY: Final = frozenset({"Creating", "Updating", "RollingBack", "SystemUpdating", "Deleting"})
POLL_SECONDS: Final = 0.05


@dataclass
class _Variant:
    name: str
    weight: float
    instance_count: int
    image: str
    loaded: LoadedModel


@dataclass
class _Endpoint:
    name: str
    arn: str
    created: Any
    status: str
    last_modified: Any
    config_name: str | None = None  # the config being served
    pending_config: str | None = None  # the config being deployed
    failure_reason: str | None = None
    variants: tuple[_Variant, ...] = ()
    last_deployment_config: dict[str, Any] | None = None
    generation: int = 0
    deleted: bool = False


@dataclass(frozen=True)
class Invocation:
    """An InvokeEndpoint answer: body, its content type, and the production variant that served it."""

    body: bytes
    content_type: str
    variant: str


def _refuse_volume_key_on_instance_storage(resources: Any, field: str) -> None:
    """SageMaker's ValidationException for a volume key on an instance type with local NVMe storage
    (see :func:`gtpipe_shared.aws_limits.volume_kms_key_problem`); botocore does not check it."""
    if not isinstance(resources, dict):
        return
    problem = volume_kms_key_problem(resources.get("InstanceType"), resources.get(field), field)
    if problem:
        raise validation_error(problem)


class LocalSageMaker:
    """A local SageMaker for the embedded cloud (see the package docstring for the wiring).

    ``s3_client``: a factory of boto3 S3 clients reaching the local cloud's S3 (called once per job
    thread, and once for the backend's own calls); ``work_dir``: where jobs lay out their files;
    ``emit_event(detail_type, detail, resources)``: receives every state-change event (source
    ``aws.sagemaker``); ``workforce``: how simulated labeling behaves. ``algorithms`` overrides the
    image table of :mod:`local.sagemaker.algorithms`; ``python`` runs training modules;
    ``stop_grace_seconds`` is the SIGTERM-to-SIGKILL delay when stopping training; ``logs_client``: a
    factory of CloudWatch Logs clients; with it, training logs are copied to ``/aws/sagemaker/TrainingJobs``.
    ``algorithm_threads``: CPU threads of every algorithm process (training jobs and automated labeling's
    models); None lets each use every core, at the price of numbers that differ between machines (see
    :data:`~local.sagemaker.training_job.DEFAULT_ALGORITHM_THREADS`).
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
        "ListTags": "list_tags",
        "AddTags": "add_tags",
        "DeleteTags": "delete_tags",
    }
    """SageMaker API actions this backend answers, and the method answering each."""

    def __init__(
        self,
        s3_client: S3ClientFactory,
        work_dir: str | Path,
        emit_event: EventSink | None = None,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        workforce: WorkforceSettings | None = None,
        algorithms: Mapping[str, Algorithm] | None = None,
        python: str = sys.executable,
        stop_grace_seconds: float = 5.0,
        keep_input_data: bool = False,
        strict_validation: bool = True,
        logs_client: Callable[[], Any] | None = None,
        algorithm_threads: int | None = DEFAULT_ALGORITHM_THREADS,
        s3_for_role: Callable[[str], Any] | None = None,
    ) -> None:
        self._s3_factory = s3_client
        self._s3_for_role = s3_for_role
        self.algorithm_threads = algorithm_threads
        self._logs_factory = logs_client
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.region = region
        self.account_id = account_id
        self.workforce = workforce or WorkforceSettings()
        self.algorithms: dict[str, Algorithm] = dict(ALGORITHMS if algorithms is None else algorithms)
        self.python = python
        self.stop_grace_seconds = stop_grace_seconds
        self.keep_input_data = keep_input_data
        self.strict_validation = strict_validation
        self.faults = Faults()
        self._emitter = Emitter(emit_event, self.faults)
        self._lock = threading.RLock()
        self._jobs: dict[tuple[str, str], JobRecord] = {}
        self._models: dict[str, Response] = {}
        self._endpoint_configs: dict[str, Response] = {}
        self._endpoints: dict[str, _Endpoint] = {}
        self._tags: dict[str, list[Mapping[str, str]]] = {}
        self._threads: set[threading.Thread] = set()
        self._closing = threading.Event()
        self._shared_s3: Any = None
        self._s3_lock = threading.Lock()
        self._random = random.Random(0)
        # Event dispatch: enqueued under the lock (so in state-change order), delivered by one thread.
        self._events: queue.SimpleQueue[tuple[str, dict[str, Any], list[str]] | None] = queue.SimpleQueue()
        self._events_enqueued = 0
        self._events_done = 0
        self._events_cond = threading.Condition()
        self._dispatcher: threading.Thread | None = None

    # ==============================================================================================
    # Lifecycle and helpers for callers
    # ==============================================================================================

    def __enter__(self) -> LocalSageMaker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every running job (training processes are killed), wait for the job threads, unload the
        endpoints' models and deliver the pending events. Idempotent."""
        self._closing.set()
        with self._lock:
            for job in self._jobs.values():
                job.stop_event.set()
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            retired = [variant for endpoint in self._endpoints.values() for variant in endpoint.variants]
            for endpoint in self._endpoints.values():
                endpoint.variants = ()
        for variant in retired:
            variant.loaded.unload()
        self.flush_events(max(0.0, deadline - time.monotonic()))
        dispatcher = self._dispatcher
        if dispatcher is not None:
            self._events.put(None)
            dispatcher.join(max(0.1, deadline - time.monotonic()))

    def flush_events(self, timeout: float = 10.0) -> bool:
        """Wait until every event emitted so far was handed to ``emit_event``; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._events_cond:
            while self._events_done < self._events_enqueued:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._events_cond.wait(remaining)
        return True

    def wait_for_job(self, kind: JobType, name: str, timeout: float = 120.0) -> Response:
        """Poll a job until it is Completed, Failed or Stopped; returns its Describe* response.

        Raises ``TimeoutError`` with the last status if it does not end in time.
        """
        status_key = _JOB_KEYS[kind][2]
        deadline = time.monotonic() + timeout
        while True:
            # Read the state directly: a helper must not consume faults (throttling) meant for API callers.
            with self._lock:
                response = self._render_job(self._job(kind, name))
            if response[status_key] in ("Completed", "Failed", "Stopped"):
                return response
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{kind} job {name} is still {response[status_key]} after {timeout} s")
            time.sleep(POLL_SECONDS)

    def wait_for_endpoint(self, name: str, timeout: float = 60.0) -> Response:
        """Poll an endpoint until it is neither Creating, Updating nor RollingBack; returns DescribeEndpoint."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                response = self._render_endpoint(self._endpoint(name))
            if response["EndpointStatus"] not in ENDPOINT_BUSY:
                return response
            if time.monotonic() >= deadline:
                raise TimeoutError(f"endpoint {name} is still {response['EndpointStatus']} after {timeout} s")
            time.sleep(POLL_SECONDS)

    def training_log(self, name: str) -> Path:
        """The log file (stdout and stderr) of a training job's process."""
        with self._lock:
            job = self._job("training", name)
            return Path(job.work_dir) / "logs" / "algo-1.log"

    # ==============================================================================================
    # Plumbing
    # ==============================================================================================

    def _role_s3(self, role_arn: Any) -> Any:
        # The client a job or model acts with: its role's when roles are enforced, else the shared factory's.
        if self._s3_for_role is not None and role_arn:
            return self._s3_for_role(str(role_arn))
        return self._s3_factory()

    def _s3(self) -> Any:
        # One shared client for the backend's own short calls (boto3 clients are thread-safe).
        with self._s3_lock:
            if self._shared_s3 is None:
                self._shared_s3 = self._s3_factory()
            return self._shared_s3

    def _arn(self, resource_type: str, name: str) -> str:
        # SageMaker lower-cases resource names in ARNs.
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{resource_type}/{name.lower()}"

    def _begin(self, operation: str, request: Mapping[str, Any]) -> Request:
        if self._closing.is_set() and operation.startswith(("Create", "Update")):
            raise SageMakerServiceError(
                "ServiceUnavailable", "the local SageMaker has been shut down", status_code=503
            )
        if self.faults.take_throttle(operation):
            raise throttled(operation)
        validate_request(operation, request, constraints=self.strict_validation)
        return copy.deepcopy(dict(request))

    @staticmethod
    def _echo(operation: str, request: Mapping[str, Any]) -> Response:
        # Describe* responses repeat the creation request's fields that the output shape declares.
        output = service_model().operation_model(operation).output_shape
        members = output.members if output is not None else {}
        return {key: copy.deepcopy(value) for key, value in request.items() if key in members}

    def _start_thread(self, name: str, target: Callable[[], None]) -> None:
        def run() -> None:
            try:
                target()
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _start_job(self, job: JobRecord, make_runner: Callable[[JobHandle], Any]) -> None:
        handle = JobHandle(job, self._update_job)

        def run() -> None:
            try:
                runner = make_runner(handle)
            except Exception as error:  # e.g. the S3 client factory failed: the job must still end
                LOG.exception("could not start %s job %s", job.kind, job.name)
                handle.fail(f"InternalServerError: local SageMaker could not start the job: {error}")
                return
            runner.run()

        self._start_thread(f"{job.kind}-{job.name}", run)

    def _job_dir(self, kind: str, name: str) -> Path:
        parent = self.work_dir / kind
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))

    # -- events -----------------------------------------------------------------------------------

    def _enqueue_event(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        with self._events_cond:
            self._events_enqueued += 1
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(
                    target=self._dispatch_events, name="sagemaker-events", daemon=True
                )
                self._dispatcher.start()
        self._events.put((detail_type, detail, resources))

    def _dispatch_events(self) -> None:
        while True:
            item = self._events.get()
            if item is None:
                return
            try:
                self._emitter.emit(*item)
            finally:
                with self._events_cond:
                    self._events_done += 1
                    self._events_cond.notify_all()

    def _emit_job(self, job: JobRecord) -> None:
        detail = event_detail(self._render_job(job), self._tags.get(job.arn))
        self._enqueue_event(_JOB_EVENTS[job.kind], detail, [job.arn])

    def _emit_endpoint(self, endpoint: _Endpoint) -> None:
        describe = self._render_endpoint(endpoint)
        detail = event_detail(describe, self._tags.get(endpoint.arn))
        detail["EndpointStatus"] = event_status(describe["EndpointStatus"])
        self._enqueue_event(ENDPOINT_STATE_CHANGE, detail, [endpoint.arn])

    # -- tags -------------------------------------------------------------------------------------

    def _store_tags(self, arn: str, tags: Iterable[Mapping[str, str]] | None) -> None:
        merged = {tag["Key"]: tag.get("Value", "") for tag in self._tags.get(arn, [])}
        merged.update({tag["Key"]: tag.get("Value", "") for tag in tags or []})
        self._tags[arn] = [{"Key": key, "Value": value} for key, value in merged.items()]

    # ==============================================================================================
    # Jobs (training, transform, labeling)
    # ==============================================================================================

    def _update_job(
        self,
        job: JobRecord,
        *,
        status: str | None = None,
        secondary: str | None = None,
        message: str | None = None,
        failure_reason: str | None = None,
        outputs: Mapping[str, Any] | None = None,
    ) -> None:
        with self._lock:
            if job.terminal:
                return  # a finished job never changes again (e.g. a late report after a stop)
            now = utcnow()
            changed = False
            if status is not None and status != job.status:
                job.status = status
                changed = True
            if secondary is not None and secondary != job.secondary:
                if job.transitions:
                    job.transitions[-1].setdefault("EndTime", now)
                transition: dict[str, Any] = {"Status": secondary, "StartTime": now}
                if message:
                    transition["StatusMessage"] = message
                job.transitions.append(transition)
                job.secondary = secondary
                changed = True
            if failure_reason is not None:
                job.failure_reason = failure_reason
            if outputs:
                job.outputs.update(copy.deepcopy(dict(outputs)))
            job.last_modified = now
            if job.terminal:
                job.ended = now
                if job.transitions:
                    job.transitions[-1].setdefault("EndTime", now)
            if changed:
                self._emit_job(job)

    def _new_job(
        self,
        kind: JobType,
        operation: str,
        request: Mapping[str, Any],
        status: str,
        check: Callable[[Request], None] | None = None,
    ) -> JobRecord:
        name_key, _, _, arn_type = _JOB_KEYS[kind]
        request = self._begin(operation, request)
        if check is not None:
            check(request)
        name = request[name_key]
        arn = self._arn(arn_type, name)
        if (kind, name) in self._jobs:
            raise SageMakerServiceError(
                "ResourceInUse",
                f"{kind.capitalize()} job names must be unique within an AWS account and region, and a "
                f"{kind} job with this name already exists ({arn})",
            )
        now = utcnow()
        job = JobRecord(kind, name, arn, request, now, status, now)
        self._jobs[(kind, name)] = job
        self._store_tags(arn, request.get("Tags"))
        return job

    def _job(self, kind: str, name: str) -> JobRecord:
        job = self._jobs.get((kind, name))
        if job is None:
            raise not_found(f"Requested resource not found: {kind} job {name}")
        return job

    def _describe_job(self, kind: JobType, request: Mapping[str, Any]) -> Response:
        with self._lock:
            request = self._begin(_DESCRIBE_OPS[kind], request)
            return self._render_job(self._job(kind, request[_JOB_KEYS[kind][0]]))

    def _stop_job(self, kind: JobType, operation: str, request: Mapping[str, Any]) -> Response:
        with self._lock:
            request = self._begin(operation, request)
            job = self._job(kind, request[_JOB_KEYS[kind][0]])
            if job.terminal or job.status == "Stopping":
                raise validation_error(
                    f"The request was rejected because the {kind} job {job.name} is in status {job.status}."
                )
            self._update_job(
                job,
                status="Stopping",
                secondary="Stopping" if kind == "training" else None,
                message=STATUS_MESSAGES["Stopping"] if kind == "training" else None,
            )
            job.stop_event.set()
        return {}

    def _render_job(self, job: JobRecord) -> Response:
        name_key, arn_key, status_key, _ = _JOB_KEYS[job.kind]
        response = self._echo(_DESCRIBE_OPS[job.kind], job.request)
        response.update(
            {name_key: job.name, arn_key: job.arn, status_key: job.status, "CreationTime": job.created}
        )
        if job.failure_reason and job.status in ("Failed", "Stopped"):
            response["FailureReason"] = job.failure_reason
        if job.kind == "training":
            self._render_training(job, response)
        elif job.kind == "transform":
            if job.ended is not None:
                response["TransformEndTime"] = job.ended
        else:
            response["LastModifiedTime"] = job.last_modified
            response["JobReferenceCode"] = uuid.uuid5(uuid.NAMESPACE_URL, job.arn).hex
            response.setdefault(
                "LabelCounters",
                {
                    "TotalLabeled": 0,
                    "HumanLabeled": 0,
                    "MachineLabeled": 0,
                    "FailedNonRetryableError": 0,
                    "Unlabeled": 0,
                },
            )
        response.update(copy.deepcopy(job.outputs))
        # Only fields of the Describe* output shape travel (the moto serializer would drop others anyway).
        output = service_model().operation_model(_DESCRIBE_OPS[job.kind]).output_shape
        members = output.members if output is not None else {}
        return {key: value for key, value in response.items() if key in members}

    def _render_training(self, job: JobRecord, response: Response) -> None:
        request = job.request
        response.update(
            {
                "SecondaryStatus": job.secondary or "Starting",
                "SecondaryStatusTransitions": copy.deepcopy(job.transitions),
                "LastModifiedTime": job.last_modified,
                "EnableNetworkIsolation": request.get("EnableNetworkIsolation", False),
                "EnableInterContainerTrafficEncryption": request.get(
                    "EnableInterContainerTrafficEncryption", False
                ),
                "EnableManagedSpotTraining": request.get("EnableManagedSpotTraining", False),
            }
        )
        spec = response.get("AlgorithmSpecification")
        if isinstance(spec, dict) and "MetricDefinitions" not in spec:
            # SageMaker reports the built-in algorithm's metric definitions in DescribeTrainingJob.
            try:
                algorithm = resolve_image(str(spec.get("TrainingImage", "")), self.algorithms)
                if algorithm.metric_definitions:
                    spec["MetricDefinitions"] = [dict(d) for d in algorithm.metric_definitions]
            except UnsupportedImage:
                pass
        if job.ended is not None:
            started = job.outputs.get("TrainingStartTime", job.created)
            seconds = max(1, round((job.ended - started).total_seconds()))
            response.update(
                {
                    "TrainingEndTime": job.ended,
                    "TrainingTimeInSeconds": seconds,
                    "BillableTimeInSeconds": seconds,
                }
            )

    # -- training ---------------------------------------------------------------------------------

    def create_training_job(self, request: Request) -> Response:
        """CreateTrainingJob: runs the algorithm's local training module (see :mod:`.training_job`)."""
        _refuse_volume_key_on_instance_storage(request.get("ResourceConfig"), "VolumeKmsKeyId")
        with self._lock:
            job = self._new_job("training", "CreateTrainingJob", request, "InProgress")
            job.work_dir = self._job_dir("training", job.name)
            self._update_job(job, secondary="Starting", message=STATUS_MESSAGES["Starting"])
            work_dir = Path(job.work_dir)
            self._start_job(
                job,
                lambda handle: TrainingRun(
                    handle,
                    self._role_s3(job.request.get("RoleArn")),
                    work_dir,
                    self.algorithms,
                    self.faults,
                    python=self.python,
                    stop_grace_seconds=self.stop_grace_seconds,
                    keep_input_data=self.keep_input_data,
                    logs=self._logs_factory() if self._logs_factory else None,
                    threads=self.algorithm_threads,
                ),
            )
            return {"TrainingJobArn": job.arn}

    def describe_training_job(self, request: Request) -> Response:
        """DescribeTrainingJob (SecondaryStatus, transitions, ModelArtifacts, FinalMetricDataList ...)."""
        return self._describe_job("training", request)

    def stop_training_job(self, request: Request) -> Response:
        """StopTrainingJob: Stopping, then Stopped once the process is gone."""
        return self._stop_job("training", "StopTrainingJob", request)

    # -- transform --------------------------------------------------------------------------------

    def create_transform_job(self, request: Request) -> Response:
        """CreateTransformJob: the model must exist; runs its handlers over every input object."""
        _refuse_volume_key_on_instance_storage(request.get("TransformResources"), "VolumeKmsKeyId")
        with self._lock:
            job = self._new_job(
                "transform",
                "CreateTransformJob",
                request,
                "InProgress",
                check=self._check_transform_model,
            )
            self._emit_job(job)
            model = copy.deepcopy(self._models[job.request["ModelName"]])
            job_dir = self._job_dir("transform", job.name)
            self._start_job(
                job,
                lambda handle: TransformRun(
                    handle,
                    model,
                    self._role_s3(model.get("ExecutionRoleArn")),
                    job_dir,
                    self.algorithms,
                    self.faults,
                ),
            )
            return {"TransformJobArn": job.arn}

    def _check_transform_model(self, request: Request) -> None:
        self._require_model(request["ModelName"])

    def describe_transform_job(self, request: Request) -> Response:
        """DescribeTransformJob."""
        return self._describe_job("transform", request)

    def stop_transform_job(self, request: Request) -> Response:
        """StopTransformJob."""
        return self._stop_job("transform", "StopTransformJob", request)

    # -- labeling ---------------------------------------------------------------------------------

    def create_labeling_job(self, request: Request) -> Response:
        """CreateLabelingJob: the simulated workforce labels it (see :mod:`.labeling_job`)."""
        with self._lock:
            job = self._new_job("labeling", "CreateLabelingJob", request, "Initializing")
            self._emit_job(job)
            workforce = self.workforce
            self._start_job(
                job,
                lambda handle: LabelingRun(
                    handle,
                    self._role_s3(job.request.get("RoleArn")),
                    workforce,
                    self.faults,
                    region=self.region,
                    models=self,
                ),
            )
            return {"LabelingJobArn": job.arn}

    def describe_labeling_job(self, request: Request) -> Response:
        """DescribeLabelingJob (LabelCounters, LabelingJobOutput.OutputDatasetS3Uri when Completed)."""
        return self._describe_job("labeling", request)

    def stop_labeling_job(self, request: Request) -> Response:
        """StopLabelingJob."""
        return self._stop_job("labeling", "StopLabelingJob", request)

    # ==============================================================================================
    # Models and endpoint configs
    # ==============================================================================================

    def create_model(self, request: Request) -> Response:
        """CreateModel: the container's ``ModelDataUrl`` must exist in S3."""
        with self._lock:
            request = self._begin("CreateModel", request)
            name = request["ModelName"]
            arn = self._arn("model", name)
            if name in self._models:
                raise validation_error(f'Cannot create already existing model "{arn}".')
        try:
            container = primary_container(request)
        except ModelLoadError as error:
            raise validation_error(str(error)) from None
        url = container.get("ModelDataUrl")
        if url:
            try:
                exists = object_exists(self._role_s3(request.get("ExecutionRoleArn")), S3Uri.parse(str(url)))
            except (ValueError, ClientError, BotoCoreError) as error:
                raise validation_error(f"Could not access model data at {url}: {error}") from None
            if not exists:
                raise validation_error(f"Could not find model data at {url}.")
        with self._lock:
            if name in self._models:
                raise validation_error(f'Cannot create already existing model "{arn}".')
            self._models[name] = {
                **self._echo("DescribeModel", request),
                "ModelArn": arn,
                "CreationTime": utcnow(),
            }
            self._store_tags(arn, request.get("Tags"))
            return {"ModelArn": arn}

    def _require_model(self, name: str) -> Response:
        model = self._models.get(name)
        if model is None:
            raise validation_error(f'Could not find model "{self._arn("model", name)}".')
        return model

    def describe_model(self, request: Request) -> Response:
        """DescribeModel."""
        with self._lock:
            request = self._begin("DescribeModel", request)
            return copy.deepcopy(self._require_model(request["ModelName"]))

    def delete_model(self, request: Request) -> Response:
        """DeleteModel."""
        with self._lock:
            request = self._begin("DeleteModel", request)
            self._require_model(request["ModelName"])
            del self._models[request["ModelName"]]
            return {}

    def create_endpoint_config(self, request: Request) -> Response:
        """CreateEndpointConfig: every production variant's model must exist."""
        for variant in request.get("ProductionVariants") or []:
            if isinstance(variant, dict):
                _refuse_volume_key_on_instance_storage(
                    {"InstanceType": variant.get("InstanceType"), "KmsKeyId": request.get("KmsKeyId")},
                    "KmsKeyId",
                )
        with self._lock:
            request = self._begin("CreateEndpointConfig", request)
            name = request["EndpointConfigName"]
            arn = self._arn("endpoint-config", name)
            if name in self._endpoint_configs:
                raise validation_error(f'Cannot create already existing endpoint configuration "{arn}".')
            for variant in request.get("ProductionVariants", []):
                if variant.get("ModelName"):
                    self._require_model(variant["ModelName"])
            self._endpoint_configs[name] = {
                **self._echo("DescribeEndpointConfig", request),
                "EndpointConfigArn": arn,
                "CreationTime": utcnow(),
            }
            self._store_tags(arn, request.get("Tags"))
            return {"EndpointConfigArn": arn}

    def _require_config(self, name: str) -> Response:
        config = self._endpoint_configs.get(name)
        if config is None:
            raise validation_error(
                f'Could not find endpoint configuration "{self._arn("endpoint-config", name)}".'
            )
        return config

    def describe_endpoint_config(self, request: Request) -> Response:
        """DescribeEndpointConfig."""
        with self._lock:
            request = self._begin("DescribeEndpointConfig", request)
            return copy.deepcopy(self._require_config(request["EndpointConfigName"]))

    def delete_endpoint_config(self, request: Request) -> Response:
        """DeleteEndpointConfig."""
        with self._lock:
            request = self._begin("DeleteEndpointConfig", request)
            self._require_config(request["EndpointConfigName"])
            del self._endpoint_configs[request["EndpointConfigName"]]
            return {}

    # -- tags -------------------------------------------------------------------------------------

    def list_tags(self, request: Request) -> Response:
        """ListTags of any resource ARN created here."""
        with self._lock:
            request = self._begin("ListTags", request)
            return {"Tags": copy.deepcopy(self._tags.get(request["ResourceArn"], []))}

    def add_tags(self, request: Request) -> Response:
        """AddTags (keys are replaced)."""
        with self._lock:
            request = self._begin("AddTags", request)
            self._store_tags(request["ResourceArn"], request.get("Tags"))
            return {"Tags": copy.deepcopy(self._tags[request["ResourceArn"]])}

    def delete_tags(self, request: Request) -> Response:
        """DeleteTags."""
        with self._lock:
            request = self._begin("DeleteTags", request)
            keys = set(request.get("TagKeys", []))
            arn = request["ResourceArn"]
            self._tags[arn] = [tag for tag in self._tags.get(arn, []) if tag["Key"] not in keys]
            return {}

    # ==============================================================================================
    # Endpoints
    # ==============================================================================================

    def _endpoint(self, name: str) -> _Endpoint:
        endpoint = self._endpoints.get(name)
        if endpoint is None or endpoint.deleted:
            raise validation_error(f'Could not find endpoint "{self._arn("endpoint", name)}".')
        return endpoint

    def _render_endpoint(self, endpoint: _Endpoint) -> Response:
        response: Response = {
            "EndpointName": endpoint.name,
            "EndpointArn": endpoint.arn,
            "EndpointConfigName": endpoint.config_name or endpoint.pending_config,
            "EndpointStatus": endpoint.status,
            "CreationTime": endpoint.created,
            "LastModifiedTime": endpoint.last_modified,
        }
        if endpoint.variants:
            response["ProductionVariants"] = [
                {
                    "VariantName": variant.name,
                    "DeployedImages": [
                        {
                            "SpecifiedImage": variant.image,
                            "ResolvedImage": variant.image,
                            "ResolutionTime": endpoint.created,
                        }
                    ],
                    "CurrentWeight": variant.weight,
                    "DesiredWeight": variant.weight,
                    "CurrentInstanceCount": variant.instance_count,
                    "DesiredInstanceCount": variant.instance_count,
                }
                for variant in endpoint.variants
            ]
        if endpoint.failure_reason:
            response["FailureReason"] = endpoint.failure_reason
        if endpoint.last_deployment_config:
            response["LastDeploymentConfig"] = copy.deepcopy(endpoint.last_deployment_config)
        return response

    def _set_endpoint(self, endpoint: _Endpoint, status: str, **changes: Any) -> None:
        # Caller holds self._lock.
        for key, value in changes.items():
            setattr(endpoint, key, value)
        endpoint.status = status
        endpoint.last_modified = utcnow()
        self._emit_endpoint(endpoint)

    def create_endpoint(self, request: Request) -> Response:
        """CreateEndpoint: Creating, then InService once every variant's model is loaded (or Failed)."""
        with self._lock:
            request = self._begin("CreateEndpoint", request)
            name = request["EndpointName"]
            arn = self._arn("endpoint", name)
            existing = self._endpoints.get(name)
            if existing is not None and not existing.deleted:
                raise validation_error(f'Cannot create already existing endpoint "{arn}".')
            config = copy.deepcopy(self._require_config(request["EndpointConfigName"]))
            now = utcnow()
            endpoint = _Endpoint(
                name, arn, now, "Creating", now, pending_config=request["EndpointConfigName"]
            )
            self._endpoints[name] = endpoint
            self._store_tags(arn, request.get("Tags"))
            self._emit_endpoint(endpoint)
            self._start_deployment(endpoint, config, update=False, deployment_config=None)
            return {"EndpointArn": arn}

    def update_endpoint(self, request: Request) -> Response:
        """UpdateEndpoint: blue/green. The old variants keep serving while the new config loads, then
        traffic swaps. If the new models fail to load the endpoint rolls back: InService on the OLD
        config with a FailureReason (``RollingBack`` first when ``AutoRollbackConfiguration`` is set)."""
        with self._lock:
            request = self._begin("UpdateEndpoint", request)
            endpoint = self._endpoint(request["EndpointName"])
            if endpoint.status == "Failed":
                raise validation_error(f'Cannot update failed endpoint "{endpoint.arn}".')
            if endpoint.status != "InService":
                raise validation_error(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            config = copy.deepcopy(self._require_config(request["EndpointConfigName"]))
            deployment = copy.deepcopy(request.get("DeploymentConfig"))
            self._set_endpoint(
                endpoint,
                "Updating",
                pending_config=request["EndpointConfigName"],
                last_deployment_config=deployment,
            )
            self._start_deployment(endpoint, config, update=True, deployment_config=deployment)
            return {"EndpointArn": endpoint.arn}

    def describe_endpoint(self, request: Request) -> Response:
        """DescribeEndpoint (EndpointConfigName is the config being served; during creation the new one)."""
        with self._lock:
            request = self._begin("DescribeEndpoint", request)
            return self._render_endpoint(self._endpoint(request["EndpointName"]))

    def delete_endpoint(self, request: Request) -> Response:
        """DeleteEndpoint: the endpoint disappears at once (its models are unloaded)."""
        with self._lock:
            request = self._begin("DeleteEndpoint", request)
            endpoint = self._endpoint(request["EndpointName"])
            endpoint.generation += 1  # a deployment still loading finds itself stale
            variants = endpoint.variants
            self._set_endpoint(endpoint, "Deleting", variants=(), deleted=True)
            del self._endpoints[endpoint.name]
        for variant in variants:
            variant.loaded.unload()
        return {}

    def _start_deployment(
        self, endpoint: _Endpoint, config: Mapping[str, Any], *, update: bool, deployment_config: Any
    ) -> None:
        endpoint.generation += 1
        generation = endpoint.generation
        models = {
            variant["ModelName"]: copy.deepcopy(self._require_model(variant["ModelName"]))
            for variant in config.get("ProductionVariants", [])
        }

        def run() -> None:
            self._deploy(
                endpoint, generation, config, models, update=update, deployment_config=deployment_config
            )

        self._start_thread(f"endpoint-{endpoint.name}-{generation}", run)

    def _stale(self, endpoint: _Endpoint, generation: int) -> bool:
        return endpoint.deleted or endpoint.generation != generation or self._closing.is_set()

    def _deploy(
        self,
        endpoint: _Endpoint,
        generation: int,
        config: Mapping[str, Any],
        models: Mapping[str, Mapping[str, Any]],
        *,
        update: bool,
        deployment_config: Any,
    ) -> None:
        loaded: list[_Variant] = []
        failure: str | None = None
        injected = self.faults.take_failure("endpoint")
        while self.faults.endpoint_stuck(endpoint.name) and not self._stale(endpoint, generation):
            time.sleep(POLL_SECONDS)
        variant_name = "AllTraffic"
        try:
            if injected is not None:
                for variant in config.get("ProductionVariants", [])[:1]:
                    variant_name = variant["VariantName"]
                raise ModelLoadError(injected)
            folder = self.work_dir / "endpoints" / endpoint.name
            for variant in config.get("ProductionVariants", []):
                variant_name = variant["VariantName"]
                if self._stale(endpoint, generation):
                    break
                model = models[variant["ModelName"]]
                s3 = self._role_s3(model.get("ExecutionRoleArn"))
                loaded_model = load_model(model, s3, folder, self.algorithms)
                loaded.append(
                    _Variant(
                        variant_name,
                        float(variant.get("InitialVariantWeight", 1.0)),
                        int(variant.get("InitialInstanceCount", 1)),
                        str(primary_container(model).get("Image", "")),
                        loaded_model,
                    )
                )
        except ModelLoadError as error:
            failure = (
                f"The primary container for production variant {variant_name} did not pass the ping health "
                f"check: {error}"
            )
        except Exception as error:  # a bug must not leave the endpoint Creating forever
            LOG.exception("deployment of endpoint %s crashed", endpoint.name)
            failure = f"InternalServerError: local SageMaker error: {type(error).__name__}: {error}"
        retired: tuple[_Variant, ...] = ()
        with self._lock:
            if self._stale(endpoint, generation):
                retired = tuple(loaded)
            elif failure is None:
                retired = endpoint.variants
                self._set_endpoint(
                    endpoint,
                    "InService",
                    variants=tuple(loaded),
                    config_name=endpoint.pending_config,
                    pending_config=None,
                    failure_reason=None,
                )
            elif update:
                retired = tuple(loaded)
                if isinstance(deployment_config, Mapping) and deployment_config.get(
                    "AutoRollbackConfiguration"
                ):
                    self._set_endpoint(endpoint, "RollingBack", failure_reason=failure)
                self._set_endpoint(endpoint, "InService", pending_config=None, failure_reason=failure)
            else:
                retired = tuple(loaded)
                self._set_endpoint(endpoint, "Failed", failure_reason=failure)
        for variant in retired:
            variant.loaded.unload()

    # -- runtime ----------------------------------------------------------------------------------

    def invoke_endpoint_detailed(
        self,
        name: str,
        body: bytes,
        content_type: str | None = None,
        accept: str | None = None,
        *,
        target_variant: str | None = None,
    ) -> Invocation:
        """InvokeEndpoint with the serving variant's name (see :meth:`invoke_endpoint`)."""
        with self._lock:
            endpoint = self._endpoints.get(name)
            variants = endpoint.variants if endpoint is not None and not endpoint.deleted else ()
            status = endpoint.status if endpoint is not None else None
        if endpoint is None:
            raise runtime_validation_error(f"Endpoint {name} of account {self.account_id} not found.")
        if not variants:
            raise runtime_validation_error(
                f"Endpoint {name} of account {self.account_id} is {status} and has no model serving requests."
            )
        if target_variant is not None:
            chosen = next((v for v in variants if v.name == target_variant), None)
            if chosen is None:
                raise runtime_validation_error(
                    f"Variant {target_variant} not found for endpoint {name} of account {self.account_id}."
                )
        elif len(variants) == 1:
            chosen = variants[0]
        else:
            chosen = self._random.choices(variants, weights=[max(v.weight, 0.0) for v in variants])[0]
        data, response_type = chosen.loaded.predict(bytes(body), content_type, accept)
        return Invocation(data, response_type, chosen.name)

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> tuple[bytes, str]:
        """sagemaker-runtime InvokeEndpoint: ``(response body, content type)``.

        Raises :class:`~local.sagemaker.errors.ModelError` (HTTP 424, ``OriginalStatusCode`` from the
        handlers) when the model rejects or fails the request, and ``SageMakerServiceError`` with code
        ``ValidationError`` (the runtime API's name) for an unknown or not-yet-serving endpoint.
        """
        invocation = self.invoke_endpoint_detailed(name, body, content_type, accept)
        return invocation.body, invocation.content_type
