"""labeling: the builtin labeling service's job function (docs/labeling-service.md).

Three actions, one function:

* ``open`` (the state machine's ``LabelWithTeam`` task, ``.waitForTaskToken``): read the input manifest at
  its version, create the job and its tasks, record ``labeling_progress`` on the run. An unreadable or
  invalid manifest answers the token with ``SendTaskFailure`` ``LabelingInputInvalid``. A retried open of the
  same job only replaces the stored token. With ``review_given`` true the job is review-only: the lines'
  given labels wait for a reviewer (``gtpipe_shared.labeling_store.review_given``; label-error finding).
* ``finish`` (async invoke by the labeling API when the last answer arrives; the sweep): consolidate, write
  Ground Truth's output to the data bucket and answer the token: ``SendTaskSuccess`` with the Label state's
  result shape plus the team statistics, or ``SendTaskFailure`` ``LabelingIncomplete`` / ``LabelingFailed``.
  Idempotent: a finished job is left alone, and a claim keeps concurrent finishes from both writing.
* ``sweep`` (EventBridge schedule, any event without ``action``): for every unfinished job, a heartbeat to
  the waiting run (a run that no longer waits fails the job), expired leases back to the pool, jobs past
  their lifetime closed and finished, and jobs stuck in ``CONSOLIDATING`` (a lost async invoke) finished.
  One job's error is logged and the others are still swept.

Automated labeling (``gtpipe:labeling.autoLabeling`` on this backend) adds the ``auto_*`` actions of the
state machine's loop (:mod:`labeling.auto`): its human batches are ordinary jobs of this service.

The logic lives in ``gtpipe_shared.labeling_store`` (the table) and ``gtpipe_shared.labeling_output``
(consolidation and files); this module moves data between them, S3 and Step Functions.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared import labeling_gold, labeling_review
from gtpipe_shared import labeling_store as store
from gtpipe_shared.aws import client, error_code, table
from gtpipe_shared.config import require_env
from gtpipe_shared.labeling_gold import GoldObject
from gtpipe_shared.labeling_output import LabelingOutput
from gtpipe_shared.labeling_paths import job_prefix
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri

from labeling import auto

logger = Logger()
tracer = Tracer()

INPUT_INVALID = "LabelingInputInvalid"
INCOMPLETE = "LabelingIncomplete"
FAILED = "LabelingFailed"
# Token answers meaning the run no longer waits for this job (timed out, stopped, or already answered).
GONE_TOKEN_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
STUCK_CONSOLIDATING_SECONDS = 120
MAX_CAUSE = 32_000
# SendTaskSuccess accepts 256 KiB of output; large teams' statistics are trimmed to stay well below.
MAX_OUTPUT_BYTES = 200_000
DEFAULT_LIFETIME_SECONDS = 864_000
DEFAULT_LEASE_SECONDS = 300
DEFAULT_WORKERS = 3
DEFAULT_MIN_SHARE = 0.9


def clock() -> float:
    """Now, in epoch seconds (tests replace this function)."""
    return time.time()


def sfn() -> Any:
    """The Step Functions client (tests replace this function)."""
    return client("stepfunctions")


def tasks() -> Any:
    """The tasks table."""
    return table(require_env("LABELING_TABLE"))


def runs() -> Any:
    """The runs ledger."""
    return table(require_env("RUNS_TABLE"))


def _cause(text: str) -> str:
    return text if len(text) <= MAX_CAUSE else text[: MAX_CAUSE - 3] + "..."


def record_progress(job_name: str, run_id: str, now: float, *, review_only: bool = False) -> None:
    """``labeling_progress`` on the run item (a run missing from the ledger is logged, not an error).

    A review-only job (label-error finding's review, ``labeling_store.review_given``) is the run's second
    job: it leaves the run's ``labeling_progress`` alone, which stays the labeling job's (``gtpipe follow``
    and the ledger show how the run was labeled; the review's outcome is ``steps.labelerrors``)."""
    if review_only:
        return
    if not store.record_ledger_progress(runs(), run_id, store.progress(tasks(), job_name), now):
        logger.warning("run not in the ledger; progress not recorded", extra={"run_id": run_id})


# --- open -------------------------------------------------------------------------------------------


class InputInvalid(Exception):
    """The job's input cannot be used; the message is the task failure's cause."""


def _read_s3(uri: str, version_id: str | None, what: str) -> bytes:
    try:
        bucket, key = parse_s3_uri(uri)
    except S3UriError as exc:
        raise InputInvalid(f"{what}: {exc}") from exc
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    try:
        return bytes(client("s3").get_object(**kwargs)["Body"].read())
    except ClientError as exc:
        version = f" (version {version_id})" if version_id else ""
        raise InputInvalid(f"{what} {uri}{version} cannot be read: {error_code(exc) or exc}") from exc


def class_names_of(settings: dict[str, Any]) -> tuple[str, ...]:
    """The label categories in class-id order: ``settings["class_names"]``, else the label categories file
    start_run writes (``{"labels": [{"label": name}, ...]}`` at ``label_categories_uri``)."""
    names = settings.get("class_names")
    if not names and settings.get("label_categories_uri"):
        raw = _read_s3(str(settings["label_categories_uri"]), None, "label categories file")
        try:
            names = [entry["label"] for entry in json.loads(raw)["labels"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputInvalid("label categories file is not {'labels': [{'label': name}, ...]}") from exc
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise InputInvalid(
            "no class names: settings.class_names or label_categories_uri must name the classes"
        )
    return tuple(names)


def job_spec(event: dict[str, Any], class_names: tuple[str, ...], now: float) -> store.JobSpec:
    """The job's settings from the ``open`` payload (defaults as docs/labeling-service.md)."""
    settings = event.get("settings") or {}
    data_bucket = require_env("DATA_BUCKET")
    lifetime = int(settings.get("task_availability_lifetime_seconds") or DEFAULT_LIFETIME_SECONDS)
    lease_seconds = settings.get("lease_seconds") or settings.get("task_time_limit_seconds")
    return store.JobSpec(
        job_name=str(event["job_name"]),
        run_id=str(event["run_id"]),
        task_type=str(event["task_type"]),
        task_token=str(event["task_token"]),
        class_names=class_names,
        label_attribute=str(event.get("label_attribute") or settings.get("label_attribute") or "category"),
        manifest_uri=str(event["manifest_uri"]),
        output_path=str(settings.get("output_path") or f"s3://{data_bucket}/labeling/"),
        data_bucket=data_bucket,
        workers_per_object=int(settings.get("workers_per_object") or DEFAULT_WORKERS),
        lease_seconds=int(lease_seconds or DEFAULT_LEASE_SECONDS),
        expires_at=int(now) + lifetime,
        min_labeled_share=float(settings.get("min_labeled_share", DEFAULT_MIN_SHARE)),
        title=str(settings.get("task_title") or ""),
        description=str(settings.get("task_description") or ""),
        instructions=str(settings.get("instructions") or ""),
        hotkeys=hotkeys_of(settings),
        adaptive_threshold=_adaptive_threshold(settings),
        review=_review(settings),
    )


def _review(settings: dict[str, Any]) -> dict[str, Any] | None:
    """``settings["review"]`` (the review stage; None: off) checked by its rules; InputInvalid otherwise
    (the config schema checks it at synth)."""
    value = settings.get("review")
    if value is None:
        return None
    try:
        if not isinstance(value, dict):
            raise ValueError(f"must be an object, got {value!r}")
        return labeling_review.ReviewSettings.from_mapping(value).as_mapping()
    except (TypeError, ValueError) as error:
        raise InputInvalid(f"settings.review: {error}") from None


def _adaptive_threshold(settings: dict[str, Any]) -> float | None:
    """``settings["adaptive_confidence_threshold"]`` (adaptive redundancy; None: off); InputInvalid when it
    is not a number in (0, 1] (the config schema checks it at synth)."""
    value = settings.get("adaptive_confidence_threshold")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise InputInvalid(
            f"settings.adaptive_confidence_threshold must be a number in (0, 1], got {value!r}"
        )
    return float(value)


def hotkeys_of(settings: dict[str, Any]) -> dict[str, str]:
    """``settings["hotkeys"]`` (class name -> key, checked by the config schema), text entries only."""
    value = settings.get("hotkeys")
    if not isinstance(value, dict):
        return {}
    return {name: key for name, key in value.items() if isinstance(name, str) and isinstance(key, str)}


def gold_objects(
    settings: dict[str, Any], spec: store.JobSpec, objects: list[store.LabelingObject]
) -> list[GoldObject]:
    """The gold objects mixed into the job (docs/labeling-service.md, "Gold objects"): none without
    ``settings["gold_manifest_uri"]``; else ``gold_share`` of its tasks drawn from that manifest, whose
    lines must carry the job's label attribute and classes (InvalidManifest names the problems)."""
    uri = settings.get("gold_manifest_uri")
    if not uri:
        return []
    share = settings.get("gold_share", 0.1)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 0.5:
        raise InputInvalid(f"settings.gold_share must be a number in (0, 0.5], got {share!r}")
    known = store.gold_from_manifest(
        _read_s3(str(uri), None, "gold manifest"),
        task_type=spec.task_type,
        label_attribute=spec.label_attribute,
        class_names=spec.class_names,
    )
    chosen = labeling_gold.pick(known, [obj.source_ref for obj in objects], float(share), spec.job_name)
    if not chosen:
        raise InputInvalid(f"gold manifest {uri}: every gold image is also in the job's manifest")
    return chosen


@tracer.capture_method
def open_job(event: dict[str, Any], now: float) -> dict[str, Any]:
    """Create the job from the manifest; answer the token with LabelingInputInvalid when it is unusable."""
    missing = [
        key for key in ("task_token", "job_name", "run_id", "task_type", "manifest_uri") if not event.get(key)
    ]
    if missing:
        # Without a token there is nobody to answer; without the rest the payload is not the contract's.
        raise ValueError(f"open payload lacks {', '.join(missing)}")
    job_name = str(event["job_name"])
    try:
        objects = store.objects_from_manifest(
            _read_s3(str(event["manifest_uri"]), event.get("manifest_version_id"), "input manifest")
        )
        spec = job_spec(event, class_names_of(event.get("settings") or {}), now)
        objects = store.split_suggestions(spec, objects)  # pre-annotation: a bad suggestion is bad input
        review_only = event.get("review_given") is True
        if review_only:
            # Label-error finding's review (labeling_store.review_given): an undecided object keeps its
            # given label, so no share of them fails the job.
            spec = replace(spec, min_labeled_share=0.0)
            for obj in objects:
                store.given_label(spec, obj)
        gold = [] if review_only else gold_objects(event.get("settings") or {}, spec, objects)
    except (InputInvalid, store.InvalidManifest, ValueError) as exc:
        cause = f"job {job_name}: {exc}"
        logger.warning("labeling input invalid", extra={"job_name": job_name, "cause": cause[:500]})
        sfn().send_task_failure(taskToken=event["task_token"], error=INPUT_INVALID, cause=_cause(cause))
        return {"job_name": job_name, "status": "input-invalid", "cause": cause}
    if review_only:
        outcome = store.open_review_job(tasks(), spec, objects, now)
    else:
        outcome = store.open_job(tasks(), spec, objects, now, gold)
    record_progress(job_name, spec.run_id, now, review_only=review_only)
    logger.info(
        "labeling job open" if outcome.created else "labeling job exists; token replaced",
        extra={
            "job_name": job_name,
            "objects": len(objects),
            "gold": len(gold),
            "status": outcome.job.get("status"),
        },
    )
    return {
        "job_name": job_name,
        "status": outcome.job.get("status"),
        "created": outcome.created,
        "objects": len(objects),
    }


# --- finish -----------------------------------------------------------------------------------------


def identity_issuer() -> str:
    """The workers' identity provider in worker responses: the user pool's URL (``USER_POOL_ID``, optional)."""
    pool = os.environ.get("USER_POOL_ID", "")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "")
    return f"https://cognito-idp.{region}.amazonaws.com/{pool}" if pool else ""


def build_job_output(job: dict[str, Any], now: float) -> LabelingOutput:
    """Consolidate the job's answers into Ground Truth's output files (nothing written yet)."""
    return store.job_output(tasks(), job, now, identity_issuer())


def write_files(job: dict[str, Any], output: LabelingOutput) -> None:
    """Put the output files into the bucket of the job's output path (the bucket's default encryption)."""
    bucket, _prefix = job_prefix(str(job["output_path"]), str(job["job_name"]))
    s3 = client("s3")
    for key, body in output.files.items():
        content_type = "application/json" if key.endswith(".json") else "application/jsonlines"
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def success_output(job_name: str, output: LabelingOutput) -> dict[str, Any]:
    """The token's output: the Label state's result shape plus the team statistics."""
    result: dict[str, Any] = {
        "job_arn": f"gtpipe:labeling-job/{job_name}",
        "backend": "builtin",
        "output_uri": output.output_uri,
        "counters": dict(output.counters),
        "job_output": {"OutputDatasetS3Uri": output.output_uri},
        "team": output.team,
    }
    if len(json.dumps(result, default=str)) > MAX_OUTPUT_BYTES:
        # The full statistics are in team/stats.json; the run carries the totals only.
        result["team"] = {k: v for k, v in output.team.items() if k not in ("workers", "classes")}
        result["team"]["trimmed"] = True
    return result


def _answer_token(
    job: dict[str, Any], *, success: dict[str, Any] | None = None, error: str = "", cause: str = ""
) -> str | None:
    """Send the token's answer; the error code when the run no longer waits (the answer is moot)."""
    try:
        if success is not None:
            sfn().send_task_success(taskToken=job["task_token"], output=json.dumps(success, default=str))
        else:
            sfn().send_task_failure(taskToken=job["task_token"], error=error, cause=_cause(cause))
    except ClientError as exc:
        if error_code(exc) in GONE_TOKEN_ERRORS:
            logger.warning(
                "the run no longer waits for this job",
                extra={"job_name": job["job_name"], "error": error_code(exc)},
            )
            return error_code(exc)
        raise
    return None


@tracer.capture_method
def finish(job_name: str, now: float, claim_id: str) -> dict[str, Any]:
    """Write the job's output and answer its token (once; see the module docstring)."""
    job = store.get_job(tasks(), job_name)
    status = job.get("status")
    if status in store.FINAL_STATUSES:
        return {"job_name": job_name, "status": status, "already_finished": True}
    if status == store.OPEN and not store.complete_if_done(tasks(), job_name, now):
        return {"job_name": job_name, "status": status, "skipped": "the job still takes answers"}
    if not store.claim_finish(tasks(), job_name, claim_id, now):
        return {"job_name": job_name, "status": store.CONSOLIDATING, "skipped": "another finish is writing"}
    job = store.get_job(tasks(), job_name)
    try:
        output = build_job_output(job, now)
        write_files(job, output)
    except (ValueError, KeyError, ClientError, BotoCoreError) as exc:
        logger.exception("labeling output failed", extra={"job_name": job_name})
        cause = f"job {job_name}: consolidating or writing the output failed: {exc}"
        gone = _answer_token(job, error=FAILED, cause=cause)
        store.end_job(tasks(), job_name, store.FAILED, now, _details(failure=cause, token_error=gone))
        record_progress(job_name, str(job["run_id"]), now, review_only=store.is_review_only(job))
        return {"job_name": job_name, "status": store.FAILED, "cause": cause}
    # Data objects only: gold objects (object_count counts them) are never in the output.
    objects = (len(output.labeled) + len(output.unlabeled)) or 1
    share = len(output.labeled) / objects
    minimum = float(job.get("min_labeled_share", DEFAULT_MIN_SHARE))
    if share < minimum:
        bucket, prefix = job_prefix(str(job["output_path"]), job_name)
        cause = (
            f"job {job_name} closed with {len(output.labeled)} of {objects} objects labeled (share {share:.2f}), "
            f"below the minimum {minimum:.2f}; objects without all their answers: "
            f"s3://{bucket}/{prefix}manifests/output/unlabeled.manifest"
        )
        gone = _answer_token(job, error=INCOMPLETE, cause=cause)
        final = store.INCOMPLETE
        details = _details(failure=cause, token_error=gone, output_uri=output.output_uri)
    else:
        gone = _answer_token(job, success=success_output(job_name, output))
        final = store.COMPLETED
        details = _details(token_error=gone, output_uri=output.output_uri)
    details["counters"] = dict(output.counters)
    store.end_job(tasks(), job_name, final, now, details)
    record_progress(job_name, str(job["run_id"]), now, review_only=store.is_review_only(job))
    try:
        store.expire_items(tasks(), job_name, now)
    except (ClientError, BotoCoreError, RuntimeError):
        logger.exception("could not set the TTL on the job's items", extra={"job_name": job_name})
    logger.info(
        "labeling job finished",
        extra={"job_name": job_name, "status": final, "labeled_share": round(share, 4)},
    )
    return {
        "job_name": job_name,
        "status": final,
        "output_uri": output.output_uri,
        "counters": output.counters,
    }


def _details(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


# --- sweep ------------------------------------------------------------------------------------------


def _heartbeat(job: dict[str, Any], now: float) -> bool:
    """Tell the run the job is alive; False (and the job FAILED) when the run no longer waits."""
    try:
        sfn().send_task_heartbeat(taskToken=job["task_token"])
    except ClientError as exc:
        if error_code(exc) not in GONE_TOKEN_ERRORS:
            raise
        reason = f"the run no longer waits for this job ({error_code(exc)})"
        store.end_job(tasks(), str(job["job_name"]), store.FAILED, now, {"failure": reason})
        logger.warning(
            "labeling job abandoned by its run", extra={"job_name": job["job_name"], "error": error_code(exc)}
        )
        return False
    return True


def sweep_job(job: dict[str, Any], now: float, claim_id: str) -> str:
    """One job's sweep; what was done (for the summary)."""
    name = str(job["job_name"])
    if not _heartbeat(job, now):
        return "abandoned"
    if job.get("status") == store.CONSOLIDATING:
        if now - float(job.get("consolidating_at", now)) >= STUCK_CONSOLIDATING_SECONDS:
            return f"refinished:{finish(name, now, claim_id)['status']}"
        return "consolidating"
    if int(job.get("expires_at", 0)) <= int(now):
        store.close_job(tasks(), name, now, "lifetime-ended")
        return f"closed:{finish(name, now, claim_id)['status']}"
    if store.complete_if_done(tasks(), name, now):  # the answer that completed it died before this
        return f"completed:{finish(name, now, claim_id)['status']}"
    reclaimed = store.reclaim_expired(tasks(), name, now)
    return f"reclaimed:{reclaimed}" if reclaimed else "open"


@tracer.capture_method
def sweep(now: float, claim_id: str) -> dict[str, Any]:
    """Sweep every unfinished job; a job's error is logged and the others are still swept."""
    results: dict[str, str] = {}
    for status in (store.OPEN, store.CONSOLIDATING):
        for job in store.jobs_with_index_status(tasks(), status):
            name = str(job["job_name"])
            try:
                results[name] = sweep_job(job, now, claim_id)
            except Exception as exc:  # one broken job must not stop the sweep of the others
                logger.exception("sweeping a job failed", extra={"job_name": name})
                results[name] = f"error:{error_code(exc) or type(exc).__name__}"
    return {"action": "sweep", "jobs": results}


# --- entry point ------------------------------------------------------------------------------------


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``{"action": "open" | "finish" | "sweep" | "auto_*", ...}``; an event without ``action`` (the schedule)
    sweeps; the ``auto_*`` actions are automated labeling's (:mod:`labeling.auto`)."""
    action = event.get("action") if isinstance(event, dict) else None
    now = clock()
    claim_id = getattr(context, "aws_request_id", None) or uuid.uuid4().hex
    if action == "open":
        return open_job(event, now)
    if action == "finish":
        if not event.get("job_name"):
            raise ValueError("finish needs job_name")
        return finish(str(event["job_name"]), now, claim_id)
    if action in (None, "sweep"):
        return sweep(now, claim_id)
    if action in auto.ACTIONS:
        return auto.handle(event, now)
    raise ValueError(f"unknown action {action!r}: expected open, finish, sweep or {', '.join(auto.ACTIONS)}")
