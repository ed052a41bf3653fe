"""harvest: the scheduled pick of captured predictions to label again (``gtpipe_shared.harvest``).

Invoked by the ``gtpipe:harvest.schedule`` rule (or by hand with any event). One invocation harvests the
capture window ``[since, until)``: ``since`` is the previous harvest's ``until`` from ``harvest/state.json``
(the first harvest looks back ``CAPTURE_RETENTION_DAYS``, as far as captures live), ``until`` is now. It
reads the window's capture records and the corrections, picks at most the budget (``select``), copies each
picked image to ``images/feedback/<day>/``, writes ``harvest/<day>.json`` (what was picked and why) and
drops ``incoming/feedback-<day>.manifest``, which starts a labeling run; then it advances the state.

Idempotent: a manifest already dropped for that day is never rewritten (a retry, or a second harvest the
same day, only advances the window past it); the state moves only after the manifest is written, so a
failed harvest is redone whole by the next one. A window with nothing to pick drops no manifest.
"""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from gtpipe_shared.aws import client, error_code
from gtpipe_shared.capture import CAPTURE_PREFIX, FEEDBACK_PREFIX
from gtpipe_shared.config import HarvestConfig, require_env
from gtpipe_shared.harvest import (
    STATE_KEY,
    SUMMARY_PREFIX,
    Candidate,
    Pick,
    candidate_of,
    capture_days,
    difference_hash,
    image_copy_key,
    in_window,
    manifest_key,
    select,
    window_day,
)

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def _get_json(bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    value = json.loads(body)
    return value if isinstance(value, dict) else None


def _keys(bucket: str, prefix: str) -> list[str]:
    paginator = client("s3").get_paginator("list_objects_v2")
    return [
        obj["Key"]
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
    ]


def _exists(bucket: str, key: str) -> bool:
    try:
        client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return False
        raise
    return True


def candidates(bucket: str, since: datetime, until: datetime) -> list[Candidate]:
    """The classification captures of ``[since, until)`` with their corrections (ids from one listing of
    ``captured/feedback/``; the function may list only under ``captured/``)."""
    corrected = {
        key.removeprefix(FEEDBACK_PREFIX).removesuffix(".json") for key in _keys(bucket, FEEDBACK_PREFIX)
    }
    found: list[Candidate] = []
    for day in capture_days(since, until):
        for key in _keys(bucket, f"{CAPTURE_PREFIX}{day}/"):
            if not key.endswith(".json"):
                continue
            record = _get_json(bucket, key)
            if record is None:
                continue
            inference_id = str(record.get("inference_id") or "")
            correction = (
                _get_json(bucket, f"{FEEDBACK_PREFIX}{inference_id}.json")
                if inference_id in corrected
                else None
            )
            candidate = candidate_of(record, correction)
            if candidate is not None and in_window(candidate, since, until):
                found.append(candidate)
    return found


def image_hash(bucket: str, candidate: Candidate) -> int | None:
    """The picked image's difference hash; None when it cannot be read as an image (kept, unhashed)."""
    from PIL import Image, UnidentifiedImageError  # the image layer's Pillow (infra/layers)

    try:
        body = client("s3").get_object(Bucket=bucket, Key=candidate.image_key)["Body"].read()
        with Image.open(io.BytesIO(body)) as image:
            return difference_hash(image)
    except (ClientError, UnidentifiedImageError, OSError) as exc:
        logger.warning("image not hashed", extra={"key": candidate.image_key, "reason": str(exc)})
        return None


def write_harvest(bucket: str, picks: list[Pick], since: datetime, until: datetime) -> dict[str, Any]:
    """Copy the picked images, write the summary, then drop the manifest (last: it starts the run)."""
    s3 = client("s3")
    lines: list[str] = []
    for pick in picks:
        target = image_copy_key(pick, until)
        s3.copy_object(
            Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": pick.candidate.image_key}
        )
        lines.append(json.dumps({"source-ref": f"s3://{bucket}/{target}"}))
    by_reason: dict[str, int] = {}
    for pick in picks:
        by_reason[pick.reason] = by_reason.get(pick.reason, 0) + 1
    key = manifest_key(until)
    summary = {
        "manifest_key": key,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "picked": len(picks),
        "by_reason": by_reason,
        "picks": [
            {
                "inference_id": p.candidate.inference_id,
                "reason": p.reason,
                "predicted": p.candidate.predicted,
                "confidence": p.candidate.confidence,
                "corrected": p.candidate.corrected,
                "source_ref": f"s3://{bucket}/{image_copy_key(p, until)}",
            }
            for p in picks
        ],
    }
    s3.put_object(
        Bucket=bucket,
        Key=f"{SUMMARY_PREFIX}{window_day(until)}.json",
        Body=json.dumps(summary).encode(),
        ContentType="application/json",
    )
    s3.put_object(Bucket=bucket, Key=key, Body="".join(f"{line}\n" for line in lines).encode())
    return {k: v for k, v in summary.items() if k != "picks"}


@tracer.capture_method
def harvest(now: datetime) -> dict[str, Any]:
    """One harvest ending at ``now``: the result says what was picked (or why nothing was dropped)."""
    bucket = require_env("DATA_BUCKET")
    config = HarvestConfig.model_validate_json(require_env("HARVEST_CONFIG"))
    lookback = timedelta(days=int(os.environ.get("CAPTURE_RETENTION_DAYS", "90")) + 1)
    state = _get_json(bucket, STATE_KEY) or {}
    since = datetime.fromisoformat(state["until"]) if state.get("until") else now - lookback
    until = now
    key = manifest_key(until)
    if _exists(bucket, key):
        result: dict[str, Any] = {"manifest_key": None, "picked": 0, "reason": f"{key} was already dropped"}
    else:
        found = candidates(bucket, since, until)
        picks = select(
            found,
            config,
            seed=f"{since.isoformat()}/{until.isoformat()}",
            hash_of=lambda c: image_hash(bucket, c),
        )
        if picks:
            result = write_harvest(bucket, picks, since, until)
        else:
            result = {
                "manifest_key": None,
                "picked": 0,
                "reason": f"nothing to pick among {len(found)} captures",
            }
        result["considered"] = len(found)
    client("s3").put_object(
        Bucket=bucket,
        Key=STATE_KEY,
        Body=json.dumps({"until": until.isoformat(), "manifest_key": result.get("manifest_key")}).encode(),
        ContentType="application/json",
    )
    metrics.add_metric(name="HarvestedImages", unit=MetricUnit.Count, value=int(result["picked"]))
    return {"since": since.isoformat(), "until": until.isoformat(), **result}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scheduled event (or any event) -> what this harvest picked and dropped."""
    result = harvest(datetime.now(UTC))
    logger.info("harvest done", extra=result)
    return result
