"""The builtin labeling service's errors: what the labeling API answers (``status``, ``code``, ``message``).

Pure and import-light, so the tasks table (:mod:`gtpipe_shared.labeling_store`), the answer validator
(:mod:`gtpipe_shared.labeling_answers`) and the output writer (:mod:`gtpipe_shared.labeling_output`) raise
the same classes.
"""

from __future__ import annotations


class LabelingError(Exception):
    """A labeling request that cannot be served; ``status`` and ``code`` (the class name) are the API's
    answer."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = type(self).__name__


class UnknownJob(LabelingError):
    """No job of that name."""

    status = 404


class UnknownTask(LabelingError):
    """The job has no object with that index."""

    status = 404


class JobNotOpen(LabelingError):
    """The job does not take leases or answers any more (closed, finished, or its lifetime ended)."""

    status = 409


class JobExpired(JobNotOpen):
    """The job's lifetime has ended (the sweep closes it soon): no more leases or answers."""

    status = 410


class LeaseNotHeld(LabelingError):
    """The worker does not hold that lease (expired and reclaimed, released, answered, or never held)."""

    status = 409


class InvalidAnswer(LabelingError, ValueError):
    """The answer does not fit the task; the message names the problem. A ValueError too: the output
    writer reports a stored answer that does not validate as bad input, like any other."""

    status = 400


class InvalidManifest(ValueError):
    """The input manifest cannot be turned into tasks; the message names the lines at fault."""
