"""uploads: ``POST /uploads {"content_type": "image/jpeg"|"image/png"}`` -> a presigned S3 POST for one image.

Answers 201 ``{"upload_id", "url", "fields", "expires_in", "max_bytes"}``: the client POSTs ``fields`` plus its
``file`` (last) as ``multipart/form-data`` to ``url`` within ``expires_in`` seconds, then asks
``POST /predict {"upload_id"}``. The object lands at ``uploads/<upload_id>`` of the data bucket, encrypted
with the bucket's KMS key; S3 itself refuses a file outside 1..``max_bytes`` bytes, another Content-Type or
another key (``gtpipe_shared.uploads``). A presigned POST is signed with this function's role credentials,
so the role may put objects under ``uploads/`` (and use the key to encrypt them), nothing else.
Every error is ``{"error", "code"}``; no stack trace reaches a client.

boto3 ``generate_presigned_post``:
https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/s3/client/generate_presigned_post.html
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from gtpipe_shared.config import require_env
from gtpipe_shared.http import RequestError, error_response, json_object_body, json_response, never_raising
from gtpipe_shared.uploads import (
    MAX_UPLOAD_BYTES,
    UPLOAD_CONTENT_TYPES,
    UPLOAD_EXPIRES_SECONDS,
    new_upload_id,
    post_fields_and_conditions,
    upload_key,
)

logger = Logger()
tracer = Tracer()
metrics = Metrics()

MAX_BODY_BYTES = 1024
SHAPE = '{"content_type": "image/jpeg" | "image/png"}'


@cache
def presigning_client() -> Any:
    """An S3 client that signs with SigV4 (required for SSE-KMS uploads)."""
    return boto3.client("s3", config=Config(signature_version="s3v4"))


def requested_content_type(event: dict[str, Any]) -> str:
    """The ``content_type`` of the JSON body; RequestError 400 naming the problem."""
    data = json_object_body(event, max_bytes=MAX_BODY_BYTES, shape=SHAPE)
    unknown = sorted(set(data) - {"content_type"})
    if unknown:
        raise RequestError(400, "UnknownField", f"unknown fields: {', '.join(unknown)}")
    content_type = data.get("content_type")
    if content_type is None:
        raise RequestError(400, "MissingField", "content_type is required")
    if content_type not in UPLOAD_CONTENT_TYPES:
        raise RequestError(
            400,
            "UnsupportedImageType",
            f"content_type must be one of {', '.join(UPLOAD_CONTENT_TYPES)}, got {str(content_type)[:64]!r}",
        )
    return str(content_type)


def create_upload(event: dict[str, Any]) -> dict[str, Any]:
    """The whole request, as an API Gateway proxy response."""
    try:
        content_type = requested_content_type(event)
    except RequestError as exc:
        metrics.add_metric(name="BadRequests", unit=MetricUnit.Count, value=1)
        return error_response(exc.status, exc.code, exc.message)
    bucket = require_env("DATA_BUCKET")
    upload_id = new_upload_id()
    fields, conditions = post_fields_and_conditions(content_type, os.environ.get("DATA_KEY_ARN") or None)
    post = presigning_client().generate_presigned_post(
        Bucket=bucket,
        Key=upload_key(upload_id),
        Fields=fields,
        Conditions=conditions,
        ExpiresIn=UPLOAD_EXPIRES_SECONDS,
    )
    metrics.add_metric(name="UploadsPresigned", unit=MetricUnit.Count, value=1)
    return json_response(
        201,
        {
            "upload_id": upload_id,
            "url": post["url"],
            "fields": post["fields"],
            "expires_in": UPLOAD_EXPIRES_SECONDS,
            "max_bytes": MAX_UPLOAD_BYTES,
        },
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy event -> proxy response; never raises (no stack traces reach clients)."""
    return never_raising(event, create_upload, logger=logger)
