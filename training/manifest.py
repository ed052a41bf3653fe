"""Read a channel: one Ground Truth augmented manifest plus the images it references.

The label attribute is discovered, never assumed: it is the key ``K`` whose sibling ``K-metadata``
exists (Ground Truth names it after ``LabelAttributeName``, or after the job in console-made jobs).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import numpy as np

from training.errors import DataError
from training.images import ImageDecodeError, ImageSpec, open_image, to_array

LOG = logging.getLogger(__name__)

CLASSIFICATION_TYPES = ("groundtruth/image-classification", "groundtruth/image-classification-multilabel")

Label = int | tuple[int, ...]


@dataclass(frozen=True)
class ManifestRecord:
    """One usable manifest line: where its image is and its label (class index or indices)."""

    line_number: int
    source_ref: str
    image_path: Path
    label: Label


@dataclass
class ChannelManifest:
    """A parsed channel manifest."""

    channel: str
    manifest_path: Path
    label_attribute: str
    records: list[ManifestRecord]
    class_names: dict[int, str]
    skipped: list[str] = field(default_factory=list)


@dataclass
class ChannelImages:
    """A channel's images decoded to uint8 arrays, with labels aligned to them."""

    arrays: np.ndarray  # (N, C, h, w) uint8
    labels: list[Label]
    skipped: list[str]


class BadRecords:
    """Either fails the job on the first bad record or, with ``skip_bad_records``, logs and counts."""

    def __init__(self, skip: bool) -> None:
        self.skip = skip
        self.messages: list[str] = []

    def __call__(self, message: str) -> None:
        if not self.skip:
            raise DataError(message + " (set hyperparameter skip_bad_records=1 to skip such records)")
        LOG.warning("skipping bad record: %s", message)
        self.messages.append(message)


class NamedChannel(Protocol):
    """A parsed channel manifest's class names (classification's or detection's)."""

    @property
    def channel(self) -> str: ...

    @property
    def class_names(self) -> dict[int, str]: ...


def merge_class_names(
    num_classes: int, manifests: Sequence[NamedChannel], *, log: logging.Logger, unnamed_warning: str
) -> list[str]:
    """The ``num_classes`` class names that the channels' metadata agree on, by class index.

    Raises :class:`DataError` when two channels name one class differently. A class no channel names is
    named by its number; when others are named, ``log`` warns with ``unnamed_warning`` (a ``%s``
    format taking the list of unnamed indices).
    """
    names: dict[int, str] = {}
    for manifest in manifests:
        for index, name in manifest.class_names.items():
            known = names.setdefault(index, name)
            if known != name:
                raise DataError(
                    f"class {index} is named {known!r} in one channel and {name!r} in channel "
                    f"'{manifest.channel}'"
                )
    unnamed = [i for i in range(num_classes) if i not in names]
    if unnamed and names:
        log.warning(unnamed_warning, unnamed)
    return [names.get(i, str(i)) for i in range(num_classes)]


def find_manifest(channel_dir: Path, channel: str, algorithm: str = "image-classification") -> Path:
    """Return the single ``*.manifest`` file of a channel folder."""
    if not channel_dir.is_dir():
        raise DataError(
            f"channel '{channel}' not found at {channel_dir}: the {algorithm} algorithm "
            "needs a 'train' and a 'validation' channel"
        )
    manifests = sorted(channel_dir.glob("*.manifest"))
    if not manifests:
        raise DataError(f"channel '{channel}' ({channel_dir}) holds no *.manifest file")
    if len(manifests) > 1:
        names = ", ".join(m.name for m in manifests)
        raise DataError(
            f"channel '{channel}' ({channel_dir}) holds several manifests ({names}); expected one"
        )
    return manifests[0]


def resolve_source_ref(source_ref: str, channel_dir: Path, manifest_dir: Path) -> Path:
    """Map a ``source-ref`` to a local file.

    ``s3://bucket/key`` -> ``<channel_dir>/bucket/key`` (how the local cloud stages a channel);
    ``file:///abs/path`` -> that path; any other value is a path relative to the manifest's folder.
    """
    parsed = urlparse(source_ref)
    if parsed.scheme == "s3":
        if not parsed.netloc or not parsed.path.strip("/"):
            raise ValueError(f"malformed S3 URI {source_ref!r}")
        root = channel_dir.resolve()
        path = (root / parsed.netloc / unquote(parsed.path.lstrip("/"))).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"S3 key escapes the channel folder: {source_ref!r}")
        return path
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise ValueError(f"unsupported URI scheme {parsed.scheme!r} in {source_ref!r}")
    return manifest_dir / source_ref


def discover_label_attribute(
    objects: list[dict[str, Any]],
    manifest: Path,
    accepted_types: tuple[str, ...] = CLASSIFICATION_TYPES,
    task: str = "image-classification",
) -> str:
    """The label attribute: the key ``K`` with a sibling ``K-metadata`` whose ``type`` is one of
    ``accepted_types`` (or absent). Raises :class:`DataError` when there is none, or several."""
    seen: dict[str, str | None] = {}
    for obj in objects:
        for key in obj:
            if key.endswith("-metadata") or f"{key}-metadata" not in obj:
                continue
            metadata = obj[f"{key}-metadata"]
            kind = metadata.get("type") if isinstance(metadata, dict) else None
            seen.setdefault(key, kind if isinstance(kind, str) else None)
    if not seen:
        raise DataError(
            f"{manifest.name}: no label attribute found; an augmented manifest has a key K with a sibling "
            "'K-metadata' (Ground Truth's output manifest)"
        )
    usable = [k for k, kind in seen.items() if kind is None or kind in accepted_types]
    if not usable:
        kinds = ", ".join(f"{k} ({kind})" for k, kind in seen.items())
        raise DataError(
            f"{manifest.name}: label attribute(s) {kinds} are not {task} labels "
            f"(expected metadata type {accepted_types[0]})"
        )
    if len(usable) > 1:
        raise DataError(
            f"{manifest.name}: ambiguous label attribute, candidates: {', '.join(sorted(usable))}"
        )
    return usable[0]


def read_manifest_objects(manifest: Path, where: str, bad: BadRecords) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, JSON object)`` for each non-blank line; other lines go to ``bad``.

    Raises :class:`DataError` when no line is a JSON object.
    """
    objects: list[tuple[int, dict[str, Any]]] = []
    with manifest.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                bad(f"{where} line {number}: not valid JSON ({exc.msg})")
                continue
            if not isinstance(obj, dict):
                bad(f"{where} line {number}: not a JSON object")
                continue
            objects.append((number, obj))
    if not objects:
        raise DataError(f"{where}: no records")
    return objects


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


def class_map_names(metadata: object) -> dict[int, str]:
    """Class names by index from a label's metadata ``class-map`` (``{"0": "cat", ...}``)."""
    class_map = metadata.get("class-map") if isinstance(metadata, dict) else None
    if not isinstance(class_map, dict):
        return {}
    names = {}
    for key, name in class_map.items():
        if isinstance(name, str) and str(key).isdigit():
            names[int(key)] = name
    return names


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
    manifest = find_manifest(channel_dir, channel)
    bad = BadRecords(skip_bad_records)
    where = f"channel '{channel}' {manifest.name}"
    objects = read_manifest_objects(manifest, where, bad)
    attribute = discover_label_attribute([obj for _, obj in objects], manifest)
    records: list[ManifestRecord] = []
    class_names: dict[int, str] = {}
    for number, obj in objects:
        source_ref = obj.get("source-ref")
        context = f"{where} line {number}" + (f" ({source_ref})" if isinstance(source_ref, str) else "")
        if not isinstance(source_ref, str) or not source_ref:
            bad(f"{context}: no 'source-ref' (image classification needs an image per line)")
            continue
        if attribute not in obj:
            bad(f"{context}: no label attribute '{attribute}'")
            continue
        try:
            label = _parse_label(obj[attribute], multi_label)
            image_path = resolve_source_ref(source_ref, channel_dir, manifest.parent)
        except ValueError as exc:
            bad(f"{context}: {exc}")
            continue
        indices = (label,) if isinstance(label, int) else label
        out_of_range = [i for i in indices if i >= num_classes]
        if out_of_range:
            # Never skipped: it means num_classes disagrees with the data, not that one line is bad.
            raise DataError(
                f"{context}: label {out_of_range[0]} is out of range for num_classes={num_classes} "
                f"(labels must be 0..{num_classes - 1})"
            )
        for index, name in _record_class_names(obj.get(f"{attribute}-metadata"), label).items():
            known = class_names.setdefault(index, name)
            if known != name:
                raise DataError(f"{context}: class {index} is named {name!r} here but {known!r} before")
        records.append(ManifestRecord(number, source_ref, image_path, label))
    if not records:
        raise DataError(f"{where}: no usable records ({len(bad.messages)} skipped)")
    return ChannelManifest(channel, manifest, attribute, records, class_names, bad.messages)


# The built-in's (MXNet's) words for an image smaller than image_shape; gtpipe_shared.aws_limits has the same.
IMAGE_SMALLER_THAN_SHAPE = "input image size smaller than input shape"


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
    bad = BadRecords(skip_bad_records)
    arrays: list[np.ndarray] = []
    labels: list[Label] = []
    where = f"channel '{manifest.channel}' {manifest.manifest_path.name}"
    for record in manifest.records:
        context = f"{where} line {record.line_number} ({record.source_ref})"
        try:
            image = open_image(record.image_path)
        except FileNotFoundError:
            bad(f"{context}: image not found at {record.image_path}")
            continue
        except (ImageDecodeError, IsADirectoryError, PermissionError) as exc:
            bad(f"{context}: {exc}")
            continue
        _check_input_shape(image.height, image.width, spec, context)
        arrays.append(to_array(image, spec))
        labels.append(record.label)
    if not arrays:
        raise DataError(f"{where}: no usable images ({len(bad.messages)} skipped)")
    return ChannelImages(np.stack(arrays), labels, manifest.skipped + bad.messages)
