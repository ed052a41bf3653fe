"""The tasks table's names: item keys, statuses, item states, limits and time formats.

Pure: no I/O. One partition per job (``pk = JOB#<job_name>``) holding the job item (``#JOB``), object items
(``OBJ#<index, 8 digits>``), answer items (``ANS#<index, 8 digits>#<worker_id>``) and worker items
(``WRK#<worker_id>``); ``open-jobs`` is the sparse index of unfinished jobs (docs/labeling-service.md).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from gtpipe_shared import ledger

OPEN = "OPEN"
CONSOLIDATING = "CONSOLIDATING"
COMPLETED = "COMPLETED"
INCOMPLETE = "INCOMPLETE"
FAILED = "FAILED"
FINAL_STATUSES = (COMPLETED, INCOMPLETE, FAILED)
OPEN_JOBS_INDEX = "open-jobs"
JOB_SK = "#JOB"
LEASED = "leased"
ANSWERED = "answered"
# A worker who skipped an object is never offered it again; the slot stays open for the others.
SKIPPED = "skipped"
TTL_ATTRIBUTE = "expires_ttl"
TTL_SECONDS = 90 * 86400
BATCH_SIZE = 25
# Objects read per page while looking for a task to lease (the first free one is usually in the first page).
OBJECT_PAGE = 25
# A finish that claimed a job and has not ended after this long is presumed dead (Lambda timeout is less).
FINISH_CLAIM_SECONDS = 900


def job_pk(job_name: str) -> str:
    """The partition of a job."""
    return f"JOB#{job_name}"


def object_sk(index: int) -> str:
    """The sort key of object ``index``."""
    return f"OBJ#{index:08d}"


def answer_sk(index: int, worker_id: str) -> str:
    """The sort key of a worker's answer for object ``index``."""
    return f"ANS#{index:08d}#{worker_id}"


def worker_sk(worker_id: str) -> str:
    """The sort key of a worker's item."""
    return f"WRK#{worker_id}"


def iso(now: float) -> str:
    """Epoch seconds as the ledger's fixed-width ISO string."""
    return ledger.now_iso(datetime.fromtimestamp(now, tz=UTC))


def epoch(now: float) -> int:
    """Whole epoch seconds, as items store them."""
    return math.floor(now)
