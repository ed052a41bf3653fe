"""feedback: ``POST /feedback {"inference_id", "label"}`` -> a user's correction of a captured prediction.

The inference id must be one ``POST /predict`` answered with ``"captured": true`` (and not yet expired by
the bucket's lifecycle rule); the label must be one of the class names of the model that made that
prediction (kept in its capture record). The correction is kept at ``captured/feedback/<inference id>.json``
(``gtpipe_shared.capture``); a later correction of the same id replaces it. Answers: 201 ``{"inference_id",
"label", "status": "recorded"}``; 400 naming the problem for bad input; 404 ``NotCaptured``. Every error is
``{"error", "code"}``; no stack trace reaches a client.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from gtpipe_shared.aws import client, error_code
from gtpipe_shared.capture import feedback_key, feedback_record, pointer_key, valid_inference_id
from gtpipe_shared.config import require_env
from gtpipe_shared.http import RequestError, error_response, json_object_body, json_response, never_raising

logger = Logger()
tracer = Tracer()
metrics = Metrics()

MAX_BODY_BYTES = 16 * 1024
MAX_LABEL_CHARS = 256


def parse_request(event: dict[str, Any]) -> tuple[str, str]:
    """``(inference_id, label)`` from the JSON body; RequestError 400 naming what is wrong."""
    data = json_object_body(event, max_bytes=MAX_BODY_BYTES, shape='{"inference_id": ..., "label": ...}')
    unknown = sorted(set(data) - {"inference_id", "label"})
    if unknown:
        raise RequestError(400, "UnknownField", f"unknown fields: {', '.join(unknown)}")
    inference_id, label = data.get("inference_id"), data.get("label")
    if inference_id is None:
        raise RequestError(400, "MissingField", "inference_id is required")
    if not valid_inference_id(inference_id):
        raise RequestError(
            400, "InvalidInferenceId", "inference_id must be the UUID a prediction answered (lower case)"
        )
    if label is None:
        raise RequestError(400, "MissingField", "label is required")
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_CHARS:
        raise RequestError(
            400, "InvalidLabel", f"label must be a class name (1 to {MAX_LABEL_CHARS} characters)"
        )
    return inference_id, label.strip()


def read_json(bucket: str, key: str) -> dict[str, Any] | None:
    """The JSON object at ``key``, or None when there is none."""
    try:
        response = client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    value = json.loads(response["Body"].read())
    return value if isinstance(value, dict) else None


def record_feedback(event: dict[str, Any]) -> dict[str, Any]:
    """The whole request, as an API Gateway proxy response."""
    try:
        inference_id, label = parse_request(event)
    except RequestError as exc:
        metrics.add_metric(name="BadRequests", unit=MetricUnit.Count, value=1)
        return error_response(exc.status, exc.code, exc.message)
    bucket = require_env("DATA_BUCKET")
    pointer = read_json(bucket, pointer_key(inference_id)) or {}
    record_key = str(pointer.get("record") or "")
    record = read_json(bucket, record_key) if record_key else None
    if record is None:
        return error_response(
            404, "NotCaptured", f"inference {inference_id} was not captured (or its capture has expired)"
        )
    class_names = [str(name) for name in record.get("class_names") or []]
    if label not in class_names:
        metrics.add_metric(name="BadRequests", unit=MetricUnit.Count, value=1)
        shown = ", ".join(class_names[:20]) + (", ..." if len(class_names) > 20 else "")
        return error_response(
            400, "UnknownLabel", f"label {label!r} is not one of the model's classes: {shown}"
        )
    correction = feedback_record(
        inference_id=inference_id, label=label, record_key=record_key, at=datetime.now(UTC)
    )
    client("s3").put_object(
        Bucket=bucket,
        Key=feedback_key(inference_id),
        Body=json.dumps(correction).encode(),
        ContentType="application/json",
    )
    metrics.add_metric(name="Feedback", unit=MetricUnit.Count, value=1)
    return json_response(201, {"inference_id": inference_id, "label": label, "status": "recorded"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy event -> proxy response; never raises (no stack traces reach clients)."""
    return never_raising(event, record_feedback, logger=logger)
