"""The state and plumbing shared by :class:`~local.sagemaker.LocalSageMaker`'s APIs.

:class:`SageMakerBackend` owns the resources (jobs, models, endpoint configs, endpoints, tags), the lock
that serialises API calls, the background threads and the ordered event dispatch; it answers the model,
endpoint-config and tag actions itself. The job actions are :class:`~local.sagemaker.jobs_api.JobsApi`'s,
the endpoint and runtime actions :class:`~local.sagemaker.endpoints.EndpointsApi`'s; ``LocalSageMaker``
combines the two.
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
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Self

from gtpipe_shared.aws_limits import volume_kms_key_problem

from .algorithm_process import DEFAULT_ALGORITHM_THREADS
from .algorithms import ALGORITHMS, Algorithm
from .api import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, Request, Response, service_model
from .errors import SageMakerServiceError, validation_error
from .events import (
    Emitter,
    EventSink,
)
from .faults import Faults
from .hosting import ModelLoadError, primary_container
from .jobs import JobKind, JobRecord, utcnow
from .runners import JobRunner, LocalJobRunner
from .validation import validate_request
from .workforce import WorkforceSettings

if TYPE_CHECKING:
    from .endpoints import EndpointRecord

LOG = logging.getLogger(__name__)

S3ClientFactory = Callable[[], Any]
POLL_SECONDS: Final = 0.05
"""How often the ``wait_for_*`` helpers and a stuck deployment look again."""
CALLS_KEPT: Final = 10_000
"""How many API calls :attr:`SageMakerBackend.calls` remembers (the oldest are forgotten)."""


def refuse_volume_key_on_instance_storage(resources: Any, field: str) -> None:
    """SageMaker's ValidationException for a volume key on an instance type with local NVMe storage
    (see :func:`gtpipe_shared.aws_limits.volume_kms_key_problem`); botocore does not check it."""
    if not isinstance(resources, dict):
        return
    problem = volume_kms_key_problem(resources.get("InstanceType"), resources.get(field), field)
    if problem:
        raise validation_error(problem)


class SageMakerBackend:
    """Resources, lock, threads and events of the local SageMaker (constructor: see ``LocalSageMaker``)."""

    def __init__(
        self,
        s3_client: S3ClientFactory | None = None,
        work_dir: str | Path | None = None,
        emit_event: EventSink | None = None,
        *,
        runner: JobRunner | None = None,
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
        client_for_role: Callable[[str, str], Any] | None = None,
    ) -> None:
        self._s3_factory = s3_client
        self._s3_for_role = s3_for_role
        self._client_for_role = client_for_role
        self.algorithm_threads = algorithm_threads
        self._logs_factory = logs_client
        self._work_dir = Path(work_dir) if work_dir is not None else None
        if self._work_dir is not None:
            self._work_dir.mkdir(parents=True, exist_ok=True)
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
        self._endpoints: dict[str, EndpointRecord] = {}
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
        self._calls: deque[tuple[str, Request]] = deque(maxlen=CALLS_KEPT)
        self.runner: JobRunner = (
            runner if runner is not None else LocalJobRunner(self._start_thread, self._role_s3)
        )

    @property
    def work_dir(self) -> Path:
        """Where jobs lay out their files (a fresh temporary folder when none was given)."""
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="local-sagemaker-"))
        return self._work_dir

    # ==============================================================================================
    # Test helpers
    # ==============================================================================================

    @property
    def calls(self) -> list[tuple[str, Request]]:
        """The API calls so far as ``(operation, request)``, oldest first (the last :data:`CALLS_KEPT`)."""
        with self._lock:
            return list(self._calls)

    def jobs(self, kind: JobKind) -> list[JobRecord]:
        """The accepted jobs of a kind (``endpoint``: deployments), in creation order."""
        with self._lock:
            return [job for (job_kind, _), job in self._jobs.items() if job_kind == kind]

    def inject_error(self, operation: str, code: str, message: str = "", *, times: int = 1) -> None:
        """Fail the next ``times`` calls of ``operation`` (``CreateModel``) with error ``code``
        (shorthand for ``faults.error_next``)."""
        self.faults.error_next(operation, code, message, times)

    # ==============================================================================================
    # Lifecycle
    # ==============================================================================================

    def __enter__(self) -> Self:
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
            variant.unload()
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

    # ==============================================================================================
    # Plumbing
    # ==============================================================================================

    def _s3_client(self) -> Any:
        if self._s3_factory is None:
            raise RuntimeError("this local SageMaker was created without an S3 client factory")
        return self._s3_factory()

    def _role_s3(self, role_arn: Any) -> Any:
        # The client a job or model acts with: its role's when roles are enforced, else the shared factory's.
        if self._s3_for_role is not None and role_arn:
            return self._s3_for_role(str(role_arn))
        return self._s3_client()

    def _role_client(self, service: str, role_arn: Any) -> Any:
        # Another service's client acting with a model's role (asynchronous inference publishes to SNS with
        # it); without a factory (unit tests under mock_aws) a plain client of the backend's region.
        if self._client_for_role is not None and role_arn:
            return self._client_for_role(service, str(role_arn))
        import boto3

        return boto3.session.Session().client(service, region_name=self.region)

    def _s3(self) -> Any:
        # One shared client for the backend's own short calls (boto3 clients are thread-safe).
        with self._s3_lock:
            if self._shared_s3 is None:
                self._shared_s3 = self._s3_client()
            return self._shared_s3

    def _arn(self, resource_type: str, name: str) -> str:
        # SageMaker lower-cases resource names in ARNs.
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{resource_type}/{name.lower()}"

    def _begin(self, operation: str, request: Mapping[str, Any]) -> Request:
        with self._lock:
            self._calls.append((operation, copy.deepcopy(dict(request))))
        if self._closing.is_set() and operation.startswith(("Create", "Update")):
            raise SageMakerServiceError(
                "ServiceUnavailable", "the local SageMaker has been shut down", status_code=503
            )
        injected = self.faults.take_error(operation)
        if injected is not None:
            raise injected
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

    # -- tags -------------------------------------------------------------------------------------

    def _store_tags(self, arn: str, tags: Iterable[Mapping[str, str]] | None) -> None:
        merged = {tag["Key"]: tag.get("Value", "") for tag in self._tags.get(arn, [])}
        merged.update({tag["Key"]: tag.get("Value", "") for tag in tags or []})
        self._tags[arn] = [{"Key": key, "Value": value} for key, value in merged.items()]

    # ==============================================================================================
    # Models, endpoint configs and tags
    # ==============================================================================================

    def create_model(self, request: Request) -> Response:
        """CreateModel: the runner checks the model's artifacts (the local runner: the container's
        ``ModelDataUrl`` must exist in S3)."""
        with self._lock:
            request = self._begin("CreateModel", request)
            name = request["ModelName"]
            arn = self._arn("model", name)
            if name in self._models:
                raise validation_error(f'Cannot create already existing model "{arn}".')
        try:
            primary_container(request)
        except ModelLoadError as error:
            raise validation_error(str(error)) from None
        self.runner.check_model(request)
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
                refuse_volume_key_on_instance_storage(
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
