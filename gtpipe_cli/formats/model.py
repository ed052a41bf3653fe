"""The neutral label model every format converts through, and its Ground Truth augmented-manifest form."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gtpipe_shared.consolidation import Box
from gtpipe_shared.manifest import label_candidates, task_type_of
from gtpipe_shared.tasks import TaskType, task_spec

from gtpipe_cli.errors import CliError, Exit

DEFAULT_LABEL_ATTRIBUTE = "category"


class FormatError(CliError):
    """An invalid label file: the message names the file and the line or entry (exit 64)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}", Exit.USAGE)


@dataclass
class Item:
    """One image: ``ref`` is its ``source-ref`` (an ``s3://`` URI, or a path relative to a local folder).

    ``label`` is the class id of a classification label; ``boxes`` those of a detection label. Sizes may be
    None where the source does not carry them (classification manifests)."""

    ref: str
    label: int | None = None
    boxes: list[Box] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    depth: int = 3


@dataclass
class Dataset:
    """Labeled images of one task type; ``class_names[i]`` is class id ``i``."""

    task_type: TaskType
    class_names: list[str]
    items: list[Item]

    @property
    def boxes(self) -> bool:
        """True for object detection."""
        return task_spec(self.task_type).boxes


@dataclass
class Written:
    """What a writer produces: label files (relative path -> bytes) and images to place (relative path ->
    the item's ``ref``)."""

    files: dict[str, bytes] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)


def pixel(value: float) -> float | int:
    """A coordinate as stored: an int when it is one within 1e-3 (normalized YOLO values come back
    inexact), else rounded to 3 decimals."""
    nearest = round(value)
    return int(nearest) if abs(value - nearest) < 1e-3 else round(value, 3)


def relative_paths(refs: Sequence[str]) -> dict[str, str]:
    """Each ref's path below the refs' longest common folder (``s3://b/images/x/a/1.jpg`` -> ``a/1.jpg``),
    the file names a format's files refer to."""
    keys = [ref.split("://", 1)[1].split("/", 1)[1] if "://" in ref else ref for ref in refs]
    folders = [posixpath.dirname(key) for key in keys]
    common = posixpath.commonpath(folders) if folders and all(folders) else ""
    return {
        ref: posixpath.relpath(key, common) if common else key for ref, key in zip(refs, keys, strict=True)
    }


def reorder(dataset: Dataset, class_names: Sequence[str] | None, where: str) -> Dataset:
    """The dataset with class ids renumbered to ``class_names`` (the pipeline's order); FormatError for a
    class the list lacks. None leaves it as read."""
    if not class_names:
        return dataset
    index = {name: i for i, name in enumerate(class_names)}
    missing = sorted(set(dataset.class_names) - set(index))
    if missing:
        raise FormatError(
            where, f"classes {', '.join(missing)} are not in --classes ({', '.join(class_names)})"
        )
    new_id = [index[name] for name in dataset.class_names]
    items = [
        Item(
            ref=item.ref,
            label=None if item.label is None else new_id[item.label],
            boxes=[Box(new_id[b.class_id], b.left, b.top, b.width, b.height) for b in item.boxes],
            width=item.width,
            height=item.height,
            depth=item.depth,
        )
        for item in dataset.items
    ]
    return Dataset(dataset.task_type, list(class_names), items)


# -- augmented manifests ----------------------------------------------------------------------------------


def read_manifest(text: str, where: str = "manifest", label_attribute: str | None = None) -> Dataset:
    """The labels of an augmented manifest (the label attribute found as ``start_run`` finds it). Class
    names come from the metadata (``class-name``, ``class-map``); ids never named are ``class-<id>``."""
    items: list[Item] = []
    names: dict[int, str] = {}
    task: TaskType | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record: Any = json.loads(line)
        except ValueError as error:
            raise FormatError(f"{where} line {number}", f"invalid JSON ({error})") from None
        if not isinstance(record, dict) or not isinstance(record.get("source-ref"), str):
            raise FormatError(f"{where} line {number}", "not a JSON object with a source-ref")
        candidates = label_candidates(record)
        attribute = label_attribute if label_attribute in candidates else None
        if attribute is None and len(candidates) == 1:
            attribute = candidates[0]
        if attribute is None:
            raise FormatError(
                f"{where} line {number}",
                "no label attribute with its -metadata (an unlabeled manifest has nothing to export)"
                if not candidates
                else f"several label attributes ({', '.join(sorted(candidates))})",
            )
        value, metadata = record[attribute], record[f"{attribute}-metadata"]
        kind = task_type_of(value, metadata)
        if kind not in {t.value for t in TaskType} or (task is not None and kind != task.value):
            raise FormatError(f"{where} line {number}", f"label type {kind} (earlier lines: {task})")
        task = TaskType(str(kind))
        items.append(_manifest_item(record["source-ref"], value, metadata, names, f"{where} line {number}"))
    if task is None:
        raise FormatError(where, "no labeled lines")
    count = max(names, default=-1) + 1
    return Dataset(task, [names.get(i, f"class-{i}") for i in range(count)], items)


def _manifest_item(ref: str, value: Any, metadata: Any, names: dict[int, str], where: str) -> Item:
    meta = metadata if isinstance(metadata, dict) else {}
    if isinstance(value, int) and not isinstance(value, bool):
        if isinstance(meta.get("class-name"), str):
            names.setdefault(value, meta["class-name"])
        names.setdefault(value, f"class-{value}")
        return Item(ref=ref, label=value)
    try:
        size = value["image_size"][0]
        boxes = [
            Box(int(a["class_id"]), a["left"], a["top"], a["width"], a["height"])
            for a in value["annotations"]
        ]
        item = Item(ref=ref, boxes=boxes, width=int(size["width"]), height=int(size["height"]))
        item.depth = int(size.get("depth") or 3)
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise FormatError(where, f"malformed bounding-box label ({error!r})") from None
    for key, name in (meta.get("class-map") or {}).items():
        if str(key).isdigit():
            names.setdefault(int(key), str(name))
    for box in boxes:
        names.setdefault(box.class_id, f"class-{box.class_id}")
    return item


def write_manifest(
    dataset: Dataset,
    *,
    label_attribute: str = DEFAULT_LABEL_ATTRIBUTE,
    job_name: str = "imported",
    now: datetime | None = None,
) -> str:
    """An augmented manifest (one line per item, labels marked human-annotated with confidence 1) in the
    shape Ground Truth writes (docs: sagemaker facts, "Manifests")."""
    spec = task_spec(dataset.task_type)
    created = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    common = {"human-annotated": "yes", "creation-date": created, "job-name": f"labeling-job/{job_name}"}
    lines = []
    for item in dataset.items:
        if spec.boxes:
            if item.width is None or item.height is None:
                raise FormatError(item.ref, "a bounding-box label needs the image's width and height")
            value: Any = {
                "image_size": [{"width": item.width, "height": item.height, "depth": item.depth}],
                "annotations": [
                    {
                        "class_id": b.class_id,
                        "left": b.left,
                        "top": b.top,
                        "width": b.width,
                        "height": b.height,
                    }
                    for b in item.boxes
                ],
            }
            used = sorted({b.class_id for b in item.boxes})
            metadata: dict[str, Any] = {
                "objects": [{"confidence": 1.0} for _ in item.boxes],
                "class-map": {str(i): dataset.class_names[i] for i in used},
                "type": spec.label_type,
                **common,
            }
        else:
            assert item.label is not None
            value = item.label
            metadata = {
                "class-name": dataset.class_names[item.label],
                "confidence": 1.0,
                "type": spec.label_type,
                **common,
            }
        record = {"source-ref": item.ref, label_attribute: value, f"{label_attribute}-metadata": metadata}
        lines.append(json.dumps(record) + "\n")
    return "".join(lines)
