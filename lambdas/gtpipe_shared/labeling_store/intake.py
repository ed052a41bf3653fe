"""An input manifest turned into the objects a job labels (pure: bytes in, objects out)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from gtpipe_shared.labeling_errors import InvalidManifest
from gtpipe_shared.labeling_gold import KEPT_KEYS, GoldObject, truth_of
from gtpipe_shared.labeling_store.models import LabelingObject
from gtpipe_shared.manifest import is_blank, iter_lines
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri


def objects_from_manifest(
    data: bytes, *, max_line_bytes: int = 100_000, max_issues: int = 5
) -> list[LabelingObject]:
    """The data lines of an input manifest as objects to label, in order.

    Every line must be a JSON object with an ``s3://`` ``source-ref`` (duplicates refused: Ground Truth
    labels an image once per job); trailing blank lines are skipped. InvalidManifest names the first
    ``max_issues`` problems and counts the rest.
    """
    objects: list[LabelingObject] = []
    problems: list[str] = []
    problem_count = 0
    seen: set[str] = set()
    blank_at: int | None = None

    def problem(number: int, message: str) -> None:
        nonlocal problem_count
        problem_count += 1
        if len(problems) < max_issues:
            problems.append(f"line {number}: {message}")

    for number, content in iter_lines(io.BytesIO(data), max_line_bytes=max_line_bytes):
        if content is None:
            problem(number, f"line is longer than {max_line_bytes} bytes")
            continue
        if is_blank(content):
            blank_at = blank_at or number
            continue
        if blank_at is not None:
            problem(blank_at, "blank line inside the manifest")
            blank_at = None
        try:
            obj = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            problem(number, "not a JSON object")
            continue
        if not isinstance(obj, dict):
            problem(number, "not a JSON object")
            continue
        ref: Any = obj.get("source-ref")
        try:
            parse_s3_uri(ref)
        except S3UriError as exc:
            problem(number, f"source-ref: {exc}" if ref is not None else "missing 'source-ref'")
            continue
        if ref in seen:
            problem(number, f"duplicate source-ref {ref[:200]}")
            continue
        seen.add(ref)
        objects.append(LabelingObject(index=len(objects), source_ref=ref, line=json.dumps(obj)))
    if not objects and not problem_count:
        problem(0, "manifest is empty (no JSON lines)")
    if problem_count:
        more = f" (and {problem_count - len(problems)} more)" if problem_count > len(problems) else ""
        raise InvalidManifest("; ".join(p.removeprefix("line 0: ") for p in problems) + more)
    return objects


def gold_from_manifest(
    data: bytes, *, task_type: str, label_attribute: str, class_names: Sequence[str], max_issues: int = 5
) -> list[GoldObject]:
    """The gold manifest's lines with their known answers; InvalidManifest (prefixed ``gold manifest``)
    names the first ``max_issues`` problems: lines as :func:`objects_from_manifest` requires, and a label
    under ``label_attribute`` valid for the task type and ``class_names`` (a ``class-name`` in the
    metadata must be the class of that id: the ids must mean the job's classes)."""
    try:
        lines = objects_from_manifest(data)
    except InvalidManifest as error:
        raise InvalidManifest(f"gold manifest: {error}") from None
    names = tuple(class_names)
    gold: list[GoldObject] = []
    problems: list[str] = []
    for item in lines:
        obj = json.loads(item.line)
        try:
            truth = truth_of(task_type, obj, label_attribute, names)
        except ValueError as error:
            problems.append(f"line {item.index + 1}: {error}")
            continue
        kept = {key: obj[key] for key in KEPT_KEYS if key in obj}
        gold.append(GoldObject(item.source_ref, json.dumps(kept), truth))
    if problems:
        more = f" (and {len(problems) - max_issues} more)" if len(problems) > max_issues else ""
        raise InvalidManifest("gold manifest: " + "; ".join(problems[:max_issues]) + more)
    return gold
