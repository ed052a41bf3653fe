"""The cumulative, versioned dataset of a label set (README "Model lifecycle: harvest, relabel, retrain").

Every run's split writes the manifests its model trains and is validated on to
``datasets/<label set>/train.manifest`` and ``validation.manifest`` of the data bucket (``<label set>`` is
the task type and class names' fingerprint, the one the model registry's groups use). The bucket is
versioned, so each run's dataset is a version of those two objects; the split's result names the version
ids (and the ones it built on).

A run of a *feedback* manifest (``incoming/feedback-<day>.manifest``, the harvester's) is cumulative: it
trains on the label set's current dataset plus its new labels. Its new labels are split as usual (stratified);
the current dataset's lines keep their side, so the earlier validation objects stay in validation and the
champion/challenger comparison (which leaves out whatever either model trained on) still scores the serving
model on images it never saw. A new label of an image already in the dataset replaces the old line. Any
other manifest starts the dataset over (it is the complete dataset its dropper meant to train on).

Label-error finding (``gtpipe:labelErrors``) trains the served model on the reviewed labels; its
``correct`` step writes them into the dataset's training manifest as the next version
(:func:`with_corrections`), so a later cumulative run keeps what the reviewers fixed.

Pure streaming helpers: the split and label_errors handlers own the I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import BinaryIO

from gtpipe_shared.harvest import MANIFEST_PREFIX
from gtpipe_shared.ledger import labeling_fingerprint
from gtpipe_shared.split import (
    SplitError,
    SplitOptions,
    common_prefix,
    manifest_prefix,
    relative_to,
    stratum_of,
)

DATASET_PREFIX = "datasets/"


def dataset_keys(task_type: str, class_names: list[str]) -> tuple[str, str]:
    """``(train key, validation key)`` of the label set's dataset."""
    folder = f"{DATASET_PREFIX}{labeling_fingerprint(task_type, class_names)}/"
    return f"{folder}train.manifest", f"{folder}validation.manifest"


def is_feedback_manifest(key: str | None) -> bool:
    """Whether a dropped manifest's key is a harvest's (``incoming/feedback-*``): its run is cumulative."""
    return bool(key) and str(key).startswith(MANIFEST_PREFIX)


def _ref(line: bytes) -> str | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    ref = value.get("source-ref") if isinstance(value, dict) else None
    return ref if isinstance(ref, str) else None


def source_refs(lines: Iterable[bytes]) -> set[str]:
    """The ``source-ref`` of every line."""
    return {ref for line in lines if line.strip() and (ref := _ref(line)) is not None}


def append_lines(
    base: Iterable[bytes],
    out: BinaryIO,
    *,
    replaced: set[str],
    options: SplitOptions,
    per_class: dict[int, dict[str, int]],
    side: str,
) -> int:
    """Copy the dataset's lines to ``out`` (byte for byte), leaving out images in ``replaced`` (relabeled
    now) and lines without a label; count them per class under ``side``. SplitError for an unusable line."""
    written = 0
    for number, raw in enumerate(base, start=1):
        line = raw.rstrip(b"\n")
        if not line.strip():
            continue
        ref = _ref(line)
        if ref is None:
            raise SplitError(f"dataset {side} line {number}: no source-ref")
        if ref in replaced:
            continue
        stratum, _boxes = stratum_of(json.loads(line), options, number)
        if stratum < 0:
            continue
        out.write(line + b"\n")
        counts = per_class.setdefault(stratum, {"train": 0, "validation": 0})
        counts[side] = counts.get(side, 0) + 1
        written += 1
    return written


def with_corrections(lines: Iterable[bytes], corrections: Mapping[bytes, bytes]) -> tuple[list[bytes], int]:
    """The dataset manifest's non-blank ``lines`` (without line ends) with each line that is, byte for byte,
    a key of ``corrections`` replaced by its value: the line a run trained on by its reviewed line. A line a
    later run rewrote (a new label of the image) matches no key and stays as that run wrote it. Returns the
    lines and how many were replaced."""
    out: list[bytes] = []
    replaced = 0
    for line in lines:
        if not line.strip():
            continue
        corrected = corrections.get(line)
        if corrected is not None:
            replaced += 1
        out.append(line if corrected is None else corrected)
    return out, replaced


def write_images_manifest(validation: Iterable[bytes], out: BinaryIO) -> str:
    """Batch transform's ManifestFile of the validation lines (``split`` module docstring); its prefix."""
    refs = [ref for line in validation if line.strip() and (ref := _ref(line)) is not None]
    common: str | None = None
    for ref in refs:
        common = common_prefix(common, ref)
    prefix = manifest_prefix(common or "", len(refs))
    out.write(b"[" + json.dumps({"prefix": prefix}).encode())
    for ref in refs:
        out.write(b",\n" + json.dumps(relative_to(prefix, ref)).encode())
    out.write(b"\n]\n")
    return prefix
