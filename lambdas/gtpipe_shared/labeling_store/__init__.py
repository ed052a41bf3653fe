"""The builtin labeling service's tasks table (docs/labeling-service.md, "Tasks table").

One DynamoDB table, one partition per job (``pk = JOB#<job_name>``) holding the job item (``#JOB``), one
object item per manifest line (``OBJ#<index, 8 digits>``), one answer item per (object, worker)
(``ANS#<index, 8 digits>#<worker_id>``) and one worker item per worker (``WRK#<worker_id>``). The sparse
index ``open-jobs`` (partition ``open_jobs``, sort ``created_at``) lists the jobs that are not finished:
``open_jobs`` is ``"OPEN"`` while a job takes answers and ``"CONSOLIDATING"`` while its output is written;
it is removed when the job ends.

Every change is a conditional write (no locks), so any number of API and sweep invocations can run at once
(:mod:`.leases` and :mod:`.submissions` say how). Functions take the table as a boto3 ``Table`` resource.
Times are epoch seconds (``now`` arguments are floats, stored epochs are whole seconds) except the ISO
strings the contracts name.

One module per concern; this package re-exports their public names, so callers write
``from gtpipe_shared import labeling_store as store`` and ``store.lease(...)``:

=====================  =====================================================================
:mod:`.keys`           item keys, statuses, item states, limits, time formats (pure)
:mod:`.models`         the dataclasses taken and returned (pure)
:mod:`.intake`         input manifest -> objects to label (pure)
:mod:`.dynamo`         DynamoDB primitives: paged queries, conditional writes, batch puts, reads
:mod:`.jobs`           a job's lifecycle: open, list, progress, consolidate, claim, end, expire
:mod:`.leases`         leasing tasks: take, reclaim, renew, release, skip, sweep expired leases
:mod:`.submissions`    taking an answer: validate, store and count in one transaction
:mod:`.output`         reading a job back for its output (objects, answers, workers)
:mod:`.review_given`   review-only jobs: given labels waiting for a reviewer (label-error finding)
:mod:`.runs_ledger`    the job's progress on its run item in the runs ledger
=====================  =====================================================================

Errors are :mod:`gtpipe_shared.labeling_errors`; answers are validated by
:func:`gtpipe_shared.labeling_answers.validate_answer` (both re-exported here).
"""

from gtpipe_shared.labeling_answers import EDGE_TOLERANCE, MAX_BOXES, validate_answer
from gtpipe_shared.labeling_errors import (
    InvalidAnswer,
    InvalidManifest,
    JobExpired,
    JobNotOpen,
    LabelingError,
    LeaseNotHeld,
    UnknownJob,
    UnknownTask,
)
from gtpipe_shared.labeling_store.dynamo import batch_put, get_job
from gtpipe_shared.labeling_store.intake import gold_from_manifest, objects_from_manifest
from gtpipe_shared.labeling_store.jobs import (
    claim_finish,
    close_job,
    complete_if_done,
    end_job,
    expire_items,
    job_item,
    jobs_with_index_status,
    list_open_jobs,
    my_answer_count,
    open_job,
    progress,
    set_task_token,
    split_suggestions,
)
from gtpipe_shared.labeling_store.keys import (
    ANSWERED,
    BATCH_SIZE,
    COMPLETED,
    CONSOLIDATING,
    FAILED,
    FINAL_STATUSES,
    FINISH_CLAIM_SECONDS,
    INCOMPLETE,
    JOB_SK,
    LEASED,
    OBJECT_PAGE,
    OPEN,
    OPEN_JOBS_INDEX,
    SKIPPED,
    TTL_ATTRIBUTE,
    TTL_SECONDS,
    answer_sk,
    iso,
    job_pk,
    object_sk,
    worker_sk,
)
from gtpipe_shared.labeling_store.leases import lease, reclaim_expired, release
from gtpipe_shared.labeling_store.models import (
    Answering,
    AnswerOutcome,
    JobSpec,
    LabelingObject,
    Lease,
    OpenOutcome,
    Progress,
    StoredObject,
)
from gtpipe_shared.labeling_store.output import (
    all_answers,
    image_size,
    job_info,
    job_output,
    objects,
    output_inputs,
    record_image_size,
    took_part,
    with_gold,
    workers,
)
from gtpipe_shared.labeling_store.review_given import given_label, is_review_only, open_review_job
from gtpipe_shared.labeling_store.runs_ledger import ledger_progress, record_ledger_progress
from gtpipe_shared.labeling_store.submissions import answer, submit

__all__ = [
    "ANSWERED",
    "BATCH_SIZE",
    "COMPLETED",
    "CONSOLIDATING",
    "EDGE_TOLERANCE",
    "FAILED",
    "FINAL_STATUSES",
    "FINISH_CLAIM_SECONDS",
    "INCOMPLETE",
    "JOB_SK",
    "LEASED",
    "MAX_BOXES",
    "OBJECT_PAGE",
    "OPEN",
    "OPEN_JOBS_INDEX",
    "SKIPPED",
    "TTL_ATTRIBUTE",
    "TTL_SECONDS",
    "AnswerOutcome",
    "Answering",
    "InvalidAnswer",
    "InvalidManifest",
    "JobExpired",
    "JobNotOpen",
    "JobSpec",
    "LabelingError",
    "LabelingObject",
    "Lease",
    "LeaseNotHeld",
    "OpenOutcome",
    "Progress",
    "StoredObject",
    "UnknownJob",
    "UnknownTask",
    "all_answers",
    "answer",
    "answer_sk",
    "batch_put",
    "claim_finish",
    "close_job",
    "complete_if_done",
    "end_job",
    "expire_items",
    "get_job",
    "given_label",
    "gold_from_manifest",
    "image_size",
    "is_review_only",
    "iso",
    "job_info",
    "job_item",
    "job_output",
    "job_pk",
    "jobs_with_index_status",
    "lease",
    "ledger_progress",
    "list_open_jobs",
    "my_answer_count",
    "object_sk",
    "objects",
    "objects_from_manifest",
    "open_job",
    "open_review_job",
    "output_inputs",
    "progress",
    "reclaim_expired",
    "record_image_size",
    "record_ledger_progress",
    "release",
    "set_task_token",
    "split_suggestions",
    "submit",
    "took_part",
    "validate_answer",
    "with_gold",
    "worker_sk",
    "workers",
]
