"""Feedback capture: which predictions are kept, where, and in what shape (README "Feedback capture").

``predict`` gives every answer an inference id (a random UUID, version 4). With capture on, it keeps the
image and a JSON record of answers below the confidence threshold (reason ``low-confidence``) and of a random
share of the others (reason ``sample``), under ``captured/<yyyy>/<mm>/<dd>/<inference id>.{jpg|png,json}`` of
the data bucket (UTC date of the request), plus a small pointer ``captured/ids/<inference id>.json`` naming
the record, since ``POST /feedback`` knows only the id (and may not list the bucket). A correction is kept at
``captured/feedback/<inference id>.json``; the bucket's lifecycle rule expires everything under
``captured/`` after ``gtpipe:capture.retentionDays``. A request with ``X-Gtpipe-Capture: off`` is never kept.

Everything here is pure: the handlers own the I/O, the clock and the random draw.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from gtpipe_shared.config import CaptureConfig

CAPTURE_PREFIX = "captured/"
IDS_PREFIX = f"{CAPTURE_PREFIX}ids/"
FEEDBACK_PREFIX = f"{CAPTURE_PREFIX}feedback/"
OPT_OUT_HEADER = "X-Gtpipe-Capture"
# Header values that opt out; anything else (or no header) leaves the request to the configured capture.
OPT_OUT_VALUES = frozenset({"off", "false", "0", "no", "none"})
RECORD_VERSION = 1
INFERENCE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}

CaptureReason = Literal["low-confidence", "sample"]


def new_inference_id() -> str:
    """A fresh inference id: a random (version 4) UUID in its lower-case canonical form."""
    return str(uuid.uuid4())


def valid_inference_id(value: Any) -> bool:
    """Whether ``value`` is an inference id as :func:`new_inference_id` makes them (canonical UUID4)."""
    return isinstance(value, str) and INFERENCE_ID.fullmatch(value) is not None


def opted_out(header_value: str | None) -> bool:
    """Whether the ``X-Gtpipe-Capture`` header value asks for nothing to be kept (``off``, case-insensitive)."""
    return header_value is not None and header_value.strip().lower() in OPT_OUT_VALUES


def answer_confidence(answer: dict[str, Any]) -> float:
    """The confidence that decides capture: a classification's top confidence; for object detection the
    best kept box's (0 when none was kept: an image the model finds nothing in is worth a human look)."""
    if "detections" in answer:
        scores = [float(box["confidence"]) for box in answer["detections"]]
        return max(scores, default=0.0)
    return float(answer["confidence"])


def capture_reason(confidence: float, config: CaptureConfig, draw: float) -> CaptureReason | None:
    """Why this answer is kept, or None. ``draw`` is a uniform random number in [0, 1) (the caller's
    random source, seedable in tests): answers below the threshold are always kept, the others when
    ``draw`` falls in the first ``sample_percent`` percent."""
    if not config.enabled:
        return None
    if confidence < config.confidence_threshold:
        return "low-confidence"
    if draw * 100.0 < config.sample_percent:
        return "sample"
    return None


def capture_keys(inference_id: str, at: datetime, image_type: str) -> tuple[str, str]:
    """``(image key, record key)`` of one capture, dated by ``at`` in UTC."""
    day = at.astimezone(UTC).strftime("%Y/%m/%d")
    base = f"{CAPTURE_PREFIX}{day}/{inference_id}"
    return f"{base}.{EXTENSIONS.get(image_type, 'bin')}", f"{base}.json"


def pointer_key(inference_id: str) -> str:
    """The key of the pointer from an inference id to its record."""
    return f"{IDS_PREFIX}{inference_id}.json"


def feedback_key(inference_id: str) -> str:
    """The key of the correction for one inference id (a later correction replaces it; the bucket is
    versioned, so earlier ones stay as noncurrent versions until the bucket's version expiry)."""
    return f"{FEEDBACK_PREFIX}{inference_id}.json"


def capture_record(
    *,
    inference_id: str,
    at: datetime,
    reason: CaptureReason,
    answer: dict[str, Any],
    class_names: list[str],
    serving: dict[str, Any],
    image_key: str,
    image_type: str,
    config: CaptureConfig,
) -> dict[str, Any]:
    """The JSON record kept beside a captured image: what was asked, what the model said, and why it was
    kept. ``serving`` is the ``@serving`` item that answered (its model, endpoint and task type)."""
    return {
        "version": RECORD_VERSION,
        "inference_id": inference_id,
        "captured_at": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "reason": reason,
        "confidence": answer_confidence(answer),
        "prediction": answer,
        "class_names": list(class_names),
        "model": {
            "run_id": serving.get("source_run_id"),
            "endpoint_name": serving.get("endpoint_name"),
            "endpoint_config_name": serving.get("endpoint_config_name"),
            "model_name": serving.get("model_name"),
            "task_type": serving.get("task_type"),
        },
        "image": {"key": image_key, "type": image_type},
        "capture": {
            "confidence_threshold": config.confidence_threshold,
            "sample_percent": config.sample_percent,
        },
    }


def feedback_record(*, inference_id: str, label: str, record_key: str, at: datetime) -> dict[str, Any]:
    """The correction kept for a captured inference."""
    return {
        "version": RECORD_VERSION,
        "inference_id": inference_id,
        "label": label,
        "record": record_key,
        "received_at": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
