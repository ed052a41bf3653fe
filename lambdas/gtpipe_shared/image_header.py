"""The size an image is shown at, from its first bytes (no decoding): what a labeler's browser draws on.

PNG: the IHDR size. JPEG: the frame header's size, width and height swapped when the EXIF orientation
(APP1 ``Exif``, IFD0 tag 0x0112) is 5..8 (rotated a quarter turn): browsers apply it
(``image-orientation: from-image``), so box answers are drawn on the turned image.
"""

from __future__ import annotations

import struct
from typing import Any

from gtpipe_shared.images import declared_dimensions

# The header is read with ranged GETs: 64 KiB holds it for almost every image (EXIF thumbnails can push a
# JPEG's frame header further); one more try at 1 MiB, then the image counts as unreadable.
HEADER_BYTES = (64 * 1024, 1024 * 1024)
_ORIENTATION_TAG = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


def displayed_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` as browsers show the image; None when the header is missing or unknown."""
    size = declared_dimensions(data)
    if size is None or size[0] < 1 or size[1] < 1:
        return None
    if data.startswith(b"\xff\xd8") and exif_orientation(data) in _QUARTER_TURNS:
        return size[1], size[0]
    return size


def stored_displayed_size(s3: Any, bucket: str, key: str) -> tuple[int, int] | None:
    """:func:`displayed_size` of an S3 object, from ranged GETs of its first :data:`HEADER_BYTES` (never the
    whole image); None when the header is not a PNG/JPEG size. S3's errors (``ClientError``,
    ``BotoCoreError``) are the caller's."""
    for size in HEADER_BYTES:
        data = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{size - 1}")["Body"].read()
        found = displayed_size(data)
        if found or len(data) < size:
            return found
    return None


def exif_orientation(data: bytes) -> int | None:
    """The EXIF orientation of a JPEG (1..8), None when it has none (or it cannot be read)."""
    index = 2
    while index + 4 <= len(data) and data[index] == 0xFF:
        marker = data[index + 1]
        length = int.from_bytes(data[index + 2 : index + 4], "big")
        if marker == 0xE1 and data[index + 4 : index + 10] == b"Exif\x00\x00":
            return _tiff_orientation(data[index + 10 : index + 2 + length])
        if marker == 0xDA or length < 2:  # start of scan: no more metadata
            return None
        index += 2 + length
    return None


def _tiff_orientation(tiff: bytes) -> int | None:
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for entry in range(count):
        start = ifd + 2 + 12 * entry
        if start + 12 > len(tiff):
            return None
        tag, _kind, _count, value = struct.unpack(order + "HHIH", tiff[start : start + 10])
        if tag == _ORIENTATION_TAG:
            return int(value)
    return None
