"""``gtpipe export``: a run's labels (or an augmented manifest's) as COCO, YOLO, VOC or the manifest itself,
to a local folder or an ``s3://`` prefix. Conversions are :mod:`gtpipe_cli.formats`; this module finds the
labels, reads image sizes where a format needs them and the manifest lacks them, and writes.

A run's labels: the dropped manifest when it was already labeled (``manifest_kind`` augmented), else the
labeling job's output manifest ``labeling/<job>/manifests/output/output.manifest`` (docs/design.md,
"Data bucket prefixes").
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gtpipe_shared.images import declared_dimensions
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri

from gtpipe_cli.errors import CliError, Exit
from gtpipe_cli.formats.model import Written, read_manifest
from gtpipe_cli.formats.registry import WRITERS
from gtpipe_cli.naming import is_run_id
from gtpipe_cli.progress import get_run

HEADER_BYTES = 1 << 16
"""Bytes read from the start of an image for its size (a JPEG whose frame header lies later is read whole)."""
THREADS = 8


@dataclass(frozen=True)
class Exported:
    """What ``export`` wrote."""

    where: str
    files: int
    images: int
    objects: int


def is_local_source(source: str) -> bool:
    """True when ``source`` is a local manifest file (no AWS target needed unless its refs are s3://)."""
    return not source.startswith("s3://") and not is_run_id(source) and Path(source).is_file()


def run_labels_uri(dynamodb: Any, table: str, bucket: str, run_id: str) -> str:
    """The ``s3://`` URI of a run's labeled manifest (module docstring); CliError when there is none."""
    run = get_run(dynamodb, table, run_id)
    if run is None:
        raise CliError(f"unknown run {run_id}: not in the runs ledger {table}", Exit.UNKNOWN_RUN)
    if run.get("manifest_kind") == "augmented":
        return f"s3://{run['input_bucket']}/{run['input_key']}"
    job = ((run.get("steps") or {}).get("label") or {}).get("job_name")
    if not job:
        status = run.get("status")
        raise CliError(
            f"run {run_id} ({status}) has no labels yet: its labeling job has not completed", Exit.NOT_YET
        )
    return f"s3://{bucket}/labeling/{job}/manifests/output/output.manifest"


class Reader:
    """Reads refs (``s3://`` URIs, or paths relative to ``base``) with an S3 client made on first use."""

    def __init__(self, s3: Callable[[], Any] | None, base: Path) -> None:
        self._make = s3
        self._client: Any = None
        self.base = base

    def s3(self) -> Any:
        if self._client is None:
            if self._make is None:
                raise CliError(
                    "the manifest refers to s3:// images: pass the target (--local or AWS)", Exit.USAGE
                )
            self._client = self._make()
        return self._client

    def read(self, ref: str, header: bool = False) -> bytes:
        """The object or file's bytes (``header``: at least the first :data:`HEADER_BYTES`)."""
        if not ref.startswith("s3://"):
            path = self.base / ref.removeprefix("file://")
            if not path.is_file():
                raise CliError(f"image {ref} not found (in {self.base})", Exit.INPUT_MISSING)
            return path.read_bytes()
        try:
            bucket, key = parse_s3_uri(ref)
        except S3UriError as error:
            raise CliError(f"source-ref {error}", Exit.USAGE) from None
        extra = {"Range": f"bytes=0-{HEADER_BYTES - 1}"} if header else {}
        return bytes(self.s3().get_object(Bucket=bucket, Key=key, **extra)["Body"].read())

    def size(self, ref: str) -> tuple[int, int]:
        """The image's declared ``(width, height)``."""
        size = declared_dimensions(self.read(ref, header=True))
        if size is None:
            size = declared_dimensions(self.read(ref))
        if size is None:
            raise CliError(f"cannot read the width and height of {ref} (PNG or JPEG expected)", Exit.USAGE)
        return size


def export_labels(
    text: str, fmt: str, out: str, reader: Reader, *, where: str, with_images: bool = False
) -> Exported:
    """Convert the augmented manifest ``text`` to ``fmt`` and write it under ``out`` (a folder or an
    ``s3://`` prefix); ``with_images`` copies the images too (always for YOLO classification, whose
    layout is the images)."""
    if fmt == "manifest":
        written = Written(files={"output.manifest": text.encode()})
        objects = sum(1 for line in text.splitlines() if line.strip())
    else:
        dataset = read_manifest(text, where)
        if fmt == "coco" and not dataset.boxes:
            missing = [item for item in dataset.items if item.width is None]
            with ThreadPoolExecutor(max_workers=THREADS) as pool:
                for item, (width, height) in zip(
                    missing, pool.map(reader.size, [i.ref for i in missing]), strict=True
                ):
                    item.width, item.height = width, height
        written = WRITERS[fmt](dataset)
        objects = len(dataset.items)
        with_images = with_images or (fmt == "yolo" and not dataset.boxes)
    if not with_images:
        written.images = {}
    put = _writer(out, reader)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(lambda pair: put(pair[0], pair[1]), written.files.items()))
        list(pool.map(lambda pair: put(pair[0], reader.read(pair[1])), written.images.items()))
    return Exported(where=out, files=len(written.files), images=len(written.images), objects=objects)


def _writer(out: str, reader: Reader) -> Callable[[str, bytes], None]:
    if out.startswith("s3://"):
        try:
            bucket, prefix = parse_s3_uri(out.rstrip("/") + "/x")
        except S3UriError as error:
            raise CliError(f"--out {error}", Exit.USAGE) from None
        prefix = prefix[:-1]
        return lambda name, body: reader.s3().put_object(Bucket=bucket, Key=prefix + name, Body=body)
    root = Path(out)

    def write(name: str, body: bytes) -> None:
        if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
            raise CliError(f"refusing to write {name!r} outside {root} (an image key with '..')", Exit.USAGE)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    return write
