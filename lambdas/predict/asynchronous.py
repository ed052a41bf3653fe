"""``POST /predict/async {"upload_id"}`` and ``GET /predictions/{id}``: predictions on the asynchronous endpoint
(``gtpipe_shared.async_inference``).

POST checks the upload as ``POST /predict {"upload_id"}`` does (HeadObject, then only the first HEADER_BYTES
of the object: its type and declared size; the image itself never passes through this function), calls
InvokeEndpointAsync with the upload as ``InputLocation`` and the prediction id as ``InferenceId``, writes the
request record and answers 202 ``{"prediction_id", "status": "pending", "status_url"}``.

GET reads the record, then the output SageMaker wrote at the record's ``output_location``: 200 with the same
JSON as ``POST /predict`` (boxes in pixels of the ORIGINAL upload: the endpoint answers them relative to the
image, :func:`predict.handler.detection_answer` scales them), 202 while neither output nor failure exists,
502 ``PredictionFailed`` (the model failed) or 400 ``InvalidImage`` (the model refused the image). A missing
object reads as 403 to a caller without ``s3:ListBucket`` (predict has none), so 403 and 404 both mean "not
there (yet)" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError
from gtpipe_shared.async_inference import (
    MAX_INVOCATION_TIMEOUT_SECONDS,
    is_prediction_id,
    new_prediction_id,
    request_key,
)
from gtpipe_shared.aws import client, error_code
from gtpipe_shared.config import require_env
from gtpipe_shared.http import RequestError, error_response, json_response
from gtpipe_shared.metrics import PredictionError, parse_prediction
from gtpipe_shared.s3uri import parse_s3_uri
from gtpipe_shared.tasks import task_spec
from gtpipe_shared.uploads import upload_key

from predict import handler as sync
from predict.uploaded import checked_image, checked_upload_size, requested_upload

ASYNC_ROUTE = "/predict/async"
STATUS_ROUTE = "/predictions/{id}"
# JPEG/PNG declare their size before the pixels; 256 KiB covers a JPEG's EXIF/ICC segments (64 KiB each).
HEADER_BYTES = 256 * 1024
MISSING = ("404", "NoSuchKey", "403", "AccessDenied")


def is_async_route(event: dict[str, Any]) -> bool:
    """Whether API Gateway routed the request to one of this module's routes."""
    return event.get("resource") in (ASYNC_ROUTE, STATUS_ROUTE)


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """The async routes, as an API Gateway proxy response (RequestError answered as JSON 4xx)."""
    try:
        if event.get("resource") == STATUS_ROUTE:
            return status(event)
        return submit(event)
    except RequestError as exc:
        sync.metrics.add_metric(name="BadRequests", unit=MetricUnit.Count, value=1)
        return error_response(exc.status, exc.code, exc.message)


def _upload_header(bucket: str, upload_id: str) -> tuple[str, tuple[int, int]]:
    """``(type, (width, height))`` of an upload from its first bytes; RequestError 4xx as for POST /predict."""
    s3 = client("s3")
    checked_upload_size(s3, bucket, upload_id)
    start = s3.get_object(Bucket=bucket, Key=upload_key(upload_id), Range=f"bytes=0-{HEADER_BYTES - 1}")
    return checked_image(start["Body"].read())


def status_url(event: dict[str, Any], prediction_id: str) -> str:
    """Where to poll: the API's own URL when the request says it, else the path below the stage."""
    context = event.get("requestContext") or {}
    domain, stage = context.get("domainName"), context.get("stage")
    if isinstance(domain, str) and domain and isinstance(stage, str) and stage:
        return f"https://{domain}/{stage}/predictions/{prediction_id}"
    return f"/predictions/{prediction_id}"


def submit(event: dict[str, Any]) -> dict[str, Any]:
    """``POST /predict/async``: 202 with the prediction id, or a JSON error."""
    bucket = require_env("DATA_BUCKET")
    endpoint_name = require_env("ASYNC_ENDPOINT_NAME")
    upload_id = requested_upload(event)
    threshold = sync.min_confidence(event)
    image_type, size = _upload_header(bucket, upload_id)
    target = sync.serving()
    if not target or not target.get("endpoint_name"):
        return error_response(503, "NoModel", "no model deployed yet")
    task_spec(target.get("task_type"))  # an unknown task type is an internal error, as for POST /predict
    prediction_id = new_prediction_id()
    timeout = int(os.environ.get("ASYNC_INVOCATION_TIMEOUT_SECONDS", "900"))
    try:
        answer = client("sagemaker-runtime").invoke_endpoint_async(
            EndpointName=endpoint_name,
            InputLocation=f"s3://{bucket}/{upload_key(upload_id)}",
            ContentType="application/x-image",
            Accept="application/json",
            InferenceId=prediction_id,
            InvocationTimeoutSeconds=min(timeout, MAX_INVOCATION_TIMEOUT_SECONDS),
        )
    except ClientError as exc:
        sync.logger.warning("async endpoint call failed", extra={"error": error_code(exc)})
        sync.metrics.add_metric(name="EndpointErrors", unit=MetricUnit.Count, value=1)
        if error_code(exc) in ("ValidationError", "ValidationException"):
            # No async endpoint (yet): the endpoint function mirrors the real-time model after a deployment.
            return error_response(
                503, "AsyncEndpointNotReady", "the asynchronous endpoint is not serving yet"
            )
        return error_response(
            502, "EndpointError", f"the model endpoint failed ({error_code(exc) or 'error'})"
        )
    record = {
        "prediction_id": prediction_id,
        "upload_id": upload_id,
        "endpoint": endpoint_name,
        "output_location": answer.get("OutputLocation"),
        "failure_location": answer.get("FailureLocation"),
        "image_type": image_type,
        "size": list(size),
        "min_confidence": threshold,
        "task_type": target.get("task_type"),
        "class_names": [str(name) for name in target.get("class_names") or []],
        "model": {"run_id": target.get("source_run_id"), "endpoint": endpoint_name},
        "submitted_at": datetime.now(UTC).isoformat(),
    }
    client("s3").put_object(
        Bucket=bucket,
        Key=request_key(prediction_id),
        Body=json.dumps(record).encode(),
        ContentType="application/json",
    )
    sync.metrics.add_metric(name="AsyncPredictions", unit=MetricUnit.Count, value=1)
    return json_response(
        202,
        {"prediction_id": prediction_id, "status": "pending", "status_url": status_url(event, prediction_id)},
    )


def _read(uri: Any) -> bytes | None:
    """The object at an ``s3://`` URI, or None when it is not there (yet)."""
    if not isinstance(uri, str) or not uri:
        return None
    bucket, key = parse_s3_uri(uri)
    try:
        return bytes(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        if error_code(exc) in MISSING:
            return None
        raise


def status(event: dict[str, Any]) -> dict[str, Any]:
    """``GET /predictions/{id}``: 200 answer, 202 pending, or a JSON error (module docstring)."""
    raw_id = (event.get("pathParameters") or {}).get("id")
    if not is_prediction_id(raw_id):
        raise RequestError(
            400, "InvalidPredictionId", "the id must be a prediction_id answered by POST /predict/async"
        )
    prediction_id = str(raw_id)
    bucket = require_env("DATA_BUCKET")
    raw = _read(f"s3://{bucket}/{request_key(prediction_id)}")
    if raw is None:
        raise RequestError(
            404, "PredictionNotFound", f"no prediction {prediction_id} (they expire after a week)"
        )
    record = json.loads(raw)
    output = _read(record.get("output_location"))
    if output is not None:
        return _answer(record, output)
    failure = _read(record.get("failure_location"))
    if failure is not None:
        return _failed(failure)
    return json_response(
        202,
        {"prediction_id": prediction_id, "status": "pending", "status_url": status_url(event, prediction_id)},
    )


def _answer(record: dict[str, Any], output: bytes) -> dict[str, Any]:
    """The endpoint's output as ``POST /predict`` answers it (formatting shared with predict.handler)."""
    class_names = [str(name) for name in record.get("class_names") or []]
    try:
        payload = json.loads(output)
        if task_spec(record.get("task_type")).boxes:
            width, height = (int(v) for v in record["size"])
            answer = sync.detection_answer(
                payload, class_names, (width, height), float(record["min_confidence"])
            )
        else:
            answer = sync.classification_answer(parse_prediction(payload), class_names)
    except (ValueError, PredictionError) as exc:
        sync.logger.warning("async endpoint answer unusable", extra={"error": str(exc)[:200]})
        return error_response(502, "BadModelResponse", "the model endpoint returned an unusable answer")
    answer["model"] = record.get("model")
    answer["image_type"] = record.get("image_type")
    answer["inference_id"] = record.get("prediction_id")
    answer["prediction_id"] = record.get("prediction_id")
    answer["status"] = "completed"
    return json_response(200, answer)


def _failed(failure: bytes) -> dict[str, Any]:
    """The failure SageMaker recorded: 400 when the model refused the image (a 4xx from the container),
    502 otherwise; the model's message is kept short and never carries a stack trace of ours."""
    text = failure.decode("utf-8", "replace")[:300]
    if "client error (4" in text.lower():
        return error_response(400, "InvalidImage", "the image could not be decoded")
    return error_response(502, "PredictionFailed", f"the asynchronous prediction failed: {text}")
