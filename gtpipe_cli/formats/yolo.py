"""YOLO: Ultralytics' detection layout (``images/``, ``labels/``, ``data.yaml``) and classification layout
(``train/<class name>/<image>``); conventions in :mod:`gtpipe_cli.formats`."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from gtpipe_shared.consolidation import Box
from gtpipe_shared.tasks import TaskType

from gtpipe_cli.formats.model import Dataset, FormatError, Item, Written, pixel, relative_paths

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
SPLITS = ("train", "val", "valid", "test")
NAME_FILES = ("classes.txt", "obj.names")

SizeOf = Callable[[Path], tuple[int, int] | None]
"""A local image's ``(width, height)``, None when its header cannot be read."""


def _number(value: float) -> str:
    """Normalized coordinates with 8 decimals: exact back to the pixel for images up to 10^5 pixels."""
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"


def write_yolo(dataset: Dataset) -> Written:
    """Detection: ``images/``, ``labels/<image>.txt`` (``class cx cy w h``, normalized; an empty file for an
    image without boxes), ``data.yaml`` and ``classes.txt``. Classification: ``train/<class>/<image>``."""
    paths = relative_paths([item.ref for item in dataset.items])
    written = Written()
    if not dataset.boxes:
        for item in dataset.items:
            assert item.label is not None
            written.images[f"train/{dataset.class_names[item.label]}/{paths[item.ref]}"] = item.ref
        return written
    for item in dataset.items:
        if item.width is None or item.height is None:
            raise FormatError(item.ref, "YOLO labels need the image's width and height")
        lines = [
            " ".join(
                [str(box.class_id)]
                + [
                    _number(value)
                    for value in (
                        (box.left + box.width / 2) / item.width,
                        (box.top + box.height / 2) / item.height,
                        box.width / item.width,
                        box.height / item.height,
                    )
                ]
            )
            + "\n"
            for box in item.boxes
        ]
        written.images["images/" + paths[item.ref]] = item.ref
        label = PurePosixPath("labels", paths[item.ref]).with_suffix(".txt").as_posix()
        written.files[label] = "".join(lines).encode()
    names = "".join(f"  {i}: {json.dumps(name)}\n" for i, name in enumerate(dataset.class_names))
    written.files["data.yaml"] = (
        f"# gtpipe export ({dataset.task_type.value})\npath: .\ntrain: images\nval: images\n"
        f"nc: {len(dataset.class_names)}\nnames:\n{names}"
    ).encode()
    written.files["classes.txt"] = "".join(f"{name}\n" for name in dataset.class_names).encode()
    return written


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def is_yolo_detection(folder: Path) -> bool:
    """A folder with ``labels/`` (detection) rather than class folders (classification)."""
    return (folder / "labels").is_dir()


def read_yolo(folder: Path, size_of: SizeOf) -> Dataset:
    """The dataset of a YOLO folder (detection when it has ``labels/``); ``ref`` is each image's path
    relative to ``folder``."""
    if not folder.is_dir():
        raise FormatError(str(folder), "a YOLO dataset is a folder")
    if is_yolo_detection(folder):
        return _read_detection(folder, size_of)
    return _read_classification(folder)


def _class_names(folder: Path) -> list[str]:
    data = folder / "data.yaml"
    if data.is_file():
        try:
            content: Any = yaml.safe_load(data.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise FormatError("data.yaml", f"invalid YAML ({error})") from None
        names = content.get("names") if isinstance(content, dict) else None
        if isinstance(names, dict) and all(isinstance(key, int) for key in names):
            if sorted(names) != list(range(len(names))):
                raise FormatError("data.yaml", f"names ids {sorted(names)} are not 0..{len(names) - 1}")
            names = [names[i] for i in range(len(names))]
        if not isinstance(names, list) or not names:
            raise FormatError("data.yaml", "names must be a non-empty list or a {id: name} map")
        return [str(name) for name in names]
    for file_name in NAME_FILES:
        if (folder / file_name).is_file():
            names = [line.strip() for line in (folder / file_name).read_text(encoding="utf-8").splitlines()]
            return [name for name in names if name]
    raise FormatError(str(folder), f"no data.yaml or {' or '.join(NAME_FILES)} naming the classes")


def _read_detection(folder: Path, size_of: SizeOf) -> Dataset:
    names = _class_names(folder)
    images = {
        p.relative_to(folder / "images").with_suffix("").as_posix(): p
        for p in _images_under(folder / "images")
    }
    labels = sorted((folder / "labels").rglob("*.txt"))
    for label in labels:
        stem = label.relative_to(folder / "labels").with_suffix("").as_posix()
        if stem not in images:
            raise FormatError(f"labels/{stem}.txt", f"no image images/{stem}.* for this label file")
    items = []
    for stem, path in sorted(images.items()):
        size = size_of(path)
        ref = path.relative_to(folder).as_posix()
        if size is None:
            raise FormatError(ref, "cannot read the image's width and height (PNG or JPEG expected)")
        item = Item(ref=ref, width=size[0], height=size[1])
        label = folder / "labels" / f"{stem}.txt"
        if label.is_file():
            item.boxes = _read_label_file(
                label.read_text(encoding="utf-8"), f"labels/{stem}.txt", item, len(names)
            )
        items.append(item)
    return Dataset(TaskType.OBJECT_DETECTION, names, items)


def _read_label_file(text: str, where: str, item: Item, class_count: int) -> list[Box]:
    assert item.width is not None and item.height is not None
    boxes = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        at = f"{where} line {number}"
        if len(fields) != 5:
            raise FormatError(at, f"expected 5 numbers (class cx cy w h), got {len(fields)}")
        try:
            class_id = int(fields[0])
            cx, cy, w, h = (float(value) for value in fields[1:])
        except ValueError:
            raise FormatError(at, f"{line.strip()!r} is not a class id and 4 numbers") from None
        if not 0 <= class_id < class_count:
            raise FormatError(at, f"class {class_id} is not in names (0..{class_count - 1})")
        if not all(0.0 <= v <= 1.0 for v in (cx, cy, w, h)) or w <= 0 or h <= 0:
            raise FormatError(at, "coordinates must be normalized to [0, 1] with a positive width and height")
        left, top = (cx - w / 2) * item.width, (cy - h / 2) * item.height
        right, bottom = (cx + w / 2) * item.width, (cy + h / 2) * item.height
        if min(left, top) < -1e-3 or right > item.width + 1e-3 or bottom > item.height + 1e-3:
            raise FormatError(at, f"the box reaches outside the {item.width}x{item.height} image")
        width, height = pixel(w * item.width), pixel(h * item.height)
        boxes.append(Box(class_id, max(pixel(left), 0), max(pixel(top), 0), width, height))
    return boxes


def _read_classification(folder: Path) -> Dataset:
    roots = [folder / split for split in SPLITS if (folder / split).is_dir()] or [folder]
    names = sorted(
        {d.name for root in roots for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")}
    )
    if not names:
        raise FormatError(str(folder), "neither labels/ (detection) nor class folders (classification)")
    items = []
    for root in roots:
        for class_dir in sorted(d for d in root.iterdir() if d.is_dir() and d.name in names):
            for path in _images_under(class_dir):
                items.append(
                    Item(
                        ref=posixpath.relpath(path.as_posix(), folder.as_posix()),
                        label=names.index(class_dir.name),
                    )
                )
    if not items:
        raise FormatError(str(folder), "the class folders hold no images")
    return Dataset(TaskType.IMAGE_CLASSIFICATION, names, items)
