"""Lambda layers built without Docker: pip fetches the wheels published for Lambda's platform.

``python -m infra.layers build`` (run by ``make layers``) installs ``report-requirements.txt`` for CPython
3.12 on manylinux x86_64 into ``build/layers/report/python`` (``--only-binary``: nothing is compiled on
this machine, so the result does not depend on it), drops test suites and bytecode, and writes
``build/layers/report.zip`` with fixed timestamps and order: the same wheels give the same zip, so the
CDK asset hash (and the deployed layer version) only changes when the pins do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS_DIR = Path(__file__).resolve().parent
BUILD_DIR = ROOT / "build" / "layers"
REPORT_REQUIREMENTS = LAYERS_DIR / "report-requirements.txt"
REPORT_LAYER_DIR = BUILD_DIR / "report"
REPORT_LAYER_ZIP = BUILD_DIR / "report.zip"
LAMBDA_PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.12")
# Lambda's limit for a function's code plus all its layers, unzipped.
LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000
_PRUNED_DIRS = frozenset({"tests", "__pycache__"})
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class MissingLayerError(FileNotFoundError):
    """A layer the stack needs was not built; the message says how to build it."""


def require_layer(path: Path = REPORT_LAYER_ZIP) -> Path:
    """``path`` if the layer zip exists; otherwise MissingLayerError naming ``make layers``."""
    if not path.is_file():
        raise MissingLayerError(
            f"{path} is missing: run `make layers` (or `make install`) to build the report function's "
            "matplotlib layer with pip for Lambda's platform; synth needs it as an asset"
        )
    return path


def prune(directory: Path) -> None:
    """Remove test suites and bytecode: Lambda never runs them and they count against its size limit."""
    for path in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in _PRUNED_DIRS:
            shutil.rmtree(path)
        elif path.suffix == ".pyc" and path.exists():
            path.unlink()


def write_zip(source: Path, destination: Path) -> None:
    """Zip ``source``'s contents (``python/...`` for a layer) deterministically: sorted, fixed times."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=_FIXED_TIME)
            # Keep the executable bit of shared libraries; everything else is read-only for Lambda anyway.
            info.external_attr = ((0o755 if os.access(path, os.X_OK) else 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    partial.replace(destination)


def unzipped_size(archive_path: Path) -> int:
    """Bytes the archive occupies once Lambda extracts it."""
    with zipfile.ZipFile(archive_path) as archive:
        return sum(info.file_size for info in archive.infolist())


def build_report_layer(python: str = sys.executable) -> Path:
    """Install the pinned wheels for Lambda's platform, prune, zip; returns the zip's path."""
    shutil.rmtree(REPORT_LAYER_DIR, ignore_errors=True)
    target = REPORT_LAYER_DIR / "python"
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-compile",
            "--only-binary=:all:",
            *LAMBDA_PLATFORM,
            "--target",
            str(target),
            "--requirement",
            str(REPORT_REQUIREMENTS),
        ],
        check=True,
    )
    prune(target)
    write_zip(REPORT_LAYER_DIR, REPORT_LAYER_ZIP)
    return REPORT_LAYER_ZIP


def main(argv: list[str]) -> int:
    """``build``: build the report layer and print its sizes; ``size``: print the sizes of the built zip."""
    command = argv[0] if argv else "build"
    if command not in ("build", "size"):
        print(f"usage: python -m infra.layers [build|size]; got {command!r}", file=sys.stderr)
        return 2
    path = build_report_layer() if command == "build" else require_layer()
    unzipped = unzipped_size(path)
    print(
        f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB "
        f"unzipped (Lambda allows {LAMBDA_UNZIPPED_LIMIT_BYTES / 1e6:.1f} MB for code and layers together)"
    )
    return 0
