"""Streaming parse and validation of Ground Truth JSON Lines manifests.

The manifest is read in fixed-size chunks from any object with ``read(n)`` (a file, or boto3's
``StreamingBody``), so a multi-gigabyte object never sits in memory. Each line must be a JSON object with
an ``s3://`` ``source-ref`` in an allowed bucket. The first line decides the kind:

* ``input``: no labels (Ground Truth labels it first). A line that carries a label attribute without its
  ``-metadata`` is unlabeled too; the report's ``warnings`` say so (:mod:`gtpipe_shared.manifest_hints`);
* ``augmented``: a label attribute ``K`` with a ``K-metadata`` sibling, as Ground Truth writes it. Every
  line must carry the same attribute, and the labels must fit the configured classes.

Blank lines: trailing blank lines are skipped (editors add them); a blank line followed by more data is an
error, because Ground Truth reads every line as one object. A UTF-8 byte order mark and CRLF line ends are
tolerated. Problems are collected per line (the first ``max_issues`` kept, all counted).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, Protocol

from gtpipe_shared.manifest_hints import HalfLabelWarnings
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri
from gtpipe_shared.tasks import BY_LABEL_TYPE, TASK_TYPES, TASKS, task_spec

BOM = b"\xef\xbb\xbf"
CHUNK_SIZE = 1 << 16
_EPSILON = 1e-6
# One reusable decoder over UTF-8 text: json.loads(bytes) re-detects the encoding on every line.
_DECODER = json.JSONDecoder()

ManifestKind = Literal["input", "augmented"]


class Readable(Protocol):
    """Anything with ``read(n) -> bytes`` (files, botocore StreamingBody)."""

    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class ManifestIssue:
    """One problem, with the 1-based physical line number (0 for whole-file problems)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class ManifestSummary:
    """What a manifest holds.

    ``class_counts`` maps class id to the number of labeled images (classification) or boxes
    (object detection). ``byte_count`` is the number of bytes read.
    """

    kind: ManifestKind
    label_attribute: str | None
    line_count: int
    task_type: str | None
    class_counts: dict[int, int] = field(default_factory=dict)
    byte_count: int = 0


@dataclass
class ManifestReport:
    """Validation outcome: the summary plus the first issues and the total number of issues.

    ``warnings`` do not stop a run: lines of an unlabeled manifest that look labeled (a label attribute
    without its ``-metadata``), one message per kind of problem.
    """

    summary: ManifestSummary
    issues: list[ManifestIssue]
    issue_count: int
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the manifest has no issues."""
        return self.issue_count == 0

    def messages(self) -> list[str]:
        """The kept issues as ``line N: message`` strings."""
        return [str(issue) for issue in self.issues]


@dataclass(frozen=True)
class ManifestRules:
    """Limits and expectations a manifest is checked against.

    ``class_names`` empty means class ids are not range-checked. ``task_type`` None accepts either task.
    ``label_attribute`` picks the attribute when a line carries several (chained labeling jobs).
    """

    allowed_buckets: frozenset[str]
    max_bytes: int = 2 * 1024**3
    max_lines: int = 1_000_000
    max_line_bytes: int = 100_000
    class_names: tuple[str, ...] = ()
    task_type: str | None = None
    label_attribute: str | None = None
    max_issues: int = 20


class _Limited:
    """Reader wrapper that stops (and flags) once more than ``limit`` bytes were read."""

    def __init__(self, stream: Readable, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.count = 0
        self.exceeded = False

    def read(self, size: int = -1, /) -> bytes:
        if self.exceeded:
            return b""
        data = self._stream.read(size)
        self.count += len(data)
        if self.count > self._limit:
            self.exceeded = True
            return b""
        return data


def iter_lines(
    stream: Readable | BinaryIO, *, max_line_bytes: int | None = None, chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(line_number, content)`` for every physical line, reading ``chunk_size`` bytes at a time.

    ``content`` has the line end (LF or CRLF) and a leading UTF-8 BOM removed. It is None when the line is
    longer than ``max_line_bytes``: the line is skipped without buffering it, so one huge line cannot
    exhaust memory. A final line without a newline is yielded; an empty final segment is not.
    """
    number = 0
    pending = b""
    overlong = False
    first = True
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        parts = (pending + chunk).split(b"\n")
        pending = parts.pop()
        for part in parts:
            number += 1
            if first:
                first = False
                if part.startswith(BOM):
                    part = part[len(BOM) :]
            if overlong:
                overlong = False
                yield number, None
                continue
            if part.endswith(b"\r"):
                part = part[:-1]
            if max_line_bytes is not None and len(part) > max_line_bytes:
                yield number, None
            else:
                yield number, part
        if max_line_bytes is not None and len(pending) > max_line_bytes + 1:
            # Drop the buffered start of an overlong line; its end is reported at the next newline.
            overlong = True
            first = False
            pending = b""
    if pending or overlong:
        number += 1
        if first and pending.startswith(BOM):
            pending = pending[len(BOM) :]
        if pending.endswith(b"\r"):
            pending = pending[:-1]
        if overlong or (max_line_bytes is not None and len(pending) > max_line_bytes):
            yield number, None
        else:
            yield number, pending


def is_blank(content: bytes) -> bool:
    """True for an empty or whitespace-only line."""
    return not content.strip()


def label_candidates(obj: dict[str, Any]) -> list[str]:
    """Keys ``K`` of an object that have a ``K-metadata`` sibling (Ground Truth label attributes)."""
    return [key[: -len("-metadata")] for key in obj if key.endswith("-metadata") and key[:-9] in obj]


def task_type_of(value: Any, metadata: Any) -> str | None:
    """Task type of one label: from ``metadata.type`` when Ground Truth wrote it (a type outside the
    registry as its name after ``groundtruth/``), else from its shape (:attr:`TaskSpec.boxes`)."""
    if isinstance(metadata, dict):
        gt_type = metadata.get("type")
        if isinstance(gt_type, str) and gt_type in BY_LABEL_TYPE:
            return BY_LABEL_TYPE[gt_type].value
        if isinstance(gt_type, str) and gt_type.startswith("groundtruth/"):
            return gt_type.removeprefix("groundtruth/")
    boxes = isinstance(value, dict) and "annotations" in value
    if boxes or (isinstance(value, int) and not isinstance(value, bool)):
        return next(spec.value for spec in TASKS.values() if spec.boxes == boxes)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_classification_label(value: Any, metadata: Any, class_names: tuple[str, ...]) -> str | None:
    """Problem with an image-classification label, or None when it is valid."""
    if not isinstance(value, int) or isinstance(value, bool):
        return f"label must be an integer class id, got {json.dumps(value)[:60]}"
    num_classes = len(class_names)
    if value < 0 or (num_classes and value >= num_classes):
        bound = f"[0, {num_classes})" if num_classes else ">= 0"
        return f"label {value} is not a known class id (expected {bound})"
    if num_classes and isinstance(metadata, dict):
        name = metadata.get("class-name")
        if isinstance(name, str) and name != class_names[value]:
            # The label categories order defines class ids; a mismatch means the ids mean other classes.
            return f"class-name '{name[:60]}' does not match label category {value} '{class_names[value]}'"
    return None


def check_detection_label(value: Any, class_names: tuple[str, ...]) -> str | None:
    """Problem with an object-detection label (boxes must lie inside the image), or None when valid."""
    if not isinstance(value, dict):
        return "bounding-box label must be an object with image_size and annotations"
    sizes = value.get("image_size")
    if not isinstance(sizes, list) or not sizes or not isinstance(sizes[0], dict):
        return "bounding-box label needs image_size: [{width, height, depth}]"
    width: Any = sizes[0].get("width")
    height: Any = sizes[0].get("height")
    if not (_is_number(width) and _is_number(height) and width > 0 and height > 0):
        return "image_size width and height must be positive numbers"
    annotations = value.get("annotations")
    if not isinstance(annotations, list):
        return "bounding-box label needs an annotations list"
    num_classes = len(class_names)
    for index, box in enumerate(annotations):
        if not isinstance(box, dict):
            return f"annotation {index} is not an object"
        class_id: Any = box.get("class_id")
        if not isinstance(class_id, int) or isinstance(class_id, bool) or class_id < 0:
            return f"annotation {index} class_id must be a non-negative integer"
        if num_classes and class_id >= num_classes:
            return f"annotation {index} class_id {class_id} is not a known class id ([0, {num_classes}))"
        coords: list[Any] = [box.get(name) for name in ("left", "top", "width", "height")]
        if not all(_is_number(c) for c in coords):
            return f"annotation {index} needs numeric left, top, width and height"
        left, top, box_w, box_h = coords
        if box_w <= 0 or box_h <= 0:
            return f"annotation {index} has a non-positive width or height"
        if left < 0 or top < 0 or left + box_w > width + _EPSILON or top + box_h > height + _EPSILON:
            box_text = f"({left}, {top}, {box_w}x{box_h})"
            return f"annotation {index} box {box_text} is outside the {width}x{height} image"
    return None


def source_ref_of(line: bytes | str) -> str | None:
    """The ``source-ref`` of one manifest line, or None when the line is not a JSON object with a string
    ``source-ref`` (blank and broken lines included)."""
    try:
        ref = json.loads(line).get("source-ref")
    except (ValueError, AttributeError):
        return None
    return ref if isinstance(ref, str) else None


def ref_digest(ref: str) -> int:
    """60-bit digest of a source-ref for duplicate detection.

    Why 60 bits: Python keeps such ints in 32 bytes, so a set of 1M refs costs about 70 MB instead of the
    150+ MB the strings would take. The chance of a false duplicate among 1M refs is below 1e-6.
    """
    return int.from_bytes(hashlib.blake2b(ref.encode(), digest_size=8).digest(), "big") >> 4


class ManifestValidator:
    """Line-by-line validator; ``validate_manifest`` drives it over a stream."""

    def __init__(self, rules: ManifestRules) -> None:
        self.rules = rules
        self.issues: list[ManifestIssue] = []
        self.issue_count = 0
        self.line_count = 0
        self.kind: ManifestKind | None = None
        self.label_attribute: str | None = None
        self.task_type: str | None = None
        self.class_counts: dict[int, int] = {}
        self._seen: set[int] = set()
        self._blank_at: int | None = None
        self._first_data_line = 0
        self._task_mismatch_reported = False
        self._half_labels = HalfLabelWarnings(rules.label_attribute)

    def add_issue(self, line: int, message: str) -> None:
        """Record a problem (kept while fewer than ``max_issues``, always counted)."""
        self.issue_count += 1
        if len(self.issues) < self.rules.max_issues:
            self.issues.append(ManifestIssue(line, message))

    def feed(self, number: int, content: bytes | None) -> None:
        """Check one physical line (content None: the line exceeded ``max_line_bytes``)."""
        if content is None:
            self._data_line(number)
            self.add_issue(number, f"line is longer than {self.rules.max_line_bytes} bytes")
            return
        if is_blank(content):
            if self._blank_at is None:
                self._blank_at = number
            return
        self._data_line(number)
        try:
            obj = _DECODER.decode(content.decode("utf-8"))
        except UnicodeDecodeError:
            self.add_issue(number, "line is not valid UTF-8")
            return
        except json.JSONDecodeError as exc:
            self.add_issue(number, f"invalid JSON ({exc.msg} at column {exc.colno})")
            return
        if not isinstance(obj, dict):
            self.add_issue(number, f"line must be a JSON object, got {type(obj).__name__}")
            return
        self._check_source(number, obj)
        self._check_labels(number, obj)

    def _data_line(self, number: int) -> None:
        self.line_count += 1
        if self._blank_at is not None:
            self.add_issue(
                self._blank_at, "blank line inside the manifest (only trailing blank lines are allowed)"
            )
            self._blank_at = None

    def _check_source(self, number: int, obj: dict[str, Any]) -> None:
        ref = obj.get("source-ref")
        if ref is None:
            if "source" in obj:
                self.add_issue(
                    number, "inline 'source' is not supported: images need a 'source-ref' s3:// URI"
                )
            else:
                self.add_issue(number, "missing 'source-ref'")
            return
        try:
            bucket, _key = parse_s3_uri(ref)
        except S3UriError as exc:
            self.add_issue(number, f"source-ref {exc}")
            return
        if bucket not in self.rules.allowed_buckets:
            allowed = ", ".join(sorted(self.rules.allowed_buckets)) or "none"
            self.add_issue(number, f"source-ref bucket '{bucket}' is not allowed (allowed: {allowed})")
            return
        digest = ref_digest(ref)
        if digest in self._seen:
            self.add_issue(number, f"duplicate source-ref {ref[:200]}")
        else:
            self._seen.add(digest)

    def _check_labels(self, number: int, obj: dict[str, Any]) -> None:
        candidates = label_candidates(obj)
        if self.kind is None:
            self._first_data_line = number
            self._decide_kind(number, candidates)
        if self.kind == "input":
            if candidates:
                self.add_issue(
                    number,
                    f"line has label attribute '{candidates[0]}' but line {self._first_data_line} has none "
                    "(a manifest is either all unlabeled or all labeled)",
                )
            else:
                self._half_labels.check(number, obj)
            return
        attribute = self.label_attribute
        if attribute is None:
            return  # ambiguous attribute already reported
        if attribute not in obj or f"{attribute}-metadata" not in obj:
            self.add_issue(number, f"line has no label attribute '{attribute}' (every line must be labeled)")
            return
        value, metadata = obj[attribute], obj[f"{attribute}-metadata"]
        task_type = task_type_of(value, metadata)
        if task_type not in TASK_TYPES:
            self.add_issue(number, f"unsupported label type '{task_type}' for attribute '{attribute}'")
            return
        if self.task_type is None:
            self.task_type = task_type
            expected = self.rules.task_type
            if expected and task_type != expected and not self._task_mismatch_reported:
                self._task_mismatch_reported = True
                self.add_issue(
                    number,
                    f"manifest is labeled for {task_type} but the pipeline is configured for {expected}",
                )
        elif task_type != self.task_type:
            self.add_issue(number, f"label is {task_type} but earlier lines are {self.task_type}")
            return
        if not task_spec(task_type).boxes:
            problem = check_classification_label(value, metadata, self.rules.class_names)
            if problem is None:
                self.class_counts[value] = self.class_counts.get(value, 0) + 1
        else:
            problem = check_detection_label(value, self.rules.class_names)
            if problem is None:
                for box in value["annotations"]:
                    class_id = box["class_id"]
                    self.class_counts[class_id] = self.class_counts.get(class_id, 0) + 1
        if problem:
            self.add_issue(number, problem)

    def _decide_kind(self, number: int, candidates: list[str]) -> None:
        if not candidates:
            self.kind = "input"
            return
        self.kind = "augmented"
        preferred = self.rules.label_attribute
        if preferred in candidates:
            self.label_attribute = preferred
        elif len(candidates) == 1:
            self.label_attribute = candidates[0]
        else:
            names = ", ".join(sorted(candidates))
            self.add_issue(
                number,
                f"several label attributes ({names}); set labeling.label_attribute to the one to train on",
            )

    def finish(self, *, byte_count: int = 0) -> ManifestReport:
        """Close validation and build the report (empty manifests are an issue)."""
        if self.line_count == 0:
            self.add_issue(0, "manifest is empty (no JSON lines)")
        summary = ManifestSummary(
            kind=self.kind or "input",
            label_attribute=self.label_attribute,
            line_count=self.line_count,
            task_type=self.task_type if self.kind == "augmented" else self.rules.task_type,
            class_counts=dict(sorted(self.class_counts.items())),
            byte_count=byte_count,
        )
        return ManifestReport(
            summary=summary,
            issues=list(self.issues),
            issue_count=self.issue_count,
            warnings=self._half_labels.messages() if self.kind == "input" else [],
        )


def validate_manifest(stream: Readable | BinaryIO, rules: ManifestRules) -> ManifestReport:
    """Stream a manifest once and validate every line against ``rules``.

    Reading stops at ``max_bytes`` or after ``max_lines`` data lines (each reported as an issue), so an
    oversized object costs at most the limit in I/O.
    """
    limited = _Limited(stream, rules.max_bytes)
    validator = ManifestValidator(rules)
    for number, content in iter_lines(limited, max_line_bytes=rules.max_line_bytes):
        if validator.line_count >= rules.max_lines and content is not None and not is_blank(content):
            validator.add_issue(
                number, f"manifest has more than {rules.max_lines} lines (max_manifest_lines)"
            )
            break
        validator.feed(number, content)
    if limited.exceeded:
        validator.add_issue(0, f"manifest is larger than {rules.max_bytes} bytes (max_manifest_bytes)")
    return validator.finish(byte_count=limited.count)
