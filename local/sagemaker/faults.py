"""Fault injection for reliability tests of the pipeline against the local SageMaker.

Every knob is one-shot or explicitly cleared, thread-safe, and consulted by :class:`LocalSageMaker` at
one well-defined point:

==========================================  ==============================================================
knob                                        effect
==========================================  ==============================================================
``fail_next(job_type, reason)``             the next ``training`` / ``transform`` / ``labeling`` job, or
                                            ``endpoint`` deployment (create or update), fails with
                                            ``reason`` instead of running (an update rolls back)
``kill_training_after(seconds)``            the next training job's process is killed ``seconds`` after it
                                            starts (an instance failure): Failed, ``InternalServerError``
``endpoint_never_in_service(name)``         deployments of endpoint ``name`` stay Creating/Updating until
                                            :meth:`Faults.clear` (or ``release_endpoint(name)``)
``drop_next_event(detail_type)``            the next EventBridge event of that detail type is not emitted
``throttle_next(action, n)``                the next ``n`` calls of API ``action`` (``DescribeTrainingJob``)
                                            raise ``ThrottlingException``
``error_next(action, code, message, n)``    the next ``n`` calls of API ``action`` raise error ``code``
==========================================  ==============================================================
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from typing import Literal

from .errors import SageMakerServiceError, throttled

FaultJobType = Literal["training", "transform", "labeling", "endpoint"]
_JOB_TYPES = ("training", "transform", "labeling", "endpoint")


class Faults:
    """The fault-injection knobs of one :class:`~local.sagemaker.LocalSageMaker` (``backend.faults``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, deque[str]] = defaultdict(deque)
        self._kill_after: deque[float] = deque()
        self._stuck_endpoints: set[str] = set()
        self._dropped_events: dict[str, int] = defaultdict(int)
        self._errors: dict[str, deque[SageMakerServiceError]] = defaultdict(deque)

    # -- knobs ------------------------------------------------------------------------------------

    def fail_next(
        self, job_type: FaultJobType, reason: str = "InternalServerError: injected failure"
    ) -> None:
        """Make the next job of ``job_type`` fail with ``reason`` (queued: call twice for two jobs)."""
        if job_type not in _JOB_TYPES:
            raise ValueError(f"job_type must be one of {_JOB_TYPES}, got {job_type!r}")
        with self._lock:
            self._failures[job_type].append(reason)

    def kill_training_after(self, seconds: float) -> None:
        """Kill the next training job's process ``seconds`` after it starts."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self._kill_after.append(seconds)

    def endpoint_never_in_service(self, name: str) -> None:
        """Keep deployments of endpoint ``name`` Creating/Updating until released."""
        with self._lock:
            self._stuck_endpoints.add(name)

    def release_endpoint(self, name: str) -> None:
        """Undo :meth:`endpoint_never_in_service`: a waiting deployment then proceeds."""
        with self._lock:
            self._stuck_endpoints.discard(name)

    def drop_next_event(self, detail_type: str) -> None:
        """Do not emit the next event of ``detail_type`` (e.g. ``SageMaker Endpoint State Change``)."""
        with self._lock:
            self._dropped_events[detail_type] += 1

    def throttle_next(self, action: str, n: int = 1) -> None:
        """Make the next ``n`` calls of API ``action`` (PascalCase) raise ``ThrottlingException``."""
        if n < 0:
            raise ValueError("n must not be negative")
        with self._lock:
            self._errors[action].extend(throttled(action) for _ in range(n))

    def error_next(self, action: str, code: str, message: str = "", n: int = 1) -> None:
        """Make the next ``n`` calls of API ``action`` (PascalCase) raise error ``code`` (queued after
        any error already pending for ``action``)."""
        if n < 0:
            raise ValueError("n must not be negative")
        with self._lock:
            self._errors[action].extend(SageMakerServiceError(code, message or code) for _ in range(n))

    def clear(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self._failures.clear()
            self._kill_after.clear()
            self._stuck_endpoints.clear()
            self._dropped_events.clear()
            self._errors.clear()

    # -- consulted by the backend -----------------------------------------------------------------

    def take_failure(self, job_type: FaultJobType) -> str | None:
        """The injected failure reason for a starting job, consumed; None if none is queued."""
        with self._lock:
            queue = self._failures.get(job_type)
            return queue.popleft() if queue else None

    def take_kill_after(self) -> float | None:
        """The kill delay for a starting training job, consumed; None if none is queued."""
        with self._lock:
            return self._kill_after.popleft() if self._kill_after else None

    def endpoint_stuck(self, name: str) -> bool:
        """Whether deployments of endpoint ``name`` must not finish now."""
        with self._lock:
            return name in self._stuck_endpoints

    def take_dropped_event(self, detail_type: str) -> bool:
        """Whether this event must be dropped (consumes one drop)."""
        with self._lock:
            if self._dropped_events.get(detail_type, 0) > 0:
                self._dropped_events[detail_type] -= 1
                return True
            return False

    def take_error(self, action: str) -> SageMakerServiceError | None:
        """The error this call of ``action`` must raise, consumed; None if none is pending."""
        with self._lock:
            pending = self._errors.get(action)
            return pending.popleft() if pending else None
