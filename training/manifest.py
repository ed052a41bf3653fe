"""The one manifest reader every local algorithm uses: a channel's Ground Truth augmented manifest, line by
line, and the images its lines reference.

The label attribute is discovered, never assumed: it is the key ``K`` whose sibling ``K-metadata``
exists (Ground Truth names it after ``LabelAttributeName``, or after the job in console-made jobs). An
algorithm supplies how its label parses and what record a line becomes (:func:`read_manifest_records`)
and how an image decodes (:func:`load_record_images`); bad lines and images fail the job, or are skipped
and counted with ``skip_bad_records``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from PIL import Image

from training.errors import DataError
from training.images import ImageDecodeError, open_image

LOG = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R", bound="ImageRecord")
M = TypeVar("M")
T = TypeVar("T")


class ImageRecord(Protocol):
    """A usable manifest line as an algorithm records it: at least where its image is."""

    @property
    def line_number(self) -> int: ...

    @property
    def source_ref(self) -> str: ...

    @property
    def image_path(self) -> Path: ...


@dataclass(frozen=True)
class ManifestLine:
    """A manifest line whose label parsed: its number, ``source-ref``, resolved image path, and the
    context that starts its messages (``channel 'train' x.manifest line 3 (s3://...)``)."""

    number: int
    source_ref: str
    image_path: Path
    context: str


@dataclass
class ManifestRecords(Generic[R]):
    """A parsed channel manifest: its records and the class names its label metadata gives."""

    channel: str
    manifest_path: Path
    label_attribute: str
    records: list[R]
    class_names: dict[int, str]
    skipped: list[str] = field(default_factory=list)


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


def find_manifest(channel_dir: Path, channel: str, algorithm: str) -> Path:
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
    accepted_types: tuple[str, ...],
    task: str,
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


def read_manifest_records(
    channel_dir: Path,
    channel: str,
    *,
    algorithm: str,
    label_types: tuple[str, ...],
    parse_label: Callable[[object], P],
    make_record: Callable[[ManifestLine, P, object], tuple[R, Mapping[int, str]]],
    build: Callable[[str, Path, str, list[R], dict[int, str], list[str]], M],
    skip_bad_records: bool = False,
) -> M:
    """Parse a channel's augmented manifest (images are not opened here) into ``build(channel, manifest
    path, label attribute, records, class names, skipped messages)``.

    Per line: ``parse_label(label)`` (ValueError: a bad record, like an unresolvable ``source-ref``), then
    ``make_record(line, parsed, label metadata)`` returns the record and the class names the line gives
    (it raises DataError for what fails the job whatever ``skip_bad_records`` says). Raises DataError for
    a missing channel or manifest, no or ambiguous label attribute (of ``label_types``), conflicting class
    names, no usable record and, unless ``skip_bad_records``, any malformed line.
    """
    manifest = find_manifest(channel_dir, channel, algorithm)
    bad = BadRecords(skip_bad_records)
    where = f"channel '{channel}' {manifest.name}"
    objects = read_manifest_objects(manifest, where, bad)
    attribute = discover_label_attribute([obj for _, obj in objects], manifest, label_types, algorithm)
    records: list[R] = []
    class_names: dict[int, str] = {}
    for number, obj in objects:
        source_ref = obj.get("source-ref")
        context = f"{where} line {number}" + (f" ({source_ref})" if isinstance(source_ref, str) else "")
        if not isinstance(source_ref, str) or not source_ref:
            bad(f"{context}: no 'source-ref' ({algorithm.replace('-', ' ')} needs an image per line)")
            continue
        if attribute not in obj:
            bad(f"{context}: no label attribute '{attribute}'")
            continue
        try:
            parsed = parse_label(obj[attribute])
            image_path = resolve_source_ref(source_ref, channel_dir, manifest.parent)
        except ValueError as exc:
            bad(f"{context}: {exc}")
            continue
        line = ManifestLine(number, source_ref, image_path, context)
        record, names = make_record(line, parsed, obj.get(f"{attribute}-metadata"))
        for index, name in names.items():
            known = class_names.setdefault(index, name)
            if known != name:
                raise DataError(f"{context}: class {index} is named {name!r} here but {known!r} before")
        records.append(record)
    if not records:
        raise DataError(f"{where}: no usable records ({len(bad.messages)} skipped)")
    return build(channel, manifest, attribute, records, class_names, bad.messages)


def load_record_images(
    manifest: ManifestRecords[R],
    decode: Callable[[R, Image.Image, str], T],
    *,
    skip_bad_records: bool = False,
) -> tuple[list[T], list[str]]:
    """``decode(record, image, context)`` for every record whose image opens, and the messages of every
    record skipped so far (the manifest's and the images'). A missing or undecodable image is a bad
    record; DataError when no image is usable."""
    bad = BadRecords(skip_bad_records)
    decoded: list[T] = []
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
        decoded.append(decode(record, image, context))
    if not decoded:
        raise DataError(f"{where}: no usable images ({len(bad.messages)} skipped)")
    return decoded, manifest.skipped + bad.messages
