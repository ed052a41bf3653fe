"""The model artifact: what ``/opt/ml/model`` holds and how it travels as ``model.tar.gz``.

Layout (at the archive root, as SageMaker tars ``/opt/ml/model``)::

    model.pt             state_dict of the network (load with weights_only=True)
    classes.json         class names ordered by class index
    model-config.json    architecture, image preprocessing, normalisation, parsed hyperparameters
    hyperparameters.json the hyperparameters as received (strings)
    metrics.json         final metrics and per-epoch curves
    checkpoints/         only with checkpoint_frequency: epoch-NNNN.pt state_dicts
    code/inference.py    entry point for a SageMaker PyTorch serving container (re-exports handlers)
    code/training/**.py  this package, so the artifact serves without the repository
"""

from __future__ import annotations

import gzip
import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.contracts import CODE_DIR, MODEL_CONFIG_FILE, WEIGHTS_FILE
from training.errors import DataError

if TYPE_CHECKING:  # torch is imported lazily, only when a model channel is read
    import torch

PACKAGE_DIR = Path(__file__).resolve().parent

_INFERENCE_SHIM = '''"""SageMaker inference entry point; handlers live in the bundled ``training`` package."""

from {module} import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]
'''


def write_code_dir(model_dir: str | Path, handlers_module: str = "training.inference") -> Path:
    """Copy this package's Python sources (sub-packages included) into ``<model_dir>/code`` with an
    ``inference.py`` shim.

    SageMaker's PyTorch serving container puts ``code/`` on ``sys.path`` and imports ``inference``;
    the shim re-exports ``handlers_module`` (``training.inference`` for image classification,
    ``training.detection.inference`` for object detection), so the handlers are the exact code that
    trained.
    """
    code_dir = Path(model_dir) / CODE_DIR
    package_copy = code_dir / "training"
    for source in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = source.relative_to(PACKAGE_DIR)
        if "__pycache__" in relative.parts:
            continue
        target = package_copy / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    (code_dir / "inference.py").write_text(_INFERENCE_SHIM.format(module=handlers_module), encoding="utf-8")
    return code_dir


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Same inputs, same bytes: an artifact's hash then identifies the model, not the build time.
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def package_model(model_dir: str | Path, tar_path: str | Path) -> Path:
    """Archive a model directory as ``model.tar.gz`` with its contents at the archive root.

    Equivalent to SageMaker's ``tar -czf model.tar.gz -C /opt/ml/model .`` but reproducible (sorted
    entries, zeroed times and owners). Symlinks and special files are refused.
    """
    root = Path(model_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"model directory {root} does not exist")
    target = Path(tar_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    entries = sorted(p for p in root.rglob("*") if p.resolve() != target.resolve())
    with (
        open(target, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in entries:
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                raise ValueError(f"refusing to archive {path}: not a regular file or folder")
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False, filter=_normalise)
    return target


def extract_model(tar_path: str | Path, dest: str | Path) -> Path:
    """Extract ``model.tar.gz`` into ``dest`` (created if needed) and return ``dest``.

    Uses tarfile's ``data`` filter: absolute paths, ``..``, links out of ``dest`` and device files
    are rejected, so an untrusted archive cannot write outside ``dest``.
    """
    destination = Path(dest)
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path, mode="r:*") as tar:
        tar.extractall(destination, filter="data")
    return destination


def read_model_channel(
    channel: Path, *, algorithm: str | None, not_a_model: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The model configuration and weights of an earlier model in a training job's ``model`` channel.

    ``channel`` holds a ``model.tar.gz`` (the first one by name is used) or its extracted files. Raises
    :class:`DataError` with the message ``not_a_model`` when the configuration or weights are missing,
    or when ``algorithm`` is given and the model was trained by another algorithm.
    """
    import torch

    with tempfile.TemporaryDirectory() as scratch:
        folder = channel
        tars = sorted(folder.glob("*.tar.gz"))
        if tars:
            folder = extract_model(tars[0], scratch)
        config_path, weights_path = folder / MODEL_CONFIG_FILE, folder / WEIGHTS_FILE
        if not config_path.is_file() or not weights_path.is_file():
            raise DataError(not_a_model)
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if algorithm is not None and config.get("algorithm") != algorithm:
            raise DataError(not_a_model)
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    return config, state
