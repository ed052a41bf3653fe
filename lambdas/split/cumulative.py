"""The split's side of the cumulative dataset (``gtpipe_shared.dataset``): a feedback run's new labels are
added to the label set's current dataset, and every run's training manifests become the dataset's next
version. The split function may list, get and put under ``datasets/`` only."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from typing import Any, BinaryIO

from gtpipe_shared.aws import client
from gtpipe_shared.dataset import (
    append_lines,
    dataset_keys,
    is_feedback_manifest,
    source_refs,
    write_images_manifest,
)
from gtpipe_shared.manifest import iter_lines
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri, s3_uri
from gtpipe_shared.split import SplitError, SplitOptions, SplitResult, stratum_of


def source_key(source_manifest_uri: str | None) -> str | None:
    """The dropped manifest's key, or None when the payload has none (or it is not an s3:// URI)."""
    if not source_manifest_uri:
        return None
    try:
        return parse_s3_uri(source_manifest_uri)[1]
    except S3UriError:
        return None


def _download(bucket: str, key: str, path: str) -> str:
    """Download one object; its version id (the dataset version this run builds on)."""
    response = client("s3").get_object(Bucket=bucket, Key=key)
    with open(path, "wb") as out:
        shutil.copyfileobj(response["Body"], out)
    return str(response.get("VersionId") or "")


def _exists(bucket: str, key: str) -> bool:
    listed = client("s3").list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(item["Key"] == key for item in listed.get("Contents", []))


def cumulative_candidate(
    bucket: str, source_manifest_uri: str | None, task_type: str, class_names: list[str]
) -> bool:
    """Whether this run is cumulative: a feedback manifest, and its label set has a dataset already."""
    if not is_feedback_manifest(source_key(source_manifest_uri)):
        return False
    train_key, validation_key = dataset_keys(task_type, class_names)
    return _exists(bucket, train_key) and _exists(bucket, validation_key)


def labeled_to_train(open_source: Callable[[], Any], train: BinaryIO, options: SplitOptions) -> SplitResult:
    """Every labeled line of the manifest to ``train`` (byte for byte): for new labels too few to split
    on their own (SplitError, as the split, for unusable labels or none at all)."""
    result = SplitResult()
    source = open_source()
    try:
        for number, line in iter_lines(source, max_line_bytes=options.max_line_bytes):
            if line is None:
                raise SplitError(f"line {number} is longer than {options.max_line_bytes} bytes")
            if not line.strip():
                continue
            stratum, _boxes = stratum_of(json.loads(line), options, number)
            if stratum < 0:
                result.skipped += 1
                continue
            train.write(line + b"\n")
            counts = result.per_class.setdefault(stratum, {"train": 0, "validation": 0})
            counts["train"] += 1
            result.train_count += 1
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    if result.train_count == 0:
        raise SplitError(f"manifest has no lines labeled with '{options.label_attribute}'")
    return result


def add_to_dataset(
    *,
    bucket: str,
    source_manifest_uri: str | None,
    task_type: str,
    class_names: list[str],
    paths: list[str],
    result: SplitResult,
    options: SplitOptions,
    work: str,
) -> dict[str, Any]:
    """For a feedback run with a dataset of its label set: rewrite the local train, validation and
    validation-images files (``paths``) as the dataset plus the new labels and update ``result``'s counts. What it did,
    for the split's result."""
    train_key, validation_key = dataset_keys(task_type, class_names)
    if not is_feedback_manifest(source_key(source_manifest_uri)):
        return {"cumulative": False}
    if not (_exists(bucket, train_key) and _exists(bucket, validation_key)):
        return {"cumulative": False, "reason": "no earlier dataset of this label set"}
    base_train, base_validation = os.path.join(work, "base-train"), os.path.join(work, "base-validation")
    base = {
        "train_version_id": _download(bucket, train_key, base_train),
        "validation_version_id": _download(bucket, validation_key, base_validation),
    }
    new_train, new_validation, images = paths
    with open(new_train, "rb") as a, open(new_validation, "rb") as b:
        replaced = source_refs(a) | source_refs(b)
    added = {"train": result.train_count, "validation": result.validation_count}
    for side, base_path, new_path in (
        ("train", base_train, new_train),
        ("validation", base_validation, new_validation),
    ):
        merged = new_path + ".merged"
        with open(merged, "wb") as out, open(base_path, "rb") as old:
            kept = append_lines(
                old, out, replaced=replaced, options=options, per_class=result.per_class, side=side
            )
            with open(new_path, "rb") as new:
                shutil.copyfileobj(new, out)
        os.replace(merged, new_path)
        if side == "train":
            result.train_count += kept
        else:
            result.validation_count += kept
    with open(new_validation, "rb") as validation, open(images, "wb") as out:
        result.images_prefix = write_images_manifest(validation, out)
    return {"cumulative": True, "base": base, "added": added}


def record_dataset(
    *, bucket: str, task_type: str, class_names: list[str], train_path: str, validation_path: str
) -> dict[str, str]:
    """Write the run's train and validation manifests as the label set's dataset's next version."""
    s3 = client("s3")
    versions: dict[str, str] = {}
    for name, key, path in zip(
        ("train", "validation"),
        dataset_keys(task_type, class_names),
        (train_path, validation_path),
        strict=True,
    ):
        with open(path, "rb") as body:
            put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/jsonlines")
        versions[f"{name}_uri"] = s3_uri(bucket, key)
        versions[f"{name}_version_id"] = str(put.get("VersionId") or "")
    return versions
