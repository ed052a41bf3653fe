"""Pipe-mode augmented-manifest channels, turned into the channel folders the jobs read.

SageMaker streams an ``AugmentedManifestFile`` channel in Pipe mode through the FIFO
``<SM_INPUT_DIR>/data/<channel>_<epoch>``: for every manifest line, one record per ``AttributeNames`` entry,
in order. An attribute ending in ``-ref`` is the content of the S3 object it names (the image), any other the
attribute's JSON value. With ``RecordWrapperType: RecordIO`` each record is MXNet RecordIO framed
(https://docs.aws.amazon.com/sagemaker/latest/dg/augmented-manifest-stream.html). The built-in algorithms
read that stream themselves; a script in a framework container must do it. :func:`pipe_mode_environ` reads
epoch 0 of each channel into ``<SM_OUTPUT_INTERMEDIATE_DIR or /tmp>/pipe-channels/<channel>/``: the images and
a ``pipe.manifest`` whose lines carry ``source-ref`` (a file path), ``label`` and ``label-metadata``, and points
``SM_CHANNEL_<NAME>`` there. Channels delivered as files (File mode, the local cloud's built-in stand-ins)
are left as they are.

A line's records start with the image: a record that is not JSON starts the next line, so the stream need
not say how many attributes each line has. The label attribute's name is not in the stream; the job finds
the label by its ``-metadata`` sibling, so ``label`` serves.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from training.errors import DataError
from training.job import TrainingPaths, write_failure

RECORDIO_MAGIC = 0xCED7230A
_LENGTH_MASK = (1 << 29) - 1
CHANNELS = ("train", "validation")
LABEL = "label"


def read_recordio(stream: BinaryIO) -> Iterator[bytes]:
    """The records of an MXNet RecordIO stream (multi-part records joined, padding skipped)."""
    parts: list[bytes] = []
    while True:
        header = stream.read(8)
        if not header:
            if parts:
                raise DataError("RecordIO stream ends inside a multi-part record")
            return
        if len(header) < 8:
            raise DataError("RecordIO stream ends inside a record header")
        magic, lrecord = struct.unpack("<II", header)
        if magic != RECORDIO_MAGIC:
            raise DataError(f"not a RecordIO stream (magic {magic:#x})")
        flag, length = lrecord >> 29, lrecord & _LENGTH_MASK
        data = stream.read(length)
        if len(data) < length:
            raise DataError("RecordIO stream ends inside a record")
        stream.read((4 - length % 4) % 4)
        if flag == 0:
            yield data
            continue
        # A record holding the magic number is split around it: 1 starts, 2 continues, 3 ends it.
        parts.append(data)
        if flag == 3:
            yield struct.pack("<I", RECORDIO_MAGIC).join(parts)
            parts = []


def _json(record: bytes) -> tuple[bool, object]:
    try:
        return True, json.loads(record.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False, None


def materialize(stream: BinaryIO, folder: Path) -> int:
    """Write the lines of a Pipe-mode stream as images plus ``pipe.manifest`` into ``folder``; returns the
    number of lines. DataError for a stream that does not start with an image or carries no label."""
    folder.mkdir(parents=True, exist_ok=True)
    lines: list[dict[str, object]] = []
    for record in read_recordio(stream):
        is_json, value = _json(record)
        if not is_json:
            image = folder / f"{len(lines):07d}.img"
            image.write_bytes(record)
            lines.append({"source-ref": f"file://{image.resolve()}"})
        elif not lines:
            raise DataError(
                "Pipe-mode channel: the first record is not an image (AttributeNames must start with source-ref)"
            )
        elif LABEL not in lines[-1]:
            lines[-1][LABEL] = value
        else:
            lines[-1][f"{LABEL}-metadata"] = value
    for number, line in enumerate(lines, start=1):
        if LABEL not in line:
            raise DataError(f"Pipe-mode channel: line {number} has an image but no label record")
        line.setdefault(f"{LABEL}-metadata", {})
    with (folder / "pipe.manifest").open("w", encoding="utf-8") as manifest:
        manifest.writelines(json.dumps(line) + "\n" for line in lines)
    return len(lines)


def pipe_mode_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with ``SM_CHANNEL_<NAME>`` pointing at the materialized folder of each channel that arrives
    as a Pipe-mode FIFO (``<SM_INPUT_DIR>/data/<name>_0``); unchanged for channels delivered as files."""
    result = dict(environ)
    data_dir = Path(environ.get("SM_INPUT_DIR", "/opt/ml/input")) / "data"
    work = Path(environ.get("SM_OUTPUT_INTERMEDIATE_DIR") or "/tmp") / "pipe-channels"
    for channel in CHANNELS:
        pipe = data_dir / f"{channel}_0"
        if not pipe.exists():
            continue
        folder = work / channel
        with pipe.open("rb") as stream:
            materialize(stream, folder)
        result[f"SM_CHANNEL_{channel.upper()}"] = str(folder)
    return result


def main_with_pipes(main: Callable[[Sequence[str], Mapping[str, str]], int], argv: Sequence[str]) -> int:
    """Run a job's ``main(argv, environ)`` with the Pipe-mode channels materialized (the entry point's body);
    a stream that cannot be read fails the job as the job's own input errors do (``ClientError:``, exit 1)."""
    try:
        environ = pipe_mode_environ(os.environ)
    except DataError as exc:
        reason = f"ClientError: {exc}"
        print(reason, flush=True)
        write_failure(TrainingPaths.from_environ(os.environ), reason)
        return 1
    return main(argv, environ)
