"""COCO (``instances.json``): read and write (conventions in :mod:`gtpipe_cli.formats`)."""

from __future__ import annotations

import json
from typing import Any

from gtpipe_shared.consolidation import Box
from gtpipe_shared.tasks import TaskType

from gtpipe_cli.formats.model import Dataset, FormatError, Item, Written, pixel, relative_paths

ANNOTATIONS_FILE = "annotations/instances.json"


def write_coco(dataset: Dataset) -> Written:
    """``annotations/instances.json`` (images placed under ``images/``). Every item needs its size."""
    paths = relative_paths([item.ref for item in dataset.items])
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    written = Written()
    for image_id, item in enumerate(dataset.items, start=1):
        if item.width is None or item.height is None:
            raise FormatError(item.ref, "COCO images need a width and height (the image could not be read)")
        images.append(
            {"id": image_id, "file_name": paths[item.ref], "width": item.width, "height": item.height}
        )
        written.images["images/" + paths[item.ref]] = item.ref
        if item.label is not None:
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": item.label + 1}
            )
        for box in item.boxes:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": box.class_id + 1,
                    "bbox": [box.left, box.top, box.width, box.height],
                    "area": box.width * box.height,
                    "iscrowd": 0,
                    "segmentation": [],
                }
            )
    categories = [
        {"id": i + 1, "name": name, "supercategory": "none"} for i, name in enumerate(dataset.class_names)
    ]
    content = {
        "info": {"description": f"gtpipe export ({dataset.task_type.value})"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    written.files[ANNOTATIONS_FILE] = (json.dumps(content, indent=1) + "\n").encode()
    return written


def _entry(content: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    entries = content.get(key)
    if not isinstance(entries, list):
        raise FormatError(where, f"{key} must be a list")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise FormatError(where, f"{key}[{index}] is not an object")
    return entries


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_coco(text: str, where: str = "instances.json") -> Dataset:
    """The dataset of a COCO file; ``ref`` is each image's ``file_name``. Detection when annotations carry
    ``bbox``, classification (one image-level annotation per image) when none do."""
    try:
        content = json.loads(text)
    except ValueError as error:
        raise FormatError(where, f"invalid JSON ({error})") from None
    if not isinstance(content, dict):
        raise FormatError(where, "not a JSON object with images, annotations and categories")
    categories = _entry(content, "categories", where)
    images = _entry(content, "images", where)
    annotations = _entry(content, "annotations", where)
    class_of: dict[Any, int] = {}
    names: list[str] = []
    for index, category in enumerate(categories):
        if not isinstance(category.get("id"), int) or not isinstance(category.get("name"), str):
            raise FormatError(where, f"categories[{index}]: needs an integer id and a name")
        if category["id"] in class_of:
            raise FormatError(where, f"categories[{index}]: duplicate id {category['id']}")
        class_of[category["id"]] = index
    for category_id in sorted(class_of):  # class ids in category id order
        class_of[category_id] = len(names)
        names.append(next(c["name"] for c in categories if c["id"] == category_id))
    items: dict[Any, Item] = {}
    for index, image in enumerate(images):
        width, height, name = image.get("width"), image.get("height"), image.get("file_name")
        if not isinstance(name, str) or not name or not isinstance(image.get("id"), int):
            raise FormatError(where, f"images[{index}]: needs an integer id and a file_name")
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise FormatError(where, f"images[{index}] ({name}): width and height must be positive integers")
        if image["id"] in items:
            raise FormatError(where, f"images[{index}]: duplicate id {image['id']}")
        items[image["id"]] = Item(ref=name, width=width, height=height)
    with_bbox = {"bbox" in annotation for annotation in annotations}
    if len(with_bbox) > 1:
        raise FormatError(
            where, "some annotations have a bbox and some do not (detection or classification?)"
        )
    detection = with_bbox != {False}
    for index, annotation in enumerate(annotations):
        at = f"annotations[{index}]"
        item = items.get(annotation.get("image_id"))
        if item is None:
            raise FormatError(where, f"{at}: image_id {annotation.get('image_id')!r} is not in images")
        class_id = class_of.get(annotation.get("category_id"))
        if class_id is None:
            raise FormatError(
                where, f"{at}: category_id {annotation.get('category_id')!r} is not in categories"
            )
        if not detection:
            if item.label is not None:
                raise FormatError(
                    where, f"{at}: a second class for image {item.ref} (classification: one each)"
                )
            item.label = class_id
            continue
        item.boxes.append(_box(annotation.get("bbox"), class_id, item, f"{where}: {at}"))
    if not detection:
        unlabeled = [item.ref for item in items.values() if item.label is None]
        if unlabeled and annotations:
            raise FormatError(where, f"image {unlabeled[0]} has no annotation ({len(unlabeled)} unlabeled)")
    task = TaskType.OBJECT_DETECTION if detection else TaskType.IMAGE_CLASSIFICATION
    return Dataset(task, names, list(items.values()))


def _box(bbox: Any, class_id: int, item: Item, at: str) -> Box:
    where = f"{at} ({item.ref})"  # file: entry (image)
    if not isinstance(bbox, list) or len(bbox) != 4:
        count = len(bbox) if isinstance(bbox, list) else "no list of"
        raise FormatError(where, f"bbox has {count} numbers (expected [x, y, width, height])")
    if not all(_number(value) for value in bbox):
        raise FormatError(where, f"bbox {bbox} holds something other than numbers")
    left, top, width, height = (pixel(float(value)) for value in bbox)
    if width <= 0 or height <= 0:
        raise FormatError(where, f"bbox {bbox} has a non-positive width or height")
    assert item.width is not None and item.height is not None
    if left < 0 or top < 0 or left + width > item.width + 1e-6 or top + height > item.height + 1e-6:
        raise FormatError(where, f"bbox {bbox} is outside the {item.width}x{item.height} image")
    return Box(class_id, left, top, width, height)
