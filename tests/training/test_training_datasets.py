"""The digits demo data and Ground Truth manifests it writes."""

from __future__ import annotations

import json
from collections import Counter

from PIL import Image

from training.datasets import (
    CLASS_NAMES,
    label_categories,
    write_augmented_manifest,
    write_digits_dataset,
    write_input_manifest,
)


def test_digits_are_balanced_pngs_with_a_balanced_holdout(tmp_path):
    # When 100 digits are written with 20% held out
    records = write_digits_dataset(tmp_path, bucket="bkt", prefix="images/d", holdout_fraction=0.2, limit=100)
    # Then there are 10 of each class, 2 of each held out, as 32x32 grayscale PNGs at the S3 layout
    assert Counter(r.label for r in records) == dict.fromkeys(range(10), 10)
    assert Counter(r.label for r in records if r.holdout) == dict.fromkeys(range(10), 2)
    first = records[0]
    assert first.path.parent == tmp_path / "bkt" / "images" / "d"
    assert first.source_ref == f"s3://bkt/images/d/{first.path.name}"
    assert first.class_name == CLASS_NAMES[first.label]
    with Image.open(first.path) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "L", (32, 32))
        assert image.getextrema()[1] > 200  # 0..16 was scaled to 0..255


def test_same_seed_same_files(tmp_path):
    a = write_digits_dataset(tmp_path / "a", limit=20)
    b = write_digits_dataset(tmp_path / "b", limit=20)
    assert [r.source_ref for r in a] == [r.source_ref for r in b]
    assert a[0].path.read_bytes() == b[0].path.read_bytes()


def test_manifests_have_ground_truths_exact_format(tmp_path):
    records = write_digits_dataset(tmp_path, limit=3)
    augmented = write_augmented_manifest(records, tmp_path / "out.manifest", job_name="digits-1")
    plain = write_input_manifest(records, tmp_path / "in.manifest")
    line = json.loads(augmented.read_text().splitlines()[0])
    assert set(line) == {"source-ref", "category", "category-metadata"}
    assert line["category"] == records[0].label
    metadata = line["category-metadata"]
    assert set(metadata) == {
        "class-name",
        "confidence",
        "human-annotated",
        "creation-date",
        "job-name",
        "type",
    }
    assert metadata["class-name"] == records[0].class_name
    assert metadata["confidence"] == 1.0
    assert metadata["human-annotated"] == "yes"
    assert metadata["job-name"] == "labeling-job/digits-1"
    assert metadata["type"] == "groundtruth/image-classification"
    assert [json.loads(x) for x in plain.read_text().splitlines()] == [
        {"source-ref": r.source_ref} for r in records
    ]


def test_label_categories_order_is_the_class_index():
    assert label_categories()["labels"][3] == {"label": "three"}
