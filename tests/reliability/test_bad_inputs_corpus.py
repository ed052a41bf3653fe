"""The bad-input corpus (tests/data/bad_inputs/): its index, its generators, and checks that it stays honest.

``cases.json`` lists every case with its asserted outcome. A case's bytes come from a committed ``file``
(small text files) or a named ``generator`` below (binary images and large manifests are made at test time
with Pillow, so the folder stays small). ``test_bad_inputs_manifests`` and ``test_bad_inputs_images`` run
the cases through the real handlers; ``test_security_https_api`` sends the ``https`` subset over the local
HTTPS API.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.lambdas.conftest import DATA_BUCKET, input_line

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
INDEX = CORPUS / "cases.json"
MAX_CORPUS_BYTES = 200 * 1024
MIN_CASES = 30
LARGE_MANIFEST_LINES = 200_000
LARGE_MANIFEST_BAD_LINE = 199_990
MAX_IMAGE_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    """One corpus entry (see cases.json for the field meanings)."""

    name: str
    kind: str
    expect: dict[str, Any]
    description: str = ""
    file: str | None = None
    generator: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    content_type: str | None = None
    encoding: str = "base64"
    https: bool = False

    def data(self) -> bytes | None:
        """The case's bytes (None: a request without a body)."""
        if self.file is not None:
            return (CORPUS / self.file).read_bytes()
        assert self.generator is not None, self.name
        return GENERATORS[self.generator]()

    @property
    def accepted(self) -> bool:
        return bool(self.expect.get("accepted"))


def load_cases(kind: str | None = None) -> list[Case]:
    """The cases of cases.json, optionally only those of one kind (``manifest`` or ``image``)."""
    raw = json.loads(INDEX.read_text())["cases"]
    cases = [Case(**entry) for entry in raw]
    return [c for c in cases if kind is None or c.kind == kind]


def case_params(kind: str, *, https_only: bool = False) -> list[Any]:
    """pytest parameters (id = case name) for one kind of case."""
    return [pytest.param(c, id=c.name) for c in load_cases(kind) if c.https or not https_only]


# -- manifest generators ----------------------------------------------------------------------------------


def _lines(count: int, start: int = 1) -> list[str]:
    return [input_line(index) for index in range(start, start + count)]


def manifest_line_1mb() -> bytes:
    """Line 2 is one 1 MiB JSON object (a huge key), between two valid lines."""
    huge = json.dumps({"source-ref": f"s3://{DATA_BUCKET}/images/big.jpg", "note": "x" * (1 << 20)})
    return "\n".join([input_line(1), huge, input_line(3)]).encode() + b"\n"


def manifest_200k_bad_line_near_end() -> bytes:
    """200,000 valid input lines except one line of broken JSON near the end."""
    lines = [f'{{"source-ref": "s3://{DATA_BUCKET}/images/img-{i:06d}.jpg"}}' for i in range(1, 200_001)]
    lines[LARGE_MANIFEST_BAD_LINE - 1] = '{"source-ref": "s3://' + DATA_BUCKET + '/images/broken.jpg",'
    return ("\n".join(lines) + "\n").encode()


def manifest_too_many_lines() -> bytes:
    """1,001 valid lines for a pipeline that allows 1,000 (the corpus' test configuration)."""
    return ("\n".join(_lines(1001)) + "\n").encode()


def manifest_larger_than_limit() -> bytes:
    """About 1.2 MB of valid lines for a pipeline that allows 1,000,000 bytes."""
    return ("\n".join(_lines(20_000)) + "\n").encode()


# -- image generators ---------------------------------------------------------------------------------------


def _noise(size: tuple[int, int], seed: int = 7) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))


def _save(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def valid_png() -> bytes:
    return _save(_noise((32, 32)), "PNG")


def valid_jpeg() -> bytes:
    return _save(_noise((32, 32)), "JPEG", quality=90)


def zero_bytes() -> bytes:
    return b""


def no_body() -> None:
    return None


def truncated_png() -> bytes:
    """A 64x64 PNG cut in the middle of its IDAT chunk (the signature is intact)."""
    data = _save(_noise((64, 64)), "PNG")
    return data[: len(data) // 2]


def truncated_jpeg() -> bytes:
    """A 64x64 JPEG cut in the middle of its scan data (the SOI marker is intact)."""
    data = _save(_noise((64, 64)), "JPEG", quality=90)
    return data[: len(data) // 2]


def wrong_magic_png() -> bytes:
    """A valid PNG whose 8-byte signature is damaged (``PNX`` instead of ``PNG``)."""
    data = valid_png()
    return data[:3] + b"X" + data[4:]


def oversize_png() -> bytes:
    """A real PNG of random pixels, larger than SageMaker's 6 MB real-time payload limit."""
    data = _save(_noise((1500, 1500)), "PNG", compress_level=0)
    assert len(data) > MAX_IMAGE_BYTES
    return data


def one_by_one_png() -> bytes:
    return _save(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG")


def decompression_bomb_png() -> bytes:
    """A 100-byte PNG whose IHDR claims 100,000 x 100,000 RGB pixels (30 GB decoded)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 301, 9)  # the first row only
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def decompression_bomb_jpeg() -> bytes:
    """A valid 32x32 baseline JPEG whose SOF0 frame header is patched to claim 65,535 x 65,535 pixels."""
    data = valid_jpeg()
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", 65_535, 65_535) + data[sof + 9 :]


def cmyk_jpeg() -> bytes:
    return _save(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG", quality=90)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (16, 16), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def bmp_image() -> bytes:
    return _save(_noise((16, 16)), "BMP")


def random_bytes() -> bytes:
    return random.Random(3).randbytes(4096)


GENERATORS: dict[str, Callable[[], Any]] = {
    f.__name__: f
    for f in (
        manifest_line_1mb,
        manifest_200k_bad_line_near_end,
        manifest_too_many_lines,
        manifest_larger_than_limit,
        valid_png,
        valid_jpeg,
        zero_bytes,
        no_body,
        truncated_png,
        truncated_jpeg,
        wrong_magic_png,
        oversize_png,
        one_by_one_png,
        decompression_bomb_png,
        decompression_bomb_jpeg,
        cmyk_jpeg,
        animated_gif,
        bmp_image,
        random_bytes,
    )
}


def decode_like_a_model(data: bytes) -> Image.Image:
    """What an image model container does first: decode fully (Pillow's bomb check on), convert to RGB.

    Raises on undecodable input, as the container would (it then answers 4xx to SageMaker)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.convert("RGB")


# -- checks on the corpus itself ----------------------------------------------------------------------------


def test_the_index_has_enough_uniquely_named_cases_each_with_an_asserted_outcome() -> None:
    # given the index
    cases = load_cases()
    # then it holds at least 30 cases with unique names, of both kinds
    assert len(cases) >= MIN_CASES
    assert len({c.name for c in cases}) == len(cases)
    assert {c.kind for c in cases} == {"manifest", "image"}
    for case in cases:
        # and each has exactly one source and an expectation that names the phrase to find
        assert (case.file is None) != (case.generator is None), case.name
        assert case.generator is None or case.generator in GENERATORS, case.name
        assert case.description, case.name
        if case.kind == "manifest":
            assert case.accepted or ("error" in case.expect and case.expect["contains"]), case.name
        else:
            assert isinstance(case.expect["status"], int), case.name
            assert case.expect["status"] == 200 or case.expect["code"], case.name
            assert "endpoint_calls" in case.expect, case.name


def test_the_committed_files_are_small_and_all_referenced() -> None:
    # given the files under tests/data/bad_inputs
    files = [p for p in CORPUS.rglob("*") if p.is_file()]
    referenced = {c.file for c in load_cases() if c.file}
    # then the folder stays under 200 KB and every data file belongs to a case
    assert sum(p.stat().st_size for p in files) < MAX_CORPUS_BYTES
    data_files = {str(p.relative_to(CORPUS)) for p in files if p != INDEX}
    assert data_files == referenced


def test_the_https_subset_covers_every_rejection_status() -> None:
    rejected = {c.expect["status"] for c in load_cases("image") if c.expect["status"] >= 400}
    assert {c.expect["status"] for c in load_cases("image") if c.https} == rejected


def test_the_binary_generators_make_what_their_names_say() -> None:
    # when the image generators run
    bomb = decompression_bomb_png()
    # then the bombs are small but claim billions of pixels, which Pillow refuses to decode
    assert len(bomb) < 200
    for data in (bomb, decompression_bomb_jpeg()):
        with pytest.raises(Image.DecompressionBombError):
            decode_like_a_model(data)
    # and truncated images keep their magic bytes but cannot be decoded
    for data, magic in ((truncated_png(), b"\x89PNG"), (truncated_jpeg(), b"\xff\xd8\xff")):
        assert data.startswith(magic)
        with pytest.raises((OSError, SyntaxError)):
            decode_like_a_model(data)
    # and the decodable ones decode with the expected modes
    with Image.open(io.BytesIO(cmyk_jpeg())) as image:
        assert image.mode == "CMYK"
    with Image.open(io.BytesIO(animated_gif())) as image:
        assert getattr(image, "is_animated", False) and getattr(image, "n_frames", 1) == 3
    assert decode_like_a_model(one_by_one_png()).size == (1, 1)
    assert len(oversize_png()) > MAX_IMAGE_BYTES


def test_the_large_manifest_generator_breaks_exactly_one_line_near_the_end() -> None:
    lines = manifest_200k_bad_line_near_end().decode().splitlines()
    assert len(lines) == LARGE_MANIFEST_LINES
    broken = [n for n, line in enumerate(lines, 1) if not line.endswith("}")]
    assert broken == [LARGE_MANIFEST_BAD_LINE]
