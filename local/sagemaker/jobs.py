"""Job records shared by the backend and the job runners (training, transform, labeling).

A runner executes in its own thread and reports progress only through its :class:`JobHandle`; the
backend owns the record, renders Describe* responses from it and emits a state-change event whenever
the status (or a training job's secondary status) changes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

JobType = Literal["training", "transform", "labeling"]
"""The job APIs (Create/Describe/Stop*Job)."""

JobKind = Literal["training", "transform", "labeling", "endpoint"]
"""The long-running resources whose outcome a :class:`~local.sagemaker.runners.JobRunner` decides: the
jobs, and endpoint deployments (CreateEndpoint, UpdateEndpoint)."""

TERMINAL: frozenset[str] = frozenset({"Completed", "Failed", "Stopped"})


def utcnow() -> dt.datetime:
    """Timezone-aware now (UTC)."""
    return dt.datetime.now(dt.UTC)


@dataclass
class JobRecord:
    """The backend's view of one job (or endpoint deployment). Mutated only under the backend's lock.

    Runners read it: ``request`` is the validated Create* (or UpdateEndpoint) request; ``polls`` counts
    the Describe* calls made while the job was not terminal (the backend increments it before asking
    the runner); ``work`` is what the local runner runs in a background thread.
    """

    kind: JobKind
    name: str
    arn: str
    request: dict[str, Any]
    created: dt.datetime
    status: str
    last_modified: dt.datetime
    failure_reason: str | None = None
    secondary: str | None = None
    transitions: list[dict[str, Any]] = field(default_factory=list)
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    stop_event: threading.Event = field(default_factory=threading.Event)
    work_dir: Any = None
    polls: int = 0
    work: Callable[[], None] | None = None

    @property
    def terminal(self) -> bool:
        """Whether the job reached Completed, Failed or Stopped."""
        return self.status in TERMINAL


class JobEnded(Exception):
    """Raised inside a runner to unwind once the job has been finished (stopped, failed)."""


Updater = Callable[..., None]


class JobHandle:
    """A runner's handle on its job: read the request, report progress, notice stop requests."""

    def __init__(self, record: JobRecord, updater: Updater) -> None:
        self._record = record
        self._updater = updater

    @property
    def name(self) -> str:
        """The job name."""
        return self._record.name

    @property
    def arn(self) -> str:
        """The job ARN."""
        return self._record.arn

    @property
    def request(self) -> dict[str, Any]:
        """The validated Create* request (do not mutate)."""
        return self._record.request

    @property
    def stop_event(self) -> threading.Event:
        """Set when Stop* was called or the backend shuts down."""
        return self._record.stop_event

    def update(
        self,
        *,
        status: str | None = None,
        secondary: str | None = None,
        message: str | None = None,
        failure_reason: str | None = None,
        **outputs: Any,
    ) -> None:
        """Change the status / secondary status and merge Describe* output fields (``outputs`` keys are
        the API's, e.g. ``ModelArtifacts``, ``LabelCounters``)."""
        self._updater(
            self._record,
            status=status,
            secondary=secondary,
            message=message,
            failure_reason=failure_reason,
            outputs=outputs,
        )

    def fail(self, reason: str, *, secondary: str = "Failed", **outputs: Any) -> JobEnded:
        """Finish the job as Failed with ``reason``; returns :class:`JobEnded` for the runner to raise."""
        self.update(status="Failed", secondary=secondary, failure_reason=reason[:1024], **outputs)
        return JobEnded(reason)

    def stopped(
        self, *, secondary: str = "Stopped", failure_reason: str | None = None, **outputs: Any
    ) -> JobEnded:
        """Finish the job as Stopped; returns :class:`JobEnded` for the runner to raise."""
        self.update(status="Stopped", secondary=secondary, failure_reason=failure_reason, **outputs)
        return JobEnded("stopped")


def run_to_end(handle: JobHandle, kind: str, body: Callable[[], None]) -> None:
    """Run a job's body to a terminal state, never raising.

    ``JobEnded`` means the body already set the terminal status (stopped or failed); anything else is a bug
    in the local implementation, which must still end the job, visibly, as SageMaker's internal errors do.
    """
    try:
        body()
    except JobEnded:
        pass
    except Exception as error:
        logging.getLogger(__name__).exception("%s job %s crashed", kind, handle.name)
        handle.fail(f"InternalServerError: local SageMaker error: {type(error).__name__}: {error}")
