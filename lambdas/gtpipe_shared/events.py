"""Parsing of the EventBridge events gtpipe reacts to.

The envelope is validated with Powertools' ``EventBridgeModel`` (pydantic); the ``detail`` fields are
pulled into small dataclasses so handlers never index raw dictionaries. Every parse error is an
``EventError`` whose message names the missing or malformed field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import ValidationError

S3_OBJECT_CREATED = "Object Created"

# detail-type -> (kind, name field, status field)
SAGEMAKER_DETAIL_TYPES: dict[str, tuple[str, str, str | None]] = {
    "SageMaker Training Job State Change": ("training", "TrainingJobName", "TrainingJobStatus"),
    "SageMaker Transform Job State Change": ("transform", "TransformJobName", "TransformJobStatus"),
    "SageMaker Endpoint State Change": ("endpoint", "EndpointName", "EndpointStatus"),
    "SageMaker Ground Truth Labeling Job State Change": ("labeling", "LabelingJobName", "LabelingJobStatus"),
    "SageMaker Model State Change": ("model", "ModelName", None),
    "SageMaker Endpoint Config State Change": ("endpoint-config", "EndpointConfigName", None),
}
# Start/end time fields SageMaker copies from Describe* into the event detail, by kind.
_TIME_FIELDS: dict[str, tuple[str, str]] = {
    "training": ("TrainingStartTime", "TrainingEndTime"),
    "transform": ("TransformStartTime", "TransformEndTime"),
    "labeling": ("CreationTime", "LastModifiedTime"),
}
# Model and endpoint-config events carry no status field: their existence is the news.
_DEFAULT_STATUS = {"model": "Created", "endpoint-config": "Created"}


class EventError(ValueError):
    """An event is not the expected shape; the message names the field."""


@dataclass(frozen=True)
class S3ObjectCreated:
    """An S3 ``Object Created`` event (EventBridge notifications enabled on the bucket)."""

    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    size: int | None
    time: datetime
    event_id: str


@dataclass(frozen=True)
class SageMakerStateChange:
    """A SageMaker job/resource state change. ``kind``: training, transform, endpoint, labeling,
    model or endpoint-config. Times are ISO-8601 UTC strings (None when absent)."""

    kind: str
    name: str
    status: str
    secondary_status: str | None
    failure_reason: str | None
    time: datetime
    event_id: str
    started_at: str | None = None
    ended_at: str | None = None
    endpoint_config_name: str | None = None
    detail: dict[str, Any] | None = None


def _envelope(event: Any) -> EventBridgeModel:
    if not isinstance(event, dict):
        raise EventError(f"expected an EventBridge event object, got {type(event).__name__}")
    try:
        return parse(event=event, model=EventBridgeModel)
    except (ValidationError, ValueError, TypeError) as exc:
        raise EventError(f"not an EventBridge event: {_first_error(exc)}") from exc


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        if errors:
            first = errors[0]
            return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg')}"
    cause = exc.__cause__
    if isinstance(cause, ValidationError):
        return _first_error(cause)
    return str(exc)[:200]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_s3_object_created(event: Any) -> S3ObjectCreated:
    """Parse an ``aws.s3`` ``Object Created`` event; raise EventError naming what is missing."""
    model = _envelope(event)
    if model.source != "aws.s3" or model.detail_type != S3_OBJECT_CREATED:
        raise EventError(
            f"expected source aws.s3 / detail-type '{S3_OBJECT_CREATED}', "
            f"got {model.source} / {model.detail_type}"
        )
    detail = model.detail if isinstance(model.detail, dict) else {}
    bucket = (detail.get("bucket") or {}).get("name")
    obj = detail.get("object") or {}
    key = obj.get("key")
    if not isinstance(bucket, str) or not bucket:
        raise EventError("detail.bucket.name is missing")
    if not isinstance(key, str) or not key:
        raise EventError("detail.object.key is missing")
    size = obj.get("size")
    return S3ObjectCreated(
        bucket=bucket,
        key=key,
        version_id=obj.get("version-id") or None,
        etag=obj.get("etag") or None,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        time=_utc(model.time),
        event_id=model.id,
    )


def normalize_status(status: str) -> str:
    """The API spelling of a status (``InService``) from the event spelling.

    Endpoint state-change events spell statuses in UPPER_SNAKE case (``IN_SERVICE``, ``FAILED``) while
    the Describe APIs and job events use CamelCase (``InService``, ``Failed``); handlers compare against
    the API spelling only.
    """
    if status.isupper() or "_" in status:
        return "".join(part.capitalize() for part in status.split("_") if part)
    return status


def iso_time(value: Any) -> str | None:
    """ISO-8601 UTC string for an epoch (seconds or milliseconds), ISO string or datetime; else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        moment = _utc(value)
    elif isinstance(value, int | float):
        # SageMaker events carry epoch milliseconds; anything past year 2286 in seconds is milliseconds.
        seconds = value / 1000 if value > 1e10 else value
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    elif isinstance(value, str):
        try:
            moment = _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    else:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _labeling_name_from_resources(resources: list[str]) -> str | None:
    for arn in resources:
        if ":labeling-job/" in arn:
            return arn.rsplit(":labeling-job/", 1)[1] or None
    return None


def parse_sagemaker_state_change(event: Any) -> SageMakerStateChange:
    """Parse a SageMaker state-change event (training, transform, endpoint, labeling, model, endpoint
    config). Labeling job names may only appear in ``resources[0]`` (``...:labeling-job/<name>``)."""
    model = _envelope(event)
    if model.source != "aws.sagemaker" or model.detail_type not in SAGEMAKER_DETAIL_TYPES:
        raise EventError(f"not a SageMaker state-change event: {model.source} / {model.detail_type}")
    kind, name_field, status_field = SAGEMAKER_DETAIL_TYPES[model.detail_type]
    detail = model.detail if isinstance(model.detail, dict) else {}
    name = detail.get(name_field)
    if not name and kind == "labeling":
        name = _labeling_name_from_resources(model.resources)
    if not isinstance(name, str) or not name:
        raise EventError(f"detail.{name_field} is missing")
    status = detail.get(status_field) if status_field else None
    if not status:
        status = _DEFAULT_STATUS.get(kind)
    if not isinstance(status, str) or not status:
        raise EventError(f"detail.{status_field} is missing")
    status = normalize_status(status)
    start_field, end_field = _TIME_FIELDS.get(kind, ("CreationTime", "LastModifiedTime"))
    secondary: Any = detail.get("SecondaryStatus")
    failure = detail.get("FailureReason")
    return SageMakerStateChange(
        kind=kind,
        name=name,
        status=status,
        secondary_status=secondary if isinstance(secondary, str) else None,
        failure_reason=failure if isinstance(failure, str) else None,
        time=_utc(model.time),
        event_id=model.id,
        started_at=iso_time(detail.get(start_field)),
        ended_at=iso_time(detail.get(end_field)) if kind in ("training", "transform") else None,
        endpoint_config_name=detail.get("EndpointConfigName") if kind == "endpoint" else None,
        detail=detail,
    )


def is_eventbridge_event(event: Any) -> bool:
    """True when a Lambda payload looks like an EventBridge event (has ``detail-type`` and ``source``)."""
    return isinstance(event, dict) and "detail-type" in event and "source" in event
