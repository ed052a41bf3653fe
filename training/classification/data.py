"""Read an image-classification channel: one Ground Truth classification augmented manifest plus its images.

A line holds ``source-ref`` and the label attribute ``K`` (discovered: see :mod:`training.manifest`) with a
class index (or, with ``multi_label=1``, a list of indices) and ``K-metadata`` naming the class
(``class-name``, or ``class-map`` for multi-label).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from training.classification.hyperparameters import ALGORITHM
from training.errors import DataError
from training.images import ImageSpec, to_array
from training.manifest import (
    ManifestLine,
    ManifestRecords,
    class_map_names,
    load_record_images,
    read_manifest_records,
)

CLASSIFICATION_TYPES = ("groundtruth/image-classification", "groundtruth/image-classification-multilabel")

Label = int | tuple[int, ...]

# The built-in's (MXNet's) words for an image smaller than image_shape; gtpipe_shared.aws_limits has the same.
IMAGE_SMALLER_THAN_SHAPE = "input image size smaller than input shape"


@dataclass(frozen=True)
class ManifestRecord:
    """One usable manifest line: where its image is and its label (class index or indices)."""

    line_number: int
    source_ref: str
    image_path: Path
    label: Label


class ChannelManifest(ManifestRecords[ManifestRecord]):
    """A parsed classification channel manifest."""


@dataclass
class ChannelImages:
    """A channel's images decoded to uint8 arrays, with labels aligned to them."""

    arrays: np.ndarray  # (N, C, h, w) uint8
    labels: list[Label]
    skipped: list[str]


def _parse_label(value: object, multi_label: bool) -> Label:
    def as_index(item: object) -> int:
        if isinstance(item, bool) or not isinstance(item, int | float) or float(item) != int(item):
            raise ValueError(f"label {item!r} is not an integer class index")
        if item < 0:
            raise ValueError(f"label {item!r} is negative")
        return int(item)

    if isinstance(value, list):
        if not multi_label:
            raise ValueError(f"label {value!r} is a list (multi-label); set hyperparameter multi_label=1")
        if not value:
            raise ValueError("label list is empty")
        return tuple(sorted({as_index(item) for item in value}))
    index = as_index(value)
    return (index,) if multi_label else index


def _record_class_names(metadata: object, label: Label) -> dict[int, str]:
    if not isinstance(metadata, dict):
        return {}
    if isinstance(label, int):
        name = metadata.get("class-name")
        return {label: name} if isinstance(name, str) else {}
    return class_map_names(metadata)


def read_channel_manifest(
    channel_dir: Path,
    channel: str,
    *,
    num_classes: int,
    multi_label: bool = False,
    skip_bad_records: bool = False,
) -> ChannelManifest:
    """Parse the channel's augmented manifest into records (images are not opened here).

    Raises :class:`DataError` for a missing channel or manifest, no/ambiguous label attribute,
    conflicting class names, labels ``>= num_classes`` and, unless ``skip_bad_records``, for any
    malformed line.
    """

    def make_record(
        line: ManifestLine, label: Label, metadata: object
    ) -> tuple[ManifestRecord, dict[int, str]]:
        indices = (label,) if isinstance(label, int) else label
        out_of_range = [i for i in indices if i >= num_classes]
        if out_of_range:
            # Never skipped: it means num_classes disagrees with the data, not that one line is bad.
            raise DataError(
                f"{line.context}: label {out_of_range[0]} is out of range for num_classes={num_classes} "
                f"(labels must be 0..{num_classes - 1})"
            )
        record = ManifestRecord(line.number, line.source_ref, line.image_path, label)
        return record, _record_class_names(metadata, label)

    return read_manifest_records(
        channel_dir,
        channel,
        algorithm=ALGORITHM,
        label_types=CLASSIFICATION_TYPES,
        parse_label=lambda value: _parse_label(value, multi_label),
        make_record=make_record,
        build=ChannelManifest,
        skip_bad_records=skip_bad_records,
    )


def _check_input_shape(height: int, width: int, spec: ImageSpec, context: str) -> None:
    """Fail the job, as the built-in image-classification algorithm does, on an image smaller than
    ``image_shape`` when ``resize`` is not set.

    The built-in uses the training images "without resizing" unless ``resize`` is set
    (https://docs.aws.amazon.com/sagemaker/latest/dg/IC-Hyperparameter.html), and its MXNet image iterator
    stops at the first such image ("Check failed: ... input image size smaller than input shape"). Not a bad
    record: ``skip_bad_records`` does not skip it there either.
    """
    if spec.resize is not None or (height >= spec.height and width >= spec.width):
        return
    raise DataError(
        f"{context}: {IMAGE_SMALLER_THAN_SHAPE}: the image is {height}x{width} (height x width) and "
        f"image_shape is {spec.channels},{spec.height},{spec.width}; set hyperparameter resize (at least "
        f"{max(spec.height, spec.width)}) to scale every image, or use images at least that large"
    )


def load_channel_images(
    manifest: ChannelManifest,
    spec: ImageSpec,
    *,
    skip_bad_records: bool = False,
) -> ChannelImages:
    """Decode every record's image (missing or undecodable ones fail the job unless skipped)."""

    def decode(record: ManifestRecord, image: Image.Image, context: str) -> tuple[np.ndarray, Label]:
        _check_input_shape(image.height, image.width, spec, context)
        return to_array(image, spec), record.label

    decoded, skipped = load_record_images(manifest, decode, skip_bad_records=skip_bad_records)
    return ChannelImages(np.stack([array for array, _ in decoded]), [label for _, label in decoded], skipped)
