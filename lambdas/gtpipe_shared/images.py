"""Image type detection by magic bytes (the declared content type is not trusted)."""

from __future__ import annotations

import struct

JPEG = "image/jpeg"
PNG = "image/png"
SUPPORTED_TYPES = (JPEG, PNG)
# The largest image POST /predict accepts (MAX_API_IMAGE_BYTES): 4 MiB, chosen so that the request always reaches the function.
# Through API Gateway (REST API, binary media types, proxy integration) the body reaches Lambda
# base64-encoded (4/3 of its size) inside the proxy event, and a synchronous invocation's request payload is
# limited to 6 MB (6 MiB): base64 of 4 MiB is 5,592,408 bytes, leaving LAMBDA_EVENT_ENVELOPE_BYTES for the
# rest of the event (headers twice, as headers and multiValueHeaders; query string; request context). A
# larger image never reaches the function: Lambda refuses the invocation and API Gateway answers its
# REQUEST_TOO_LARGE gateway response itself (see infra/constructs/serving.py), as it does for bodies over
# API Gateway's 10 MB payload limit. The endpoint's own 6 MB payload limit is then never the one that bites.
#   https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (invocation payload, 6 MB sync)
#   https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html (sync 6 MB, async 1 MB)
#   https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html (REST API payload 10 MB)
#   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html
LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
LAMBDA_EVENT_ENVELOPE_BYTES = 512 * 1024
MAX_API_IMAGE_BYTES = 4 * 1024 * 1024
MAX_IMAGE_BYTES = 6 * 1024 * 1024  # SageMaker real-time endpoint payload limit (6 MB)


def base64_size(size: int) -> int:
    """Bytes of the base64 encoding of ``size`` bytes (what API Gateway puts in the proxy event)."""
    return 4 * ((size + 2) // 3)


# Pillow's decompression-bomb threshold: a few bytes of PNG/JPEG may claim billions of pixels.
MAX_IMAGE_PIXELS = 89_478_485
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); they carry the dimensions.
_JPEG_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_START_OF_SCAN = 0xDA
# Content types a client may declare for an image body; anything else is rejected with 415.
ACCEPTED_CONTENT_TYPES = ("image/", "application/x-image", "application/octet-stream")

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", JPEG),
    (_PNG_SIGNATURE, PNG),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
)


def detect_image_type(data: bytes) -> str | None:
    """MIME type from the first bytes, or None when the data is no image format we know."""
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"avif", b"mif1"):
        return "image/heic" if data[8:12] != b"avif" else "image/avif"
    return None


def is_supported(mime: str | None) -> bool:
    """True for the types the built-in image-classification container accepts (JPEG, PNG)."""
    return mime in SUPPORTED_TYPES


def content_type_acceptable(content_type: str | None) -> bool:
    """True when a declared content type may carry an image (absent is fine: magic bytes decide)."""
    if not content_type:
        return True
    base = content_type.split(";", 1)[0].strip().lower()
    return any(
        base == accepted or base.startswith(accepted) for accepted in ACCEPTED_CONTENT_TYPES if accepted
    )


def declared_dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` as a PNG's IHDR or a JPEG's frame header declares them, without decoding.

    None when the header is missing or malformed (the model container then rejects the image itself).
    """
    if data.startswith(_PNG_SIGNATURE):
        if len(data) >= 24 and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        return None
    if not data.startswith(b"\xff\xd8"):
        return None
    index = 2
    while index + 4 <= len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            index += 2
            continue
        if marker == _JPEG_START_OF_SCAN:
            return None
        length = int.from_bytes(data[index + 2 : index + 4], "big")
        if marker in _JPEG_SOF_MARKERS:
            if index + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return int(width), int(height)
        index += 2 + length
    return None
