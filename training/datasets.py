"""Demo data: scikit-learn's bundled handwritten digits as PNG files plus Ground Truth manifests.

No download: ``sklearn.datasets.load_digits`` ships with scikit-learn. Images are written under
``<out_dir>/<bucket>/<prefix>/``, mirroring the S3 layout, so ``out_dir`` can be uploaded to (local)
S3 as is, or used directly as a channel folder (``s3://bucket/key`` resolves to ``<channel>/bucket/key``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from PIL import Image

CLASS_NAMES: tuple[str, ...] = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)


@dataclass(frozen=True)
class DigitRecord:
    """One written image: local path, its S3 URI, class index and name; ``holdout`` marks images kept
    out of labelling/training (e.g. to query a deployed endpoint)."""

    path: Path
    source_ref: str
    label: int
    class_name: str
    holdout: bool = False


def _interleaved_order(targets: np.ndarray, seed: int) -> list[int]:
    # Shuffle within each class, then deal the classes round-robin: any prefix (limit) and the tail
    # (holdout) then hold every class in nearly equal numbers.
    rng = np.random.default_rng(seed)
    per_class = [list(rng.permutation(np.flatnonzero(targets == c))) for c in range(len(CLASS_NAMES))]
    order: list[int] = []
    while any(per_class):
        for bucket in per_class:
            if bucket:
                order.append(int(bucket.pop()))
    return order


def write_digits_dataset(
    out_dir: str | Path,
    bucket: str = "demo-bucket",
    prefix: str = "images/digits",
    holdout_fraction: float = 0.1,
    limit: int | None = None,
    seed: int = 0,
    image_size: int = 32,
) -> list[DigitRecord]:
    """Write sklearn's 8x8 digits as ``image_size``-square grayscale PNGs and return their records.

    Pixel values 0..16 become 0..255; the images are upscaled bilinearly. ``limit`` keeps that many
    images (class-balanced); the last ``holdout_fraction`` of them (also balanced) have
    ``holdout=True``. Deterministic for a given ``seed``.
    """
    from sklearn.datasets import load_digits

    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    digits = load_digits()
    order = _interleaved_order(digits.target, seed)
    if limit is not None:
        order = order[:limit]
    holdout_count = round(len(order) * holdout_fraction)
    folder = Path(out_dir) / bucket / prefix.strip("/")
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for position, index in enumerate(order):
        pixels = np.clip(np.rint(digits.images[index] * (255.0 / 16.0)), 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels, mode="L").resize((image_size, image_size), Image.Resampling.BILINEAR)
        name = f"digit-{index:04d}.png"
        path = folder / name
        image.save(path, format="PNG")
        label = int(digits.target[index])
        records.append(
            DigitRecord(
                path=path,
                source_ref=f"s3://{bucket}/{prefix.strip('/')}/{name}",
                label=label,
                class_name=CLASS_NAMES[label],
                holdout=position >= len(order) - holdout_count,
            )
        )
    return records


def label_categories(class_names: Sequence[str] = CLASS_NAMES) -> dict[str, Any]:
    """The Ground Truth label categories file (``LabelCategoryConfigS3Uri``); order = class index.

    Ground Truth requires ``"document-version": "2018-11-28"``
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateLabelingJob.html)."""
    return {"document-version": "2018-11-28", "labels": [{"label": name} for name in class_names]}


def augmented_manifest_line(
    record: DigitRecord,
    label_attribute: str = "category",
    job_name: str = "digits-demo",
    creation_date: str | None = None,
) -> dict[str, Any]:
    """One line of a Ground Truth image-classification output manifest, in its exact format."""
    return {
        "source-ref": record.source_ref,
        label_attribute: record.label,
        f"{label_attribute}-metadata": {
            "class-name": record.class_name,
            "confidence": 1.0,
            "human-annotated": "yes",
            "creation-date": creation_date or datetime.now(UTC).replace(tzinfo=None).isoformat(),
            "job-name": f"labeling-job/{job_name}",
            "type": "groundtruth/image-classification",
        },
    }


def _write_lines(path: str | Path, lines: Iterable[dict[str, Any]]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line) + "\n")
    return target


def write_augmented_manifest(
    records: Iterable[DigitRecord],
    path: str | Path,
    label_attribute: str = "category",
    job_name: str = "digits-demo",
    creation_date: str | None = None,
) -> Path:
    """Write an augmented (labelled) manifest: ``source-ref`` + ``<attr>`` + ``<attr>-metadata``."""
    date = creation_date or datetime.now(UTC).replace(tzinfo=None).isoformat()
    return _write_lines(path, (augmented_manifest_line(r, label_attribute, job_name, date) for r in records))


def write_input_manifest(records: Iterable[DigitRecord], path: str | Path) -> Path:
    """Write an input (unlabelled) manifest: one ``{"source-ref": ...}`` per line."""
    return _write_lines(path, ({"source-ref": r.source_ref} for r in records))


def write_channel(
    records: Sequence[DigitRecord],
    channel_dir: str | Path,
    manifest_name: str = "data.manifest",
    label_attribute: str = "category",
) -> Path:
    """Stage a training channel folder as the local cloud does: the augmented manifest plus each image
    at ``<channel_dir>/<bucket>/<key>`` (hard-linked when possible). Returns the manifest path."""
    root = Path(channel_dir)
    for record in records:
        parsed = urlparse(record.source_ref)
        target = root / parsed.netloc / parsed.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            continue
        try:
            os.link(record.path, target)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(record.path, target)
    return write_augmented_manifest(records, root / manifest_name, label_attribute)
