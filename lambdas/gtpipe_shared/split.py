"""Streaming, stratified train/validation split of an augmented manifest.

Memory stays bounded whatever the manifest size (1,000,000 lines fit a 1 GB Lambda):

* pass 1 streams the manifest, parses each line's label and keeps two compact arrays per line: the stratum
  (class id) and a 32-bit random key drawn from ``random.Random(seed)``. Each line's rank is
  ``key << 32 | line_index`` (unique, so ties cannot change set sizes). Per class, the ``v`` smallest
  ranks go to validation, where ``v = clamp(round(n * ratio), 1, n - 1)`` for ``n >= 2`` and 0 for
  ``n == 1``: every class with two or more objects appears in both sets.
* pass 2 streams the manifest again and spills each line, prefixed with its rank, into one of ``K``
  temporary bucket files chosen by the top bits of its random key. Buckets cover increasing rank ranges,
  so sorting each bucket in memory (about ``bucket_bytes``) and concatenating them yields every output in
  rank order: a uniformly random, seed-determined shuffle (an external shuffle).

Lines are copied byte for byte (never re-serialized). Lines without the label attribute (objects Ground
Truth failed to label) are skipped and counted. Object detection keeps each image's boxes together (one
line is one image) and stratifies by the image's majority class (ties: lowest id; no boxes: a separate
stratum).

``validation-images.manifest`` is SageMaker's ``ManifestFile`` format for batch transform: a JSON array
whose first element is ``{"prefix": "s3://bucket/common/prefix/"}`` followed by keys relative to it, in
validation order. The prefix is the longest common ``/``-ending prefix of the validation images, so the
transform writes ``<output path><relative key>.out``. ManifestFile takes a single prefix, so validation
images spread over several buckets are rejected with a SplitError (training, which reads the augmented
manifest, has no such limit).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, BinaryIO

from gtpipe_shared.manifest import Readable, is_blank, iter_lines
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri
from gtpipe_shared.tasks import TaskSpec, task_spec

SKIP = -1
DEFAULT_BUCKET_BYTES = 32 * 1024 * 1024
MAX_BUCKETS = 256
RANK_HEX = 16  # width of the rank prefix written into bucket files
# json.loads(bytes) sniffs the encoding on every call; decoding UTF-8 once and reusing one decoder is
# about 30% faster on a million lines.
_DECODER = json.JSONDecoder()


def _parse(line: bytes) -> Any:
    return _DECODER.decode(line.decode("utf-8"))


class SplitError(Exception):
    """The manifest cannot be split; the message names the problem (caught by the state machine)."""


@dataclass(frozen=True)
class SplitOptions:
    """How to split: label attribute, task, class count, validation ratio, seed and buffer sizes."""

    label_attribute: str
    task_type: str
    num_classes: int
    validation_ratio: float
    seed: int
    max_line_bytes: int = 1_000_000
    bucket_bytes: int = DEFAULT_BUCKET_BYTES

    @cached_property
    def task(self) -> TaskSpec:
        """The task type's spec; SplitError (naming the known types) for one outside the registry."""
        try:
            return task_spec(self.task_type)
        except ValueError as exc:
            raise SplitError(str(exc)) from None


@dataclass
class SplitResult:
    """Counts per set and per stratum (class id; ``num_classes`` is "no boxes" for detection)."""

    train_count: int = 0
    validation_count: int = 0
    skipped: int = 0
    per_class: dict[int, dict[str, int]] = field(default_factory=dict)
    images_prefix: str = ""
    max_boxes: int = 0
    buckets: int = 0


@dataclass
class SplitOutputs:
    """Writable binary streams receiving the three manifests."""

    train: BinaryIO
    validation: BinaryIO
    validation_images: BinaryIO


def validation_count(n: int, ratio: float) -> int:
    """Validation objects for a class of ``n``: ``round(n * ratio)`` clamped to ``[1, n-1]``; 0 if n < 2."""
    if n < 2:
        return 0
    return min(max(round(n * ratio), 1), n - 1)


def majority_class(annotations: list[dict[str, Any]]) -> int | None:
    """Most frequent ``class_id`` among boxes (ties: lowest id); None without boxes."""
    counts: dict[int, int] = {}
    for box in annotations:
        counts[box["class_id"]] = counts.get(box["class_id"], 0) + 1
    if not counts:
        return None
    return min(counts, key=lambda cid: (-counts[cid], cid))


def stratum_of(obj: Any, options: SplitOptions, line: int) -> tuple[int, int]:
    """``(stratum, box_count)`` of one parsed line; stratum SKIP when the line has no label.

    Raises SplitError for labels that cannot be trained on (wrong type, unknown class id).
    """
    if not isinstance(obj, dict):
        raise SplitError(f"line {line}: expected a JSON object")
    attribute = options.label_attribute
    if attribute not in obj:
        return SKIP, 0
    value = obj[attribute]
    num_classes = options.num_classes
    if not options.task.boxes:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < num_classes:
            raise SplitError(
                f"line {line}: label {json.dumps(value)[:40]} of '{attribute}' "
                f"is not a class id in [0, {num_classes})"
            )
        return value, 0
    annotations = value.get("annotations") if isinstance(value, dict) else None
    if not isinstance(annotations, list):
        raise SplitError(f"line {line}: '{attribute}' has no bounding-box annotations list")
    for box in annotations:
        class_id = box.get("class_id") if isinstance(box, dict) else None
        if not isinstance(class_id, int) or isinstance(class_id, bool) or not 0 <= class_id < num_classes:
            raise SplitError(
                f"line {line}: box class_id {class_id!r} is not a class id in [0, {num_classes})"
            )
    majority = majority_class(annotations)
    return (num_classes if majority is None else majority), len(annotations)


def _source_ref(line: bytes, number: int) -> str:
    try:
        ref = _parse(line)["source-ref"]
        parse_s3_uri(ref)
    except (ValueError, KeyError, TypeError, S3UriError) as exc:
        raise SplitError(f"validation line {number}: no usable s3:// source-ref ({exc})") from exc
    return str(ref)


DETECTION_LABEL_WIDTH = 350  # the object-detection algorithm's default label_width


def training_hyperparameters(
    task_type: str, class_count: int, train_count: int, max_boxes: int, overrides: Mapping[str, Any]
) -> dict[str, str]:
    """The training job's hyperparameters: the computed ones (``num_classes``, ``num_training_samples``,
    and for boxes ``label_width``) with ``overrides`` (the configuration's) merged over them, all strings."""
    computed = {"num_classes": str(class_count), "num_training_samples": str(train_count)}
    if task_spec(task_type).boxes:
        # Each box takes 5 label values after a 2-value header; the default width fits 69 boxes.
        computed["label_width"] = str(max(DETECTION_LABEL_WIDTH, 2 + 5 * max_boxes))
    given = {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in overrides.items()}
    return {**computed, **given}


def common_prefix(current: str | None, ref: str) -> str:
    """Longest common prefix of ``current`` and ``ref`` (``current`` None starts with ``ref``)."""
    if current is None:
        return ref
    if ref.startswith(current):
        return current  # the common case, decided in C
    limit = min(len(current), len(ref))
    index = 0
    while index < limit and current[index] == ref[index]:
        index += 1
    return current[:index]


def manifest_prefix(common: str, refs_seen: int) -> str:
    """``s3://bucket/dir/`` prefix for a ManifestFile from the refs' common prefix.

    The prefix ends at a ``/`` and always includes the bucket; a common prefix that does not reach past
    ``s3://bucket/`` means the images span several buckets, which one ManifestFile cannot express.
    """
    if refs_seen == 0:
        raise SplitError("no validation images")
    # One ref: its own directory. Several: their common prefix cut back to the last "/".
    common = common.rsplit("/", 1)[0] + "/" if refs_seen == 1 else common[: common.rfind("/") + 1]
    try:
        parse_s3_uri(common, allow_empty_key=True)
    except S3UriError:
        common = ""
    if not common.startswith("s3://") or common.count("/") < 3:
        raise SplitError(
            "validation images come from more than one S3 bucket; batch transform's ManifestFile input "
            "takes a single s3://bucket/ prefix, so copy the images into one bucket"
        )
    return common


def relative_to(prefix: str, ref: str) -> str:
    """Key of ``ref`` relative to a ManifestFile prefix."""
    if not ref.startswith(prefix):
        raise SplitError(f"source-ref {ref[:200]} is not under the prefix {prefix}")
    return ref[len(prefix) :]


def split_manifest(
    open_source: Callable[[], Readable | BinaryIO],
    outputs: SplitOutputs,
    options: SplitOptions,
    *,
    tmp_dir: str | None = None,
) -> SplitResult:
    """Split the manifest that ``open_source()`` streams (called twice) into ``outputs``.

    Raises SplitError for an empty manifest, unusable labels, fewer than two classes (classification),
    an empty validation set, or validation images spread over several buckets.
    """
    if not 0.0 < options.validation_ratio < 1.0:
        raise SplitError(
            f"validation_ratio must be between 0 and 1 (exclusive), got {options.validation_ratio}"
        )
    if options.num_classes < 1:
        raise SplitError("class_names is empty")
    strata, keys, counts, total_bytes, result = _pass_one(open_source, options)
    labeled = sum(counts.values())
    if labeled == 0:
        raise SplitError(f"manifest has no lines labeled with '{options.label_attribute}'")
    present = [s for s, n in counts.items() if n > 0 and s < options.num_classes]
    if not options.task.boxes and len(present) < options.task.min_classes:
        raise SplitError(
            f"only {len(present)} class present in the labels; image classification needs at least 2 classes"
        )
    quota = {stratum: validation_count(n, options.validation_ratio) for stratum, n in counts.items()}
    if sum(quota.values()) == 0:
        raise SplitError("validation set would be empty: no class has 2 or more labeled objects")
    thresholds = _thresholds(strata, keys, quota)
    for stratum, n in sorted(counts.items()):
        result.per_class[stratum] = {"train": n - quota[stratum], "validation": quota[stratum]}
    result.validation_count = sum(quota.values())
    result.train_count = labeled - result.validation_count

    buckets = min(MAX_BUCKETS, max(1, -(-total_bytes // options.bucket_bytes)))
    result.buckets = buckets
    with tempfile.TemporaryDirectory(prefix="gtpipe-split-", dir=tmp_dir) as work:
        _pass_two(open_source, work, buckets, strata, keys, thresholds, options)
        result.images_prefix = _merge(work, buckets, outputs)
    return result


def _pass_one(
    open_source: Callable[[], Readable | BinaryIO], options: SplitOptions
) -> tuple[array[int], array[int], dict[int, int], int, SplitResult]:
    rng = random.Random(options.seed)
    strata: array[int] = array("i")
    keys: array[int] = array("I")
    counts: dict[int, int] = {}
    total_bytes = 0
    result = SplitResult()
    for number, line in iter_lines(open_source(), max_line_bytes=options.max_line_bytes):
        if line is None:
            raise SplitError(f"line {number} is longer than {options.max_line_bytes} bytes")
        if is_blank(line):
            continue
        try:
            obj = _parse(line)
        except ValueError as exc:
            raise SplitError(f"line {number} is not valid JSON ({exc})") from exc
        stratum, boxes = stratum_of(obj, options, number)
        strata.append(stratum)
        # Draw a key for skipped lines too, so each line's key depends only on its position.
        keys.append(rng.getrandbits(32))
        if stratum == SKIP:
            result.skipped += 1
            continue
        counts[stratum] = counts.get(stratum, 0) + 1
        result.max_boxes = max(result.max_boxes, boxes)
        total_bytes += len(line) + RANK_HEX + 2
    return strata, keys, counts, total_bytes, result


def _thresholds(strata: array[int], keys: array[int], quota: dict[int, int]) -> dict[int, int]:
    """Largest validation rank per stratum (ranks ``<=`` it go to validation; -1 means none)."""
    ranks: dict[int, array[int]] = {stratum: array("Q") for stratum, v in quota.items() if v > 0}
    for index, stratum in enumerate(strata):
        bucket = ranks.get(stratum)
        if bucket is not None:
            bucket.append(keys[index] << 32 | index)
    thresholds = {stratum: -1 for stratum in quota}
    for stratum, values in ranks.items():
        # One class at a time, so the sorted copy is bounded by the largest class.
        thresholds[stratum] = sorted(values)[quota[stratum] - 1]
        del values
    return thresholds


def _pass_two(
    open_source: Callable[[], Readable | BinaryIO],
    work: str,
    buckets: int,
    strata: array[int],
    keys: array[int],
    thresholds: dict[int, int],
    options: SplitOptions,
) -> None:
    files = [open(os.path.join(work, f"bucket-{i:03d}"), "wb", buffering=1 << 16) for i in range(buckets)]  # noqa: SIM115
    try:
        index = 0
        for number, line in iter_lines(open_source(), max_line_bytes=options.max_line_bytes):
            if line is None or is_blank(line):
                if line is None:
                    raise SplitError(f"line {number} is longer than {options.max_line_bytes} bytes")
                continue
            if index >= len(strata):
                raise SplitError("manifest changed between the two reads (more lines on the second read)")
            stratum = strata[index]
            if stratum != SKIP:
                key = keys[index]
                rank = key << 32 | index
                tag = b"V" if rank <= thresholds[stratum] else b"T"
                target = files[(key * buckets) >> 32]
                target.write(b"%016x%s%s\n" % (rank, tag, line))
            index += 1
        if index != len(strata):
            raise SplitError("manifest changed between the two reads (fewer lines on the second read)")
    finally:
        for handle in files:
            handle.close()


def _merge(work: str, buckets: int, outputs: SplitOutputs) -> str:
    """Sort each bucket by rank and append its lines to the outputs; return the images prefix."""
    refs_path = os.path.join(work, "validation-refs")
    common: str | None = None
    refs_seen = 0
    with open(refs_path, "w", encoding="utf-8") as refs:
        for i in range(buckets):
            path = os.path.join(work, f"bucket-{i:03d}")
            with open(path, "rb") as handle:
                records = handle.read().split(b"\n")
            os.remove(path)  # free /tmp early: the buckets hold a full copy of the manifest
            records.pop()  # empty segment after the final newline
            records.sort()  # fixed-width hex ranks sort numerically
            for record in records:
                line = record[RANK_HEX + 1 :]
                if record[RANK_HEX : RANK_HEX + 1] == b"V":
                    outputs.validation.write(line + b"\n")
                    ref = _source_ref(line, refs_seen + 1)
                    refs.write(json.dumps(ref) + "\n")
                    common = common_prefix(common, ref)
                    refs_seen += 1
                else:
                    outputs.train.write(line + b"\n")
            del records
    prefix = manifest_prefix(common or "", refs_seen)
    outputs.validation_images.write(b"[" + json.dumps({"prefix": prefix}).encode())
    with open(refs_path, encoding="utf-8") as refs:
        for entry in refs:
            outputs.validation_images.write(
                b",\n" + json.dumps(relative_to(prefix, json.loads(entry))).encode()
            )
    outputs.validation_images.write(b"\n]\n")
    return prefix
