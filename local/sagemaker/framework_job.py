"""A framework container's training job, locally: the code the job brings, run as SageMaker's training toolkit
runs it in the PyTorch Deep Learning Container (https://github.com/aws/sagemaker-training-toolkit).

- Hyperparameters are JSON-decoded one by one; a value that is not JSON stays the string it is
  (:func:`decode_hyperparameters`). ``sagemaker_*`` names configure the container; the rest are the user's.
- ``sagemaker_submit_directory`` (an S3 URI) is downloaded and, being a tar file, extracted into the code
  folder (SageMaker's ``/opt/ml/code``); ``sagemaker_program`` is the script run in it
  (``python <program> --name value ...`` with the user's hyperparameters as arguments).
- The process sees only the code folder on ``PYTHONPATH``: the job runs what it uploaded, not this checkout.
- ``SM_HPS`` holds the decoded user hyperparameters, ``SM_USER_ENTRY_POINT`` / ``SM_MODULE_DIR`` the code.
- An ``AugmentedManifestFile`` channel in Pipe mode arrives as SageMaker streams it, in the file
  ``<channel>_0`` beside the (empty) channel folder (:func:`write_pipe_stream`); the script reads it.

A job without either hyperparameter, or whose archive lacks the script, fails with a FailureReason naming
what is missing, as the toolkit cannot start the job then.
"""

from __future__ import annotations

import json
import struct
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .s3 import S3Uri, download_file, read_bytes

PROGRAM = "sagemaker_program"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"
RESERVED_PREFIX = "sagemaker_"
# MXNet RecordIO framing of Pipe-mode records (RecordWrapperType RecordIO).
RECORDIO_MAGIC = 0xCED7230A


class FrameworkJobError(ValueError):
    """The job's code cannot be found or started; the message is its FailureReason."""


@dataclass(frozen=True)
class FrameworkCode:
    """Where a framework job's code is: the entry script's name and the S3 URI of the source archive."""

    program: str
    submit_directory: str


def decode_hyperparameters(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """Each value JSON-decoded where it is JSON (``"10"`` -> 10, ``'"a"'`` -> ``"a"``), else kept as is."""
    decoded: dict[str, Any] = {}
    for name, value in hyperparameters.items():
        try:
            decoded[name] = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            decoded[name] = value
    return decoded


def user_hyperparameters(decoded: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters the script gets: every name except the container's ``sagemaker_*`` settings."""
    return {name: value for name, value in decoded.items() if not name.startswith(RESERVED_PREFIX)}


def framework_code(decoded: Mapping[str, Any]) -> FrameworkCode:
    """The job's :class:`FrameworkCode` from its decoded hyperparameters; FrameworkJobError when one is missing."""
    missing = [name for name in (PROGRAM, SUBMIT_DIRECTORY) if not isinstance(decoded.get(name), str)]
    if missing:
        raise FrameworkJobError(
            "AlgorithmError: the PyTorch training container runs the job's own script and needs the "
            f"hyperparameters {PROGRAM} (the entry script) and {SUBMIT_DIRECTORY} (the S3 URI of the source "
            f"tar.gz); missing: {', '.join(missing)}"
        )
    return FrameworkCode(program=str(decoded[PROGRAM]), submit_directory=str(decoded[SUBMIT_DIRECTORY]))


def install_code(s3: Any, code: FrameworkCode, code_dir: Path) -> Path:
    """Download and extract the source archive into ``code_dir``; returns the entry script's path.

    ``s3`` is the job role's client: the role must be allowed to read the archive, as on AWS."""
    try:
        uri = S3Uri.parse(code.submit_directory)
    except ValueError as error:
        raise FrameworkJobError(
            f"ClientError: {SUBMIT_DIRECTORY} {code.submit_directory!r}: {error}"
        ) from None
    code_dir.mkdir(parents=True, exist_ok=True)
    archive = download_file(s3, uri, code_dir.parent / "sourcedir.tar.gz")
    if not tarfile.is_tarfile(archive):
        raise FrameworkJobError(
            f"AlgorithmError: {SUBMIT_DIRECTORY} {code.submit_directory} is not a tar file"
        )
    with tarfile.open(archive) as tar:
        tar.extractall(code_dir, filter="data")
    archive.unlink()
    script = code_dir / code.program
    if not script.is_file():
        raise FrameworkJobError(
            f"AlgorithmError: the entry script {code.program} ({PROGRAM}) is not in the source directory "
            f"{code.submit_directory}"
        )
    return script


def command_arguments(hyperparameters: Mapping[str, Any]) -> list[str]:
    """``--name value`` for each user hyperparameter, as the toolkit passes them to the script (lists and
    objects as JSON, other values as their string)."""
    arguments: list[str] = []
    for name, value in hyperparameters.items():
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        arguments += [f"--{name}", text]
    return arguments


def framework_environment(
    env: Mapping[str, str], script: Path, user_hps: Mapping[str, Any]
) -> dict[str, str]:
    """``env`` (the script-mode environment) as the toolkit leaves it for the user's script: the code folder
    alone on ``PYTHONPATH``, the decoded user hyperparameters in ``SM_HPS`` and ``SM_HP_<NAME>``."""
    result = {key: value for key, value in env.items() if not key.startswith("SM_HP_")}
    result.update(
        {
            "PYTHONPATH": str(script.parent),
            "SM_HPS": json.dumps(dict(user_hps)),
            "SM_USER_ENTRY_POINT": script.name,
            "SM_MODULE_NAME": script.stem,
            "SM_MODULE_DIR": str(script.parent),
            "SM_USER_ARGS": json.dumps(command_arguments(user_hps)),
        }
    )
    for name, value in user_hps.items():
        result[f"SM_HP_{name.upper()}"] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return result


def recordio_frame(data: bytes) -> bytes:
    """One MXNet RecordIO record: magic, length (flag 0: a whole record), data, padding to 4 bytes."""
    return struct.pack("<II", RECORDIO_MAGIC, len(data)) + data + b"\0" * ((4 - len(data) % 4) % 4)


def write_pipe_stream(
    s3: Any, records: list[dict[str, Any]], attributes: list[str], wrapper: str | None, path: Path
) -> None:
    """What SageMaker streams for an ``AugmentedManifestFile`` channel in Pipe mode, written to ``path`` (the
    channel's ``<name>_0``): per line, one record per ``AttributeNames`` entry, in order; a ``-ref``
    attribute's S3 object content, another attribute's JSON value; RecordIO framed when ``wrapper`` is
    ``RecordIO``, back to back otherwise
    (https://docs.aws.amazon.com/sagemaker/latest/dg/augmented-manifest-stream.html)."""
    with path.open("wb") as stream:
        for record in records:
            for name in attributes:
                value = record[name]
                data = (
                    read_bytes(s3, S3Uri.parse(str(value)))
                    if name.endswith("-ref")
                    else json.dumps(value).encode()
                )
                stream.write(recordio_frame(data) if wrapper == "RecordIO" else data)
