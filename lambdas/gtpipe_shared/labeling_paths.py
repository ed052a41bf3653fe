"""Ground Truth's labeling output: where its files go under a job's prefix and how it writes times.

Shared by the output writer (:mod:`gtpipe_shared.labeling_output`), the builtin labeling service
(``lambdas/labeling``) and the local Ground Truth emulation (``local/sagemaker``); the layout itself is
described in :mod:`gtpipe_shared.labeling_output`.
"""

from __future__ import annotations

import datetime as dt


def creation_date(moment: dt.datetime) -> str:
    """Ground Truth's ``creation-date``: naive UTC with microseconds, e.g. ``2019-05-04T20:26:41.638095``."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%f")


def file_stamp(moment: dt.datetime) -> str:
    """The file name stamp of worker and consolidation responses: ``2019-05-04_20:26:41`` (UTC)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d_%H:%M:%S")


def iso_z(moment: dt.datetime) -> str:
    """``acceptanceTime``/``submissionTime``: UTC with milliseconds, ``2019-05-04T20:26:41.638Z``."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str, what: str) -> dt.datetime:
    """An ISO 8601 time (``Z`` or an offset; naive means UTC) as an aware datetime; ValueError names
    ``what``."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {value!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def job_prefix(output_path: str, job_name: str) -> tuple[str, str]:
    """``(bucket, key prefix ending in "/")`` of a job's output, from ``s3://bucket/some/path/``."""
    if not output_path.startswith("s3://"):
        raise ValueError(f"output path {output_path!r} is not an s3:// URI")
    bucket, _, key = output_path[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"output path {output_path!r} has no bucket")
    key = key.strip("/")
    return bucket, f"{key}/{job_name}/" if key else f"{job_name}/"


def worker_response_key(iteration: int, index: int, moment: dt.datetime) -> str:
    """Relative key of one object's worker responses in iteration ``iteration``."""
    return f"annotations/worker-response/iteration-{iteration}/{index}/{file_stamp(moment)}.json"


def consolidation_response_key(iteration: int, moment: dt.datetime) -> str:
    """Relative key of one iteration's consolidation response."""
    return (
        "annotations/consolidated-annotation/consolidation-response/"
        f"iteration-{iteration}/{file_stamp(moment)}.json"
    )
