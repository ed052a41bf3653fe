"""Job runners: the pluggable strategy that decides how a local SageMaker's long-running jobs end.

A backend tracks each labeling, training, transform or endpoint-deployment request as a :class:`Job`
and asks its :class:`JobRunner` to start it, poll it (on every Describe*) and stop it.
:class:`ScriptedJobRunner` scripts those outcomes for tests (:func:`succeed`, :func:`fail`,
:func:`reject`, after a number of polls) and records every Create* it saw (``calls``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Self

from .api import Request
from .errors import SageMakerServiceError

JobKind = Literal["labeling", "training", "transform", "endpoint"]
"""The long-running resources whose outcome a :class:`JobRunner` decides."""

JobStatus = Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped"]
"""Generic job status; the service maps it to each API's own status values."""

TERMINAL_STATUSES: frozenset[str] = frozenset({"Completed", "Failed", "Stopped"})


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
    """Decides what happens to jobs: the strategy behind :class:`~local.sagemaker.in_memory.InMemorySageMakerService`."""

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
