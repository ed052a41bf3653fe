"""Streaming stratified split: exact partition, per-class guarantees, determinism, bounded buckets."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from gtpipe_shared.split import (
    SplitError,
    SplitOptions,
    SplitOutputs,
    majority_class,
    manifest_prefix,
    split_manifest,
    validation_count,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.lambdas.conftest import DATA_BUCKET, classification_line, detection_line


def run_split(
    lines: list[str], tmp_path: Path, **overrides: object
) -> tuple[list[bytes], list[bytes], list, object]:
    data = ("\n".join(lines) + "\n").encode()
    options = SplitOptions(
        **{  # type: ignore[arg-type]
            "label_attribute": "category",
            "task_type": "image-classification",
            "num_classes": 3,
            "validation_ratio": 0.2,
            "seed": 7,
            **overrides,
        }
    )
    train, validation, images = io.BytesIO(), io.BytesIO(), io.BytesIO()
    result = split_manifest(
        lambda: io.BytesIO(data), SplitOutputs(train, validation, images), options, tmp_dir=str(tmp_path)
    )
    return (
        train.getvalue().splitlines(),
        validation.getvalue().splitlines(),
        json.loads(images.getvalue()),
        result,
    )


def labeled(counts: dict[int, int]) -> list[str]:
    lines, index = [], 0
    for label, n in counts.items():
        for _ in range(n):
            lines.append(classification_line(index, label))
            index += 1
    return lines


@pytest.mark.parametrize(
    ("n", "ratio", "expected"),
    [
        (0, 0.2, 0),
        (1, 0.2, 0),
        (2, 0.2, 1),
        (2, 0.9, 1),
        (3, 0.2, 1),
        (10, 0.2, 2),
        (10, 0.25, 2),
        (10, 0.99, 9),
        (100, 0.2, 20),
    ],
)
def test_validation_count(n: int, ratio: float, expected: int) -> None:
    assert validation_count(n, ratio) == expected


def test_split_is_stratified_and_writes_three_manifests(tmp_path: Path) -> None:
    # given 50 cats, 20 dogs and 1 bird
    lines = labeled({0: 50, 1: 20, 2: 1})
    train, validation, images, result = run_split(lines, tmp_path)
    # then each class with >= 2 objects is in both sets, the single bird trains
    assert result.per_class == {
        0: {"train": 40, "validation": 10},
        1: {"train": 16, "validation": 4},
        2: {"train": 1, "validation": 0},
    }
    assert (len(train), len(validation)) == (57, 14)
    assert Counter(json.loads(v)["category"] for v in validation) == {0: 10, 1: 4}
    # and the images manifest lists the validation images relative to one prefix, in validation order
    assert images[0] == {"prefix": f"s3://{DATA_BUCKET}/images/"}
    assert [images[0]["prefix"] + key for key in images[1:]] == [
        json.loads(v)["source-ref"] for v in validation
    ]
    # and lines are copied byte for byte
    assert set(train) | set(validation) == {line.encode() for line in lines}


def test_split_shuffles_deterministically(tmp_path: Path) -> None:
    lines = labeled({0: 30, 1: 30, 2: 30})
    first = run_split(lines, tmp_path)
    again = run_split(lines, tmp_path)
    other = run_split(lines, tmp_path, seed=8)
    assert first[0] == again[0] and first[1] == again[1]
    assert first[0] != other[0]
    # shuffled: not in input order
    assert first[0] != sorted(first[0], key=lambda line: lines.index(line.decode()))


def test_bucket_count_does_not_change_the_result(tmp_path: Path) -> None:
    lines = labeled({0: 40, 1: 25, 2: 12})
    one = run_split(lines, tmp_path)
    many = run_split(lines, tmp_path, bucket_bytes=512)
    assert many[3].buckets > 10
    assert one[0] == many[0] and one[1] == many[1] and one[2] == many[2]


def test_unlabeled_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    failed = json.dumps(
        {"source-ref": f"s3://{DATA_BUCKET}/images/x.jpg", "category-metadata": {"failure-reason": "timeout"}}
    )
    train, validation, _, result = run_split([*labeled({0: 5, 1: 5}), failed, ""], tmp_path)
    assert result.skipped == 1
    assert len(train) + len(validation) == 10


@pytest.mark.parametrize(
    ("lines", "fragment"),
    [
        ([], "no lines labeled"),
        (labeled({0: 9}), "only 1 class present"),
        ([classification_line(0, 0), classification_line(1, 1)], "validation set would be empty"),
        ([classification_line(0, 0), "{broken"], "line 2 is not valid JSON"),
    ],
)
def test_unsplittable_manifests_raise_split_error(lines: list[str], fragment: str, tmp_path: Path) -> None:
    with pytest.raises(SplitError, match=fragment):
        run_split(lines, tmp_path)


def test_out_of_range_label_names_the_line(tmp_path: Path) -> None:
    obj = json.loads(classification_line(1, 0))
    obj["category"] = 5
    with pytest.raises(SplitError, match=r"line 3: label 5 of 'category' is not a class id in \[0, 3\)"):
        run_split([classification_line(0, 0), classification_line(2, 1), json.dumps(obj)], tmp_path)


def test_validation_images_from_several_buckets_are_rejected(tmp_path: Path) -> None:
    lines = [classification_line(i, i % 2, bucket="bucket-a" if i % 2 else "bucket-b") for i in range(20)]
    with pytest.raises(SplitError, match="more than one S3 bucket"):
        run_split(lines, tmp_path)


def test_manifest_prefix_rules() -> None:
    assert manifest_prefix("s3://bkt/images/cat/1.jpg", 1) == "s3://bkt/images/cat/"
    assert manifest_prefix("s3://bkt/images/c", 2) == "s3://bkt/images/"
    assert manifest_prefix("s3://bkt/", 2) == "s3://bkt/"
    with pytest.raises(SplitError):
        manifest_prefix("s3://bucket", 2)


def test_detection_keeps_boxes_together_and_stratifies_by_majority(tmp_path: Path) -> None:
    lines = [
        detection_line(i, [(i % 3, 1, 1, 5, 5), (i % 3, 2, 2, 5, 5), (2, 3, 3, 4, 4)]) for i in range(30)
    ]
    lines.append(detection_line(99, []))
    lines.append(detection_line(98, []))
    train, validation, _, result = run_split(lines, tmp_path, task_type="object-detection")
    assert result.per_class[0] == {"train": 8, "validation": 2}
    assert result.per_class[3] == {"train": 1, "validation": 1}  # the "no objects" stratum
    assert result.max_boxes == 3
    for line in train + validation:
        assert line.decode() in lines


def test_majority_class_ties_pick_lowest_id() -> None:
    assert majority_class([{"class_id": 2}, {"class_id": 1}]) == 1
    assert majority_class([{"class_id": 2}, {"class_id": 1}, {"class_id": 2}]) == 2
    assert majority_class([]) is None


counts_strategy = st.dictionaries(st.integers(0, 4), st.integers(1, 25), min_size=2, max_size=5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    counts=counts_strategy,
    ratio=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**31 - 1),
    bucket_bytes=st.sampled_from([300, 10_000_000]),
)
def test_split_properties(
    tmp_path: Path, counts: dict[int, int], ratio: float, seed: int, bucket_bytes: int
) -> None:
    lines = []
    for label, n in counts.items():
        lines += [
            json.dumps(
                {
                    "source-ref": f"s3://{DATA_BUCKET}/i/{label}-{k}.png",
                    "category": label,
                    "category-metadata": {},
                }
            )
            for k in range(n)
        ]
    if sum(validation_count(n, ratio) for n in counts.values()) == 0:
        with pytest.raises(SplitError):
            run_split(
                lines, tmp_path, num_classes=5, validation_ratio=ratio, seed=seed, bucket_bytes=bucket_bytes
            )
        return
    train, validation, images, result = run_split(
        lines, tmp_path, num_classes=5, validation_ratio=ratio, seed=seed, bucket_bytes=bucket_bytes
    )
    # exact partition: every line exactly once, none invented
    assert Counter(train + validation) == Counter(line.encode() for line in lines)
    # per-class guarantee
    got = Counter(json.loads(v)["category"] for v in validation)
    for label, n in counts.items():
        assert got.get(label, 0) == validation_count(n, ratio)
        if n >= 2:
            assert 1 <= got[label] <= n - 1
    # images manifest mirrors validation
    assert len(images) - 1 == len(validation) == result.validation_count
    # determinism under the seed
    again = run_split(
        lines, tmp_path, num_classes=5, validation_ratio=ratio, seed=seed, bucket_bytes=bucket_bytes
    )
    assert (again[0], again[1]) == (train, validation)
