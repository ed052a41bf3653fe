"""The formats by name: one writer and one reader each (``manifest`` is the Ground Truth form itself)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from gtpipe_cli.formats.coco import read_coco, write_coco
from gtpipe_cli.formats.model import Dataset, FormatError, Written, reorder
from gtpipe_cli.formats.voc import read_voc, write_voc
from gtpipe_cli.formats.yolo import SizeOf, read_yolo, write_yolo

WRITERS: dict[str, Callable[[Dataset], Written]] = {"coco": write_coco, "yolo": write_yolo, "voc": write_voc}
"""Export formats besides ``manifest``."""
EXPORT_FORMATS = ("coco", "yolo", "voc", "manifest")
IMPORT_FORMATS = ("coco", "yolo", "voc")


def detect_format(path: Path) -> str:
    """The format of a dataset at ``path``: a ``.json`` file is COCO; a folder with ``Annotations/`` or XML
    files is VOC, one with ``labels/``, ``data.yaml`` or class folders is YOLO; FormatError otherwise."""
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "coco"
        raise FormatError(str(path), "cannot tell the format: pass --format coco|yolo|voc")
    if (path / "Annotations").is_dir() or any(path.glob("*.xml")):
        return "voc"
    if (path / "annotations" / "instances.json").is_file():
        return "coco"
    if path.is_dir():
        return "yolo"
    raise FormatError(str(path), "not found")


def coco_file(path: Path) -> Path:
    """The COCO annotation file of ``path`` (the file, or ``annotations/instances.json`` in a folder)."""
    return path if path.is_file() else path / "annotations" / "instances.json"


def read_dataset(fmt: str, path: Path, size_of: SizeOf, class_names: Sequence[str] | None = None) -> Dataset:
    """The dataset at ``path`` in format ``fmt``; refs are relative to :func:`image_root`. ``class_names``
    (the pipeline's) fix the class ids."""
    if fmt == "coco":
        file = coco_file(path)
        if not file.is_file():
            raise FormatError(
                str(path), "no COCO annotation file (a .json file or annotations/instances.json)"
            )
        dataset = read_coco(file.read_text(encoding="utf-8"), file.name)
    elif fmt == "yolo":
        dataset = read_yolo(path, size_of)
    elif fmt == "voc":
        dataset = read_voc(path)
    else:
        raise FormatError(fmt, f"unknown format (known: {', '.join(IMPORT_FORMATS)})")
    return reorder(dataset, class_names, str(path))


def image_root(fmt: str, path: Path) -> Path:
    """The folder the refs of :func:`read_dataset` are relative to: the dataset folder, or for COCO the
    ``images/`` folder beside ``annotations/`` (else the annotation file's folder)."""
    if fmt != "coco":
        return path
    file = coco_file(path)
    folder = file.parent.parent if file.parent.name == "annotations" else file.parent
    return folder / "images" if (folder / "images").is_dir() else file.parent
