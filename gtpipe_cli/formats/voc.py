"""Pascal VOC: one ``Annotations/<image>.xml`` per image, images in ``JPEGImages/`` (conventions in
:mod:`gtpipe_cli.formats`). Object detection only: VOC has no image-level class label."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

from gtpipe_shared.consolidation import Box
from gtpipe_shared.tasks import TaskType

from gtpipe_cli.formats.model import Dataset, FormatError, Item, Written, pixel, relative_paths

ANNOTATIONS = "Annotations"
IMAGES = "JPEGImages"


def _no_classification(dataset_task: TaskType) -> None:
    if dataset_task != TaskType.OBJECT_DETECTION:
        raise FormatError(
            "voc", "Pascal VOC holds bounding boxes only: export image classification as coco or yolo"
        )


def _text(parent: ET.Element, tag: str, value: object) -> None:
    ET.SubElement(parent, tag).text = str(value)


def write_voc(dataset: Dataset) -> Written:
    """``Annotations/<image>.xml`` per image (``filename`` its path under ``JPEGImages/``)."""
    _no_classification(dataset.task_type)
    paths = relative_paths([item.ref for item in dataset.items])
    written = Written()
    for item in dataset.items:
        if item.width is None or item.height is None:
            raise FormatError(item.ref, "VOC annotations need the image's width and height")
        root = ET.Element("annotation")
        _text(root, "folder", IMAGES)
        _text(root, "filename", paths[item.ref])
        source = ET.SubElement(root, "source")
        _text(source, "database", "gtpipe")
        size = ET.SubElement(root, "size")
        for tag, measure in (("width", item.width), ("height", item.height), ("depth", item.depth)):
            _text(size, tag, measure)
        _text(root, "segmented", 0)
        for box in item.boxes:
            obj = ET.SubElement(root, "object")
            _text(obj, "name", dataset.class_names[box.class_id])
            for tag, text in (("pose", "Unspecified"), ("truncated", "0"), ("difficult", "0")):
                _text(obj, tag, text)
            bndbox = ET.SubElement(obj, "bndbox")
            corners = (box.left, box.top, box.left + box.width, box.top + box.height)
            for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), corners, strict=True):
                _text(bndbox, tag, pixel(value))
        ET.indent(root, space="\t")
        name = PurePosixPath(ANNOTATIONS, paths[item.ref]).with_suffix(".xml").as_posix()
        written.files[name] = ET.tostring(root, encoding="unicode").encode() + b"\n"
        written.images[f"{IMAGES}/{paths[item.ref]}"] = item.ref
    return written


def read_voc(folder: Path) -> Dataset:
    """The dataset of a VOC folder (``Annotations/*.xml``, or XML files directly in it); ``ref`` is the image
    path relative to ``folder`` (``JPEGImages/<filename>`` when that folder exists, else ``<filename>``
    beside the XML). Class ids: class names sorted."""
    annotations = folder / ANNOTATIONS if (folder / ANNOTATIONS).is_dir() else folder
    files = sorted(annotations.rglob("*.xml"))
    if not files:
        raise FormatError(str(folder), f"no {ANNOTATIONS}/*.xml files")
    images_dir = folder / IMAGES if (folder / IMAGES).is_dir() else None
    parsed: list[tuple[Item, list[tuple[str, tuple[float, float, float, float]]]]] = []
    for path in files:
        where = path.relative_to(folder).as_posix()
        item, objects = _read_xml(path, where)
        # Images: JPEGImages/ (the devkit's layout), else beside the XML files.
        base = images_dir or (folder if annotations != folder else path.parent)
        item.ref = (base / item.ref).relative_to(folder).as_posix()
        parsed.append((item, objects))
    names = sorted({name for _, objects in parsed for name, _ in objects})
    items = []
    for item, objects in parsed:
        item.boxes = [
            Box(names.index(name), pixel(x0), pixel(y0), pixel(x1 - x0), pixel(y1 - y0))
            for name, (x0, y0, x1, y1) in objects
        ]
        items.append(item)
    return Dataset(TaskType.OBJECT_DETECTION, names, items)


def _int(node: ET.Element, path: str, where: str) -> int:
    text = node.findtext(path)
    try:
        return int(float(text or ""))
    except ValueError:
        raise FormatError(where, f"<{path}> must be a number, got {text!r}") from None


def _read_xml(path: Path, where: str) -> tuple[Item, list[tuple[str, tuple[float, float, float, float]]]]:
    try:
        # The user's own files; the bundled expat refuses entity expansion bombs (billion laughs).
        root = ET.parse(path).getroot()  # noqa: S314
    except ET.ParseError as error:
        line, column = error.position
        raise FormatError(f"{where} line {line}", f"invalid XML ({error}; column {column})") from None
    if root.tag != "annotation":
        raise FormatError(where, f"root element is <{root.tag}>, expected <annotation>")
    filename = root.findtext("filename")
    if not filename:
        raise FormatError(where, "missing <filename>")
    width, height = _int(root, "size/width", where), _int(root, "size/height", where)
    if width <= 0 or height <= 0:
        raise FormatError(where, f"<size> {width}x{height} must be positive")
    depth = _int(root, "size/depth", where) if root.findtext("size/depth") else 3
    item = Item(ref=filename, width=width, height=height, depth=depth or 3)
    objects = []
    for index, obj in enumerate(root.iter("object"), start=1):
        at = f"{where}: object {index}"
        name = (obj.findtext("name") or "").strip()
        if not name or obj.find("bndbox") is None:
            raise FormatError(at, "needs <name> and <bndbox>")
        corners = []
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            text = obj.findtext(f"bndbox/{tag}")
            try:
                corners.append(float(text or ""))
            except ValueError:
                raise FormatError(at, f"<{tag}> must be a number, got {text!r}") from None
        x0, y0, x1, y1 = corners
        if x1 <= x0 or y1 <= y0:
            raise FormatError(at, f"bndbox ({x0}, {y0}, {x1}, {y1}): xmax/ymax must exceed xmin/ymin")
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise FormatError(at, f"bndbox ({x0}, {y0}, {x1}, {y1}) is outside the {width}x{height} image")
        objects.append((name, (x0, y0, x1, y1)))
    return item, objects
