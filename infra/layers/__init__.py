"""Lambda layers built without Docker: pip fetches the wheels published for Lambda's platform.

``python -m infra.layers build`` (run by ``make layers``) installs each layer's requirements (``report``:
``report-requirements.txt``, matplotlib for the report function; ``image``: ``image-requirements.txt``, Pillow
for predict) for CPython 3.12 on manylinux x86_64 into ``build/layers/<name>/python`` (``--only-binary``: nothing is compiled on
this machine, so the result does not depend on it), drops test suites and bytecode, and writes
``build/layers/<name>.zip`` with fixed timestamps and order: the same wheels give the same zip, so the
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
# predict's layer (large images, gtpipe_shared.uploads): Pillow alone, a few MB, so the latency-sensitive
# function does not load the report's 40 MB of matplotlib.
IMAGE_REQUIREMENTS = LAYERS_DIR / "image-requirements.txt"
IMAGE_LAYER_ZIP = BUILD_DIR / "image.zip"
LAYERS = {"report": REPORT_REQUIREMENTS, "image": IMAGE_REQUIREMENTS}
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
            f"{path} is missing: run `make layers` (or `make install`) to build the functions' layers "
            "(the report's matplotlib, predict's Pillow) with pip for Lambda's platform; synth needs them as assets"
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
    """The report layer (see :func:`build_layer`)."""
    return build_layer("report", python)


def build_layer(name: str, python: str = sys.executable) -> Path:
    """Install layer ``name``'s pinned wheels (:data:`LAYERS`) for Lambda's platform into
    ``build/layers/<name>/python``, prune, zip to ``build/layers/<name>.zip``; returns the zip's path."""
    layer_dir = BUILD_DIR / name
    shutil.rmtree(layer_dir, ignore_errors=True)
    target = layer_dir / "python"
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
            str(LAYERS[name]),
        ],
        check=True,
    )
    prune(target)
    destination = BUILD_DIR / f"{name}.zip"
    write_zip(layer_dir, destination)
    return destination


def main(argv: list[str]) -> int:
    """``build [NAME...]``: build the layers (default: all of :data:`LAYERS`) and print their sizes;
    ``size [NAME...]``: print the sizes of the built zips."""
    command = argv[0] if argv else "build"
    names = argv[1:] or list(LAYERS)
    if command not in ("build", "size") or any(name not in LAYERS for name in names):
        print(
            f"usage: python -m infra.layers [build|size] [{'|'.join(LAYERS)}...]; got {argv!r}",
            file=sys.stderr,
        )
        return 2
    for name in names:
        path = build_layer(name) if command == "build" else require_layer(BUILD_DIR / f"{name}.zip")
        unzipped = unzipped_size(path)
        print(
            f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB "
            f"unzipped (Lambda allows {LAMBDA_UNZIPPED_LIMIT_BYTES / 1e6:.1f} MB for code and layers together)"
        )
    return 0
