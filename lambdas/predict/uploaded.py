"""``POST /predict {"upload_id"}``: the image uploaded with ``POST /uploads``, made to fit the endpoint.

The object ``uploads/<upload_id>`` is checked with HeadObject (its size) before it is read. A missing object
is 404 ``UploadNotFound``: S3 answers a missing key with 403, not 404, to a caller without ``s3:ListBucket``
(predict has none), so both mean "no such upload" here
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).

The endpoint takes at most MAX_IMAGE_BYTES (6 MB) per InvokeEndpoint request
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html, ``Body``), so an
upload that is larger, or whose longer side exceeds MAX_ENDPOINT_SIDE pixels, is downscaled with Pillow (the
aspect ratio kept) and sent as a JPEG. MAX_ENDPOINT_SIDE is well above every model input this project trains
(224..512 pixels; the model resizes again), so the downscale costs no accuracy. The endpoint answers boxes
relative to the image (0..1), so the caller scales them to the ORIGINAL image's pixels.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from gtpipe_shared.aws import client, error_code
from gtpipe_shared.http import RequestError, header, json_object_body
from gtpipe_shared.images import (
    JPEG,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    declared_dimensions,
    detect_image_type,
    is_supported,
)
from gtpipe_shared.uploads import MAX_UPLOAD_BYTES, is_upload_id, upload_key
from PIL import Image, UnidentifiedImageError

MAX_ENDPOINT_SIDE = 2048
JPEG_QUALITY = 90
MAX_BODY_BYTES = 1024
SHAPE = '{"upload_id": "<id from POST /uploads>"}'


@dataclass(frozen=True)
class Prepared:
    """What predict sends and how it answers: the endpoint's image, the original's type, size and bytes."""

    payload: bytes
    image_type: str
    size: tuple[int, int] | None
    original: bytes


def names_an_upload(event: dict[str, Any]) -> bool:
    """Whether the request is ``POST /predict {"upload_id"}``: an ``application/json`` body that starts like a
    JSON object. Anything else declared as JSON (an image, say) is a request body with the wrong content type,
    answered as one (415 ``UnsupportedMediaType``)."""
    declared = header(event.get("headers"), "content-type") or ""
    body = event.get("body")
    if declared.split(";", 1)[0].strip().lower() != "application/json" or not isinstance(body, str):
        return False
    start = body[:64]
    if event.get("isBase64Encoded"):
        try:
            start = base64.b64decode(body[:64], validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return False
    return start.lstrip().startswith("{")


def requested_upload(event: dict[str, Any]) -> str:
    """The ``upload_id`` of a JSON body; RequestError 400 naming the problem."""
    try:
        data = json_object_body(event, max_bytes=MAX_BODY_BYTES, shape=SHAPE)
    except RequestError as exc:
        if exc.code not in ("InvalidJson", "InvalidBody"):
            raise
        # An image sent as application/json: the content type, not the image, is wrong.
        raise RequestError(
            415,
            "UnsupportedMediaType",
            f"content type application/json is not an image type: send {SHAPE}, or the image bytes as "
            "image/jpeg or image/png",
        ) from exc
    unknown = sorted(set(data) - {"upload_id"})
    if unknown:
        raise RequestError(400, "UnknownField", f"unknown fields: {', '.join(unknown)}")
    upload_id = data.get("upload_id")
    if upload_id is None:
        raise RequestError(400, "MissingField", "upload_id is required")
    if not is_upload_id(upload_id):
        raise RequestError(400, "InvalidUploadId", "upload_id must be an id answered by POST /uploads")
    return str(upload_id)


def checked_upload_size(s3: Any, bucket: str, upload_id: str) -> int:
    """The uploaded object's size in bytes; RequestError 404 when there is none (or it may not be read), 413
    when it is over the limit, 400 when it is empty."""
    try:
        head = s3.head_object(Bucket=bucket, Key=upload_key(upload_id))
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "403", "AccessDenied"):
            raise RequestError(
                404, "UploadNotFound", f"no upload {upload_id}: upload the image first (it expires in a day)"
            ) from exc
        raise
    size = int(head.get("ContentLength", 0))
    if size > MAX_UPLOAD_BYTES:
        raise RequestError(413, "PayloadTooLarge", f"upload is {size} bytes; the limit is {MAX_UPLOAD_BYTES}")
    if size == 0:
        raise RequestError(400, "EmptyBody", f"upload {upload_id} is empty")
    return size


def read_upload(bucket: str, upload_id: str) -> bytes:
    """The uploaded object's bytes (:func:`checked_upload_size`'s errors)."""
    s3 = client("s3")
    checked_upload_size(s3, bucket, upload_id)
    return bytes(s3.get_object(Bucket=bucket, Key=upload_key(upload_id))["Body"].read())


def checked_image(data: bytes) -> tuple[str, tuple[int, int]]:
    """``(type, (width, height))`` of an uploaded JPEG/PNG; RequestError 400/413/415 as for a request body."""
    detected = detect_image_type(data)
    if detected is None:
        raise RequestError(400, "NotAnImage", "the upload is not a JPEG or PNG image")
    if not is_supported(detected):
        raise RequestError(415, "UnsupportedImageType", f"{detected} is not supported: upload JPEG or PNG")
    size = declared_dimensions(data)
    if size is None:
        raise RequestError(400, "InvalidImage", "the image header does not declare its width and height")
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise RequestError(
            413,
            "ImageTooLarge",
            f"image is {size[0]}x{size[1]} pixels; the limit is {MAX_IMAGE_PIXELS} pixels",
        )
    return detected, size


def endpoint_image(
    data: bytes, image_type: str, *, max_bytes: int = MAX_IMAGE_BYTES, max_side: int = MAX_ENDPOINT_SIDE
) -> tuple[bytes, str]:
    """``(bytes, type)`` the endpoint accepts: ``data`` itself when it fits (at most ``max_bytes``, longer side
    at most ``max_side``), else a JPEG of it scaled down (aspect kept) until it does. RequestError 400
    ``InvalidImage`` when Pillow cannot decode it."""
    size = declared_dimensions(data)
    if len(data) <= max_bytes and size is not None and max(size) <= max_side:
        return data, image_type
    try:
        with Image.open(io.BytesIO(data)) as opened:
            # JPEG: decode at 1/2, 1/4 or 1/8 scale when that is still >= max_side (far less memory).
            opened.draft("RGB", (max_side, max_side))
            # Scale first, convert after: only the small copy is converted (peak memory: one decoded image).
            opened.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise RequestError(400, "InvalidImage", "the image could not be decoded") from exc
    side = max_side
    while True:
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=JPEG_QUALITY)
        if out.tell() <= max_bytes or side <= 64:
            return out.getvalue(), JPEG
        side //= 2


def prepare_upload(event: dict[str, Any], bucket: str) -> Prepared:
    """The upload a JSON ``POST /predict`` names, checked and made to fit the endpoint."""
    data = read_upload(bucket, requested_upload(event))
    image_type, size = checked_image(data)
    payload, _ = endpoint_image(data, image_type)
    return Prepared(payload=payload, image_type=image_type, size=size, original=data)
