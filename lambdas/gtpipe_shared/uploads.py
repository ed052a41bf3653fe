"""Large images: ``POST /uploads`` presigns an S3 POST under ``uploads/``; ``POST /predict {"upload_id"}``
predicts on the uploaded object (issue 19).

An image sent as the body of ``POST /predict`` is limited to MAX_API_IMAGE_BYTES (4 MiB, gtpipe_shared.images):
API Gateway passes it to Lambda base64-encoded and a synchronous invocation's payload is at most 6 MB. An
upload goes straight to S3 instead, so its limit is ours: MAX_UPLOAD_BYTES (50 MiB). Why 50 MiB: the predict
function reads the object into memory and decodes it; JPEG and PNG photos of up to MAX_IMAGE_PIXELS (89.5
megapixels, Pillow's decompression-bomb threshold) compress to well under 50 MiB, so a larger file is either
not a photo or over the pixel limit anyway, and 50 MiB plus one decoded 89.5-megapixel image fits the function's
memory. The presigned POST lives UPLOAD_EXPIRES_SECONDS (5 minutes: long enough to start an upload right
away, short enough that a leaked form is useless soon), and the ``uploads/`` prefix expires after
UPLOAD_RETENTION_DAYS (the bucket's lifecycle rule ``ExpireUploads``).

POST policy conditions (each form field must match; ``content-length-range`` bounds the file's size):
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from gtpipe_shared.images import SUPPORTED_TYPES

UPLOAD_PREFIX = "uploads/"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
UPLOAD_EXPIRES_SECONDS = 300
UPLOAD_RETENTION_DAYS = 1
UPLOAD_CONTENT_TYPES = SUPPORTED_TYPES
_UPLOAD_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def new_upload_id() -> str:
    """A fresh upload id (a UUID4): unguessable, so one client cannot predict another's object key."""
    return str(uuid.uuid4())


def is_upload_id(value: Any) -> bool:
    """True for a lowercase UUID4 string (what :func:`new_upload_id` makes); nothing else names an object."""
    return isinstance(value, str) and bool(_UPLOAD_ID.match(value))


def upload_key(upload_id: str) -> str:
    """The object key of an upload; ValueError for anything but an upload id (no path tricks)."""
    if not is_upload_id(upload_id):
        raise ValueError(f"not an upload id: {upload_id!r}")
    return f"{UPLOAD_PREFIX}{upload_id}"


def post_fields_and_conditions(
    content_type: str, kms_key_arn: str | None
) -> tuple[dict[str, str], list[Any]]:
    """The form fields a client must send and the policy conditions that pin them (boto3's
    ``generate_presigned_post`` adds ``bucket``, ``key`` and the signature's own fields).

    The object is encrypted with the bucket's KMS key (``x-amz-server-side-encryption: aws:kms`` and the
    key's ARN), its Content-Type is exactly ``content_type`` (JPEG or PNG), and its size 1..MAX_UPLOAD_BYTES.
    """
    if content_type not in UPLOAD_CONTENT_TYPES:
        raise ValueError(f"content type must be one of {', '.join(UPLOAD_CONTENT_TYPES)}")
    fields = {"Content-Type": content_type}
    if kms_key_arn:
        fields["x-amz-server-side-encryption"] = "aws:kms"
        fields["x-amz-server-side-encryption-aws-kms-key-id"] = kms_key_arn
    conditions: list[Any] = [{name: value} for name, value in fields.items()]
    conditions.append(["content-length-range", 1, MAX_UPLOAD_BYTES])
    return fields, conditions
