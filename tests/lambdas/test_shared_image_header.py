"""The size an image is shown at (gtpipe_shared.image_header): what box answers must be drawn on."""

from __future__ import annotations

import io
import struct
from typing import Any

import pytest
from gtpipe_shared.image_header import HEADER_BYTES, displayed_size, exif_orientation, stored_displayed_size


def jpeg(width: int, height: int, orientation: int | None = None, order: str = "<") -> bytes:
    """SOI, an optional APP1 Exif with the orientation, and a baseline frame header of ``width`` x ``height``."""
    data = b"\xff\xd8"
    if orientation is not None:
        mark = b"II" if order == "<" else b"MM"
        entry = struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0)
        tiff = mark + struct.pack(order + "HI", 42, 8) + struct.pack(order + "H", 1) + entry + b"\0\0\0\0"
        body = b"Exif\x00\x00" + tiff
        data += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00" * 3
    return data + b"\xff\xc0" + struct.pack(">H", len(frame) + 2) + frame + b"\xff\xda\x00\x02"


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [(None, (40, 20)), (1, (40, 20)), (3, (40, 20)), (6, (20, 40)), (8, (20, 40))],
)
def test_a_jpeg_turned_a_quarter_by_exif_is_shown_turned(
    orientation: int | None, expected: tuple[int, int]
) -> None:
    # given a 40x20 JPEG with an EXIF orientation, then its shown size is turned for 5..8 only
    assert displayed_size(jpeg(40, 20, orientation)) == expected


def test_big_endian_exif_and_unknown_data() -> None:
    assert exif_orientation(jpeg(40, 20, 6, order=">")) == 6
    assert displayed_size(b"GIF89a....") is None
    assert displayed_size(b"\xff\xd8\xff\xe1\x00") is None


class RangedS3:
    """get_object answering the requested byte range of one stored object, counting the bytes sent."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sent = 0

    def get_object(self, Bucket: str, Key: str, Range: str) -> dict[str, Any]:
        first, last = (int(v) for v in Range.removeprefix("bytes=").split("-"))
        part = self.body[first : last + 1]
        self.sent += len(part)
        return {"Body": io.BytesIO(part)}


def test_a_stored_images_size_is_read_from_its_first_bytes_only() -> None:
    # Given a large JPEG turned a quarter by EXIF, in S3
    s3 = RangedS3(jpeg(40, 20, 6) + b"\x00" * 500_000)
    # When its shown size is read / Then it is the turned size, from the first 64 KiB only
    assert stored_displayed_size(s3, "bucket", "key.jpg") == (20, 40)
    assert s3.sent == HEADER_BYTES[0]
    # And an object that is not an image has no size
    assert stored_displayed_size(RangedS3(b"GIF89a...."), "bucket", "key.gif") is None
