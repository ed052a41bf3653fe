"""Image type detection by magic bytes (the declared content type is not trusted)."""

from __future__ import annotations

JPEG = "image/jpeg"
PNG = "image/png"
SUPPORTED_TYPES = (JPEG, PNG)
MAX_IMAGE_BYTES = 6 * 1024 * 1024  # SageMaker real-time endpoint payload limit (6 MB)
# Content types a client may declare for an image body; anything else is rejected with 415.
ACCEPTED_CONTENT_TYPES = ("image/", "application/x-image", "application/octet-stream")

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
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
