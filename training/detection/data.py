"""Read an object-detection channel: one Ground Truth bounding-box augmented manifest plus its images.

A line looks like Ground Truth's output (the label attribute ``K`` is discovered, never assumed)::

    {"source-ref": "s3://bucket/a.png",
     "K": {"image_size": [{"width": 640, "height": 480, "depth": 3}],
           "annotations": [{"class_id": 0, "left": 10, "top": 20, "width": 50, "height": 40}]},
     "K-metadata": {"type": "groundtruth/object-detection", "class-map": {"0": "bird"}, ...}}

Boxes are in pixels of ``image_size``; they become relative ``(xmin, ymin, xmax, ymax)`` in 0..1, so
they stay valid whatever size the network sees. A box reaching past the image edge is clipped (workers
draw a little outside); one entirely outside is a bad record. An image with no annotations is a valid
negative example.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from training.detection.hyperparameters import ALGORITHM, LABEL_BOX_WIDTH, LABEL_HEADER_WIDTH
from training.errors import DataError
from training.images import resize_exact
from training.manifest import (
    ManifestLine,
    ManifestRecords,
    class_map_names,
    load_record_images,
    read_manifest_records,
)

LOG = logging.getLogger(__name__)

DETECTION_TYPES = ("groundtruth/object-detection",)


@dataclass(frozen=True)
class DetectionRecord:
    """One usable manifest line: its image and its boxes.

    ``boxes`` has shape (K, 5): ``class_id, xmin, ymin, xmax, ymax`` with coordinates relative to the
    image (0..1). ``width`` and ``height`` are the label's ``image_size``.
    """

    line_number: int
    source_ref: str
    image_path: Path
    width: int
    height: int
    boxes: np.ndarray


class DetectionManifest(ManifestRecords[DetectionRecord]):
    """A parsed detection channel manifest."""

    @property
    def box_count(self) -> int:
        """The number of labelled boxes over all records."""
        return sum(len(r.boxes) for r in self.records)


@dataclass
class DetectionImages:
    """A channel's images stretched to the network's square input, with their boxes aligned."""

    arrays: np.ndarray  # (N, 3, S, S) uint8
    boxes: list[np.ndarray]  # per image (K, 5): class_id, xmin, ymin, xmax, ymax (relative)
    skipped: list[str]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


# One box of a label: class_id, xmin, ymin, xmax, ymax (relative to the image, 0..1).
Box = tuple[int, float, float, float, float]


def parse_detection_label(value: object) -> tuple[int, int, list[Box]]:
    """``(width, height, [(class_id, xmin, ymin, xmax, ymax), ...])`` from a bounding-box label.

    Coordinates are relative to ``image_size`` and clipped to the image. Raises ``ValueError`` naming
    the problem (not a label object, no image size, malformed or empty box, box outside the image).
    """
    if not isinstance(value, dict):
        raise ValueError("label is not a bounding-box object with image_size and annotations")
    sizes = value.get("image_size")
    if not isinstance(sizes, list) or not sizes or not isinstance(sizes[0], dict):
        raise ValueError("label has no image_size: [{width, height, depth}]")
    width: Any = sizes[0].get("width")
    height: Any = sizes[0].get("height")
    if not (_number(width) and _number(height) and width > 0 and height > 0):
        raise ValueError(f"label image_size {sizes[0]!r} needs positive width and height")
    annotations = value.get("annotations")
    if not isinstance(annotations, list):
        raise ValueError("label has no annotations list")
    boxes = []
    for index, box in enumerate(annotations):
        if not isinstance(box, dict):
            raise ValueError(f"annotation {index} is not an object")
        class_id = box.get("class_id")
        if isinstance(class_id, float) and class_id.is_integer():
            class_id = int(class_id)
        if not isinstance(class_id, int) or isinstance(class_id, bool) or class_id < 0:
            raise ValueError(f"annotation {index} class_id {class_id!r} is not a non-negative integer")
        coords: list[Any] = [box.get(name) for name in ("left", "top", "width", "height")]
        if not all(_number(c) for c in coords):
            raise ValueError(f"annotation {index} needs numeric left, top, width and height")
        left, top, box_w, box_h = (float(c) for c in coords)
        if box_w <= 0 or box_h <= 0:
            raise ValueError(f"annotation {index} has a non-positive width or height ({box_w} x {box_h})")
        x0, y0 = max(left, 0.0), max(top, 0.0)
        x1, y1 = min(left + box_w, float(width)), min(top + box_h, float(height))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(
                f"annotation {index} box ({left:g}, {top:g}, {box_w:g}x{box_h:g}) lies outside the "
                f"{width}x{height} image"
            )
        boxes.append((class_id, x0 / width, y0 / height, x1 / width, y1 / height))
    return int(width), int(height), boxes


def read_detection_manifest(
    channel_dir: Path,
    channel: str,
    *,
    num_classes: int,
    label_width: int,
    skip_bad_records: bool = False,
) -> DetectionManifest:
    """Parse a channel's bounding-box augmented manifest (images are not opened here).

    Raises :class:`DataError` for a missing channel or manifest, no or ambiguous label attribute,
    conflicting class names, a ``class_id >= num_classes`` or more boxes in one image than
    ``label_width`` holds (both mean the hyperparameters disagree with the data, so they are never
    skipped), and, unless ``skip_bad_records``, for any malformed line.
    """
    max_boxes = (label_width - LABEL_HEADER_WIDTH) // LABEL_BOX_WIDTH

    def make_record(
        line: ManifestLine, label: tuple[int, int, list[Box]], metadata: object
    ) -> tuple[DetectionRecord, dict[int, str]]:
        width, height, boxes = label
        out_of_range = [box[0] for box in boxes if box[0] >= num_classes]
        if out_of_range:
            raise DataError(
                f"{line.context}: class_id {out_of_range[0]} is out of range for num_classes={num_classes} "
                f"(class ids must be 0..{num_classes - 1})"
            )
        if len(boxes) > max_boxes:
            raise DataError(
                f"{line.context}: {len(boxes)} boxes do not fit label_width={label_width} (at most "
                f"{max_boxes} boxes; set label_width to at least "
                f"{LABEL_HEADER_WIDTH + LABEL_BOX_WIDTH * len(boxes)})"
            )
        array = np.array(boxes, dtype=np.float32).reshape(-1, 5)
        record = DetectionRecord(line.number, line.source_ref, line.image_path, width, height, array)
        return record, class_map_names(metadata)

    return read_manifest_records(
        channel_dir,
        channel,
        algorithm=ALGORITHM,
        label_types=DETECTION_TYPES,
        parse_label=parse_detection_label,
        make_record=make_record,
        build=DetectionManifest,
        skip_bad_records=skip_bad_records,
    )


def load_detection_images(
    manifest: DetectionManifest, image_size: int, *, skip_bad_records: bool = False
) -> DetectionImages:
    """Decode every record's image, stretched to ``image_size`` square RGB (boxes are relative, so
    they need no change). Missing or undecodable images fail the job unless skipped."""
    mismatched = 0

    def decode(record: DetectionRecord, image: Image.Image, _context: str) -> tuple[np.ndarray, np.ndarray]:
        nonlocal mismatched
        if image.size != (record.width, record.height):
            mismatched += 1
        return resize_exact(image, image_size, image_size, 3), record.boxes

    decoded, skipped = load_record_images(manifest, decode, skip_bad_records=skip_bad_records)
    if mismatched:
        # Boxes are relative to the label's image_size, which is what the worker saw; an image stored at
        # another size (re-encoded, scaled) keeps its relative boxes.
        LOG.warning(
            "%s: %d image(s) differ in size from their label's image_size; boxes are scaled with the image",
            f"channel '{manifest.channel}' {manifest.manifest_path.name}",
            mismatched,
        )
    return DetectionImages(
        np.stack([array for array, _ in decoded]), [boxes for _, boxes in decoded], skipped
    )
