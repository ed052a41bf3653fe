"""Copying a training job's log to CloudWatch Logs, as SageMaker does (see :mod:`.training_job`).

The log becomes the log group ``/aws/sagemaker/TrainingJobs``, stream ``<job>/algo-1-<start epoch
seconds>``, one event per line; a batch that CloudWatch Logs silently drops raises
:class:`LogEventsRejected`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Any

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# PutLogEvents limits: 10,000 events and 1,048,576 bytes per call (each event counts 26 bytes extra),
# 256 KB per event.
LOG_BATCH_EVENTS = 10_000
LOG_BATCH_BYTES = 1_000_000
LOG_EVENT_CHARS = 200_000


class LogEventsRejected(RuntimeError):
    """CloudWatch Logs accepted the call but dropped events (``rejectedLogEventsInfo``)."""


def put_log_events(logs: Any, group: str, stream: str, events: list[dict[str, Any]]) -> None:
    """PutLogEvents that raises :class:`LogEventsRejected` when any event was dropped.

    CloudWatch Logs (and moto) answer 200 and silently drop events older than 14 days or more than
    2 hours ahead, reporting them only in ``rejectedLogEventsInfo``
    (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html);
    a log that lost lines must not pass for a complete one."""
    answer = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    rejected = answer.get("rejectedLogEventsInfo")
    if rejected:
        raise LogEventsRejected(f"CloudWatch Logs rejected events of {group}/{stream}: {rejected}")


def publish_log(logs: Any, job_name: str, log_path: Path, started: dt.datetime) -> str | None:
    """Copy a training log to CloudWatch Logs (see the module docstring); return the stream name.

    Each line becomes one event; timestamps start at the job's start and grow by 1 ms per line, so the
    order survives. Returns None when the log file does not exist.
    """
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    stream = f"{job_name}/algo-1-{int(started.timestamp())}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=LOG_GROUP)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    base = int(started.timestamp() * 1000)
    batch: list[dict[str, Any]] = []
    size = 0
    for index, line in enumerate(text.splitlines()):
        message = line[:LOG_EVENT_CHARS] or " "
        cost = len(message.encode("utf-8")) + 26
        if batch and (len(batch) >= LOG_BATCH_EVENTS or size + cost > LOG_BATCH_BYTES):
            put_log_events(logs, LOG_GROUP, stream, batch)
            batch, size = [], 0
        batch.append({"timestamp": base + index, "message": message})
        size += cost
    if batch:
        put_log_events(logs, LOG_GROUP, stream, batch)
    return stream
