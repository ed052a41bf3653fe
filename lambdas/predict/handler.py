"""predict: ``POST /predict`` (API Gateway REST proxy) -> the serving endpoint's answer.

The request body is the raw image (base64-encoded by API Gateway when the content type is a binary media
type, at most MAX_API_IMAGE_BYTES), or a JSON ``{"upload_id"}`` naming an image uploaded with ``POST /uploads``
(up to 50 MiB; downscaled to fit the endpoint, boxes answered in the original's pixels: predict/uploaded.py). The image type is decided by magic bytes; a declared content type is only checked to be an image
type. Classification answers ``{"label", "confidence", "probabilities"}``; object detection answers
``{"detections": [{"label", "confidence", "box": {"left", "top", "width", "height"}}]}`` in pixels of the
submitted image, keeping boxes that score at least the ``min_confidence`` query parameter (default 0.5). Which endpoint to call comes from the ``@serving`` ledger item (cached briefly per container), so a
new deployment takes effect without redeploying this function. Every error is ``{"error", "code"}``.

Every answer also carries ``inference_id`` (a UUID4) and ``captured`` (whether the image and a record of the
answer were kept for feedback, ``gtpipe_shared.capture``; ``POST /feedback`` accepts corrections only for
captured ids). Capture follows ``CAPTURE_CONFIG`` (unset: off); ``X-Gtpipe-Capture: off`` opts a request
out. A failed capture is logged and counted (``CaptureErrors``), never answered as an error.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import random
import time
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared import ledger
from gtpipe_shared.aws import client, error_code, table
from gtpipe_shared.capture import (
    OPT_OUT_HEADER,
    answer_confidence,
    capture_keys,
    capture_reason,
    capture_record,
    new_inference_id,
    opted_out,
    pointer_key,
)
from gtpipe_shared.config import CaptureConfig, require_env
from gtpipe_shared.http import RequestError, error_response, header, json_response, never_raising
from gtpipe_shared.images import (
    MAX_API_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    content_type_acceptable,
    declared_dimensions,
    detect_image_type,
    is_supported,
)
from gtpipe_shared.metrics import PredictionError, argmax, parse_prediction
from gtpipe_shared.tasks import task_spec

from predict.uploaded import Prepared, names_an_upload, prepare_upload
from predict.waking import endpoint_gone, waking_response

logger = Logger()
tracer = Tracer()
metrics = Metrics()

_cache: dict[str, Any] = {"item": None, "at": 0.0}
DEFAULT_MIN_CONFIDENCE = 0.5
# The random sample's source; tests replace it with a seeded random.Random.
rng = random.Random()


def decode_body(event: dict[str, Any]) -> bytes:
    """The request body as bytes (base64-decoded when API Gateway marked it so)."""
    body = event.get("body")
    if body is None or body == "":
        raise RequestError(400, "EmptyBody", "request body is empty: send the image bytes")
    if not isinstance(body, str):
        raise RequestError(400, "InvalidBody", "request body must be a string")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RequestError(400, "InvalidBase64", "request body is not valid base64") from exc
    # Without binary media types configured API Gateway passes text; surrogateescape keeps raw bytes.
    return body.encode("utf-8", "surrogateescape")


def validate_image(event: dict[str, Any]) -> tuple[bytes, str]:
    """``(image bytes, detected type)``; RequestError 400/413/415 otherwise (413 over MAX_API_IMAGE_BYTES,
    and for images whose header declares more than MAX_IMAGE_PIXELS pixels)."""
    data = decode_body(event)
    if not data:
        raise RequestError(400, "EmptyBody", "request body is empty: send the image bytes")
    if len(data) > MAX_API_IMAGE_BYTES:
        # Below what fits a synchronous Lambda invocation after API Gateway's base64 (gtpipe_shared.images),
        # so every image near the limit gets this answer rather than depending on the size of the headers.
        raise RequestError(
            413, "PayloadTooLarge", f"image is {len(data)} bytes; the limit is {MAX_API_IMAGE_BYTES}"
        )
    declared = header(event.get("headers"), "content-type")
    if not content_type_acceptable(declared):
        raise RequestError(415, "UnsupportedMediaType", f"content type {declared} is not an image type")
    detected = detect_image_type(data)
    if detected is None:
        raise RequestError(400, "NotAnImage", "request body is not a JPEG or PNG image")
    if not is_supported(detected):
        raise RequestError(415, "UnsupportedImageType", f"{detected} is not supported: send JPEG or PNG")
    dimensions = declared_dimensions(data)
    if dimensions and dimensions[0] * dimensions[1] > MAX_IMAGE_PIXELS:
        # A decompression bomb: a small body that decodes to gigabytes; never send it to the endpoint.
        width, height = dimensions
        raise RequestError(
            413, "ImageTooLarge", f"image is {width}x{height} pixels; the limit is {MAX_IMAGE_PIXELS} pixels"
        )
    return data, detected


def request_image(event: dict[str, Any]) -> Prepared:
    """The image to predict on: the request body, or (a JSON body) the upload it names
    (:mod:`predict.uploaded`); RequestError 4xx naming the problem."""
    if names_an_upload(event):
        return prepare_upload(event, require_env("DATA_BUCKET"))
    data, detected = validate_image(event)
    return Prepared(payload=data, image_type=detected, size=declared_dimensions(data), original=data)


def serving() -> dict[str, Any] | None:
    """The ``@serving`` item, cached for SERVING_CACHE_SECONDS (default 5).

    Short, so the model named in answers follows a blue/green update within seconds (the endpoint name
    stays the same across updates, only the record changes).
    """
    ttl = float(os.environ.get("SERVING_CACHE_SECONDS", "5"))
    now = time.monotonic()
    if _cache["item"] is not None and now - _cache["at"] < ttl:
        return dict(_cache["item"])
    response = table(require_env("RUNS_TABLE")).get_item(Key={"run_id": ledger.SERVING_RUN_ID})
    item = response.get("Item")
    if item:
        _cache.update(item=ledger.from_dynamo(item), at=now)
        return dict(_cache["item"])
    return None


def clear_cache() -> None:
    """Forget the cached ``@serving`` item."""
    _cache.update(item=None, at=0.0)


def classification_answer(probs: list[float], class_names: list[str]) -> dict[str, Any]:
    """Top label, its confidence and every class's probability."""
    if len(probs) != len(class_names):
        raise PredictionError(f"endpoint returned {len(probs)} probabilities for {len(class_names)} classes")
    best = argmax(probs)
    return {
        "label": class_names[best],
        "confidence": round(probs[best], 6),
        "probabilities": {name: round(p, 6) for name, p in zip(class_names, probs, strict=True)},
    }


def min_confidence(event: dict[str, Any]) -> float:
    """The ``min_confidence`` query parameter (0..1, default 0.5); RequestError 400 when malformed."""
    raw = (event.get("queryStringParameters") or {}).get("min_confidence")
    if raw is None:
        return DEFAULT_MIN_CONFIDENCE
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 <= value <= 1.0:  # also rejects nan
        raise RequestError(
            400, "InvalidParameter", f"min_confidence must be a number from 0 to 1, got {raw!r}"
        )
    return value


def pixel_box(row: list[Any], width: int, height: int) -> dict[str, int]:
    """A ``[.., .., xmin, ymin, xmax, ymax]`` row (0..1 of the image) as a pixel box clipped to the image."""
    xmin, ymin, xmax, ymax = (min(max(float(v), 0.0), 1.0) for v in row[2:6])
    left, top = round(xmin * width), round(ymin * height)
    right, bottom = round(max(xmin, xmax) * width), round(max(ymin, ymax) * height)
    return {"left": left, "top": top, "width": right - left, "height": bottom - top}


def detection_answer(
    payload: Any, class_names: list[str], size: tuple[int, int], threshold: float
) -> dict[str, Any]:
    """Boxes scoring at least ``threshold`` from ``{"prediction": [[class, score, x0, y0, x1, y1], ...]}``
    (the built-in object-detection format, coordinates relative to the image), best first, in pixels of
    an image of ``size`` (width, height)."""
    rows = payload.get("prediction") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        raise PredictionError("expected {'prediction': [[class_id, score, xmin, ymin, xmax, ymax], ...]}")
    kept: list[tuple[float, str, dict[str, int]]] = []
    for row in rows:
        if not isinstance(row, list) or len(row) < 6:
            raise PredictionError("each detection must be [class_id, score, xmin, ymin, xmax, ymax]")
        class_id, score = int(row[0]), float(row[1])
        if class_id < 0 or score < threshold:
            continue
        name = class_names[class_id] if class_id < len(class_names) else str(class_id)
        kept.append((score, name, pixel_box(row, *size)))
    kept.sort(key=lambda detection: -detection[0])
    return {
        "detections": [
            {"label": name, "confidence": round(score, 6), "box": box} for score, name, box in kept
        ]
    }


@tracer.capture_method
def invoke(endpoint_name: str, data: bytes) -> Any:
    """InvokeEndpoint with the image; the parsed JSON answer."""
    response = client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint_name, ContentType="application/x-image", Accept="application/json", Body=data
    )
    raw = response["Body"].read()
    return json.loads(raw)


def model_rejected_input(exc: ClientError) -> bool:
    """A ModelError whose container answered 4xx: the request, not the endpoint, is at fault."""
    if error_code(exc) != "ModelError":
        return False
    original = exc.response.get("OriginalStatusCode")
    return isinstance(original, int) and 400 <= original < 500


def predict(event: dict[str, Any]) -> dict[str, Any]:
    """The whole request, as an API Gateway proxy response."""
    try:
        image = request_image(event)
        threshold = min_confidence(event)
    except RequestError as exc:
        metrics.add_metric(name="BadRequests", unit=MetricUnit.Count, value=1)
        return error_response(exc.status, exc.code, exc.message)
    target = serving()
    if not target or not target.get("endpoint_name"):
        return error_response(503, "NoModel", "no model deployed yet")
    endpoint_name = str(target["endpoint_name"])
    # A parked endpoint (gtpipe_shared.idle) answers 503 Waking and is woken (predict/waking.py).
    wake = waking_response(target)
    if wake is not None:
        return wake
    class_names = [str(name) for name in target.get("class_names") or []]
    # notify's publish always writes the task type; an item without a known one is an internal error
    # (UnknownTaskType, logged; 500), never answered as some assumed task.
    detection = task_spec(target.get("task_type")).boxes
    if detection and image.size is None:
        # Boxes are answered in pixels of the submitted image, so its header must declare its size.
        return error_response(400, "InvalidImage", "the image header does not declare its width and height")
    try:
        payload = invoke(endpoint_name, image.payload)
        if image.size is not None and detection:
            # Relative boxes times the ORIGINAL size: pixels of the submitted image, even when the endpoint
            # got a downscaled copy of an upload.
            answer = detection_answer(payload, class_names, image.size, threshold)
        else:
            answer = classification_answer(parse_prediction(payload), class_names)
    except ClientError as exc:
        if model_rejected_input(exc):
            # The model could not decode the image (a truncated PNG/JPEG passes the magic-byte check).
            metrics.add_metric(name="BadRequests", unit=MetricUnit.Count, value=1)
            return error_response(400, "InvalidImage", "the image could not be decoded")
        if endpoint_gone(exc):
            # Parked since @serving was cached: the fresh record says so (the parker marks it first).
            clear_cache()
            fresh = serving()
            wake = waking_response(fresh) if fresh else None
            if wake is not None:
                return wake
        logger.warning("endpoint call failed", extra={"error": error_code(exc)})
        metrics.add_metric(name="EndpointErrors", unit=MetricUnit.Count, value=1)
        return error_response(
            502, "EndpointError", f"the model endpoint failed ({error_code(exc) or 'error'})"
        )
    except (BotoCoreError, ValueError, PredictionError) as exc:
        logger.warning("endpoint answer unusable", extra={"error": str(exc)[:200]})
        metrics.add_metric(name="EndpointErrors", unit=MetricUnit.Count, value=1)
        return error_response(502, "BadModelResponse", "the model endpoint returned an unusable answer")
    answer["model"] = {"run_id": target.get("source_run_id"), "endpoint": endpoint_name}
    answer["image_type"] = image.image_type
    answer["inference_id"] = new_inference_id()
    # The original image is kept: the answer's boxes are in its pixels.
    answer["captured"] = capture(event, answer, target, (image.original, image.image_type))
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=1)
    return json_response(200, answer)


def capture(
    event: dict[str, Any], answer: dict[str, Any], target: dict[str, Any], image: tuple[bytes, str]
) -> bool:
    """Keep the image and a record of ``answer`` when the capture rules say so (module docstring); whether
    it was kept. Never raises: a failure is logged and counted, and the prediction is answered anyway."""
    raw = os.environ.get("CAPTURE_CONFIG", "").strip()
    if not raw or opted_out(header(event.get("headers"), OPT_OUT_HEADER)):
        return False
    try:
        config = CaptureConfig.model_validate_json(raw)
        reason = capture_reason(answer_confidence(answer), config, rng.random())
        if reason is None:
            return False
        bucket = require_env("DATA_BUCKET")
        data, image_type = image
        at = datetime.now(UTC)
        inference_id = str(answer["inference_id"])
        image_key, record_key = capture_keys(inference_id, at, image_type)
        record = capture_record(
            inference_id=inference_id,
            at=at,
            reason=reason,
            answer={k: v for k, v in answer.items() if k not in ("inference_id", "captured")},
            class_names=[str(name) for name in target.get("class_names") or []],
            serving=target,
            image_key=image_key,
            image_type=image_type,
            config=config,
        )
        s3 = client("s3")
        s3.put_object(Bucket=bucket, Key=image_key, Body=data, ContentType=image_type)
        s3.put_object(
            Bucket=bucket, Key=record_key, Body=json.dumps(record).encode(), ContentType="application/json"
        )
        # The pointer is written last: feedback finds only complete captures.
        pointer = {"inference_id": inference_id, "record": record_key, "image": image_key}
        s3.put_object(
            Bucket=bucket,
            Key=pointer_key(inference_id),
            Body=json.dumps(pointer).encode(),
            ContentType="application/json",
        )
    except Exception as exc:  # capture must never fail the prediction
        logger.warning("capture failed", extra={"error": f"{type(exc).__name__}: {str(exc)[:200]}"})
        metrics.add_metric(name="CaptureErrors", unit=MetricUnit.Count, value=1)
        return False
    metrics.add_metric(name="Captured", unit=MetricUnit.Count, value=1)
    return True


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy event -> proxy response; never raises (no stack traces reach clients)."""
    return never_raising(event, predict, logger=logger)
