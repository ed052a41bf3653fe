"""Job runners: the pluggable strategy that decides how a local SageMaker's long-running jobs end.

:class:`~local.sagemaker.LocalSageMaker` tracks each labeling, training, transform or endpoint-deployment
request as a :class:`Job` (:class:`~local.sagemaker.jobs.JobRecord`) and asks its :class:`JobRunner` to
check a model's artifacts (CreateModel), start a job, poll it (on every Describe*) and stop it.
:class:`LocalJobRunner`, the default, runs each job's real work in a background thread (training in a
subprocess, endpoints load their models) and the work reports its own progress.
:class:`ScriptedJobRunner` scripts those outcomes for tests (:func:`succeed`, :func:`fail`,
:func:`reject`, after a number of polls) and records every Create* it saw (``calls``); it touches no
files. Request validation and resource bookkeeping are the backend's, identical with either runner.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, Self

from botocore.exceptions import BotoCoreError, ClientError

from .api import Request
from .errors import SageMakerServiceError, validation_error
from .hosting import ModelLoadError, primary_container
from .jobs import JobKind, JobRecord
from .s3 import S3Uri, object_exists

Job = JobRecord
"""What a runner is given: the backend's record of the job (read it; the backend owns it)."""

JobStatus = Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped"]
"""Generic job status; the backend maps it to each API's own status values."""


@dataclass(frozen=True)
class JobState:
    """What a runner reports for a job: its status, the failure reason if Failed, and extra Describe*
    fields (merged over the backend's defaults, e.g. ``{"ModelArtifacts": {...}}`` or
    ``{"LabelCounters": {...}}``)."""

    status: JobStatus
    failure_reason: str | None = None
    outputs: Mapping[str, Any] | None = None


class JobRunner(Protocol):
    """Decides what happens to the jobs of a :class:`~local.sagemaker.LocalSageMaker`."""

    def check_model(self, request: Request) -> None:
        """CreateModel passed validation: check the model's artifacts (raise
        :class:`SageMakerServiceError` to refuse it). Called without the backend's lock."""

    def start(self, job: Job) -> None:
        """A Create* (or Create/UpdateEndpoint) request was validated. Start the work, or raise
        :class:`SageMakerServiceError` to reject the request (the resource is then not created)."""

    def poll(self, job: Job) -> JobState | None:
        """Report the state of a job that is not terminal yet (called on every Describe*); None when the
        job reports its own progress."""
        ...

    def stop(self, job: Job) -> None:
        """Stop* was called: stop the work; the job ends ``Stopped``."""


class LocalJobRunner:
    """The default runner: real work on this machine.

    ``start`` runs ``job.work`` (set by the backend: the training subprocess, the transform, the
    simulated workforce, the endpoint's model loading) in a background thread started with
    ``start_thread(name, target)``; the work reports its progress itself, so ``poll`` returns None.
    ``check_model`` requires the container's ``ModelDataUrl`` to exist in S3, read with
    ``role_s3(ExecutionRoleArn)``.
    """

    def __init__(
        self, start_thread: Callable[[str, Callable[[], None]], None], role_s3: Callable[[Any], Any]
    ) -> None:
        self._start_thread = start_thread
        self._role_s3 = role_s3

    def check_model(self, request: Request) -> None:
        """Refuse a model whose ``ModelDataUrl`` is missing or unreadable (``ValidationException``)."""
        try:
            url = primary_container(request).get("ModelDataUrl")
        except ModelLoadError as error:
            raise validation_error(str(error)) from None
        if not url:
            return
        try:
            exists = object_exists(self._role_s3(request.get("ExecutionRoleArn")), S3Uri.parse(str(url)))
        except (ValueError, ClientError, BotoCoreError) as error:
            raise validation_error(f"Could not access model data at {url}: {error}") from None
        if not exists:
            raise validation_error(f"Could not find model data at {url}.")

    def start(self, job: Job) -> None:
        """Run ``job.work`` in a background thread."""
        if job.work is not None:
            self._start_thread(f"{job.kind}-{job.name}", job.work)

    def poll(self, job: Job) -> JobState | None:
        """None: the work updates the record itself."""
        return None

    def stop(self, job: Job) -> None:
        """Signal the work (it ends the job ``Stopped``)."""
        job.stop_event.set()


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

    def check_model(self, request: Request) -> None:
        """Nothing to check: scripted jobs read no artifacts."""

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
        """Make the next poll report ``Stopped`` (``job.stop_event`` is set too, as for real work)."""
        job.stop_event.set()
        with self._lock:
            self._stopped.add((job.kind, job.name))
