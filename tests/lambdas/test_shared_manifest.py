"""Streaming manifest validation."""

from __future__ import annotations

import io
import json

import pytest
from gtpipe_shared.manifest import ManifestRules, iter_lines, validate_manifest

from tests.lambdas.conftest import CLASS_NAMES, DATA_BUCKET, classification_line, detection_line, input_line

RULES = ManifestRules(
    allowed_buckets=frozenset({DATA_BUCKET, "other-bucket"}),
    class_names=tuple(CLASS_NAMES),
    task_type="image-classification",
    max_lines=100,
    max_bytes=100_000,
    max_line_bytes=2_000,
)


def check(text: str | bytes, rules: ManifestRules = RULES):
    data = text.encode() if isinstance(text, str) else text
    return validate_manifest(io.BytesIO(data), rules)


class TinyReads(io.RawIOBase):
    """A stream returning at most 7 bytes per read (like a slow network body)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 7) if size and size > 0 else 7)


def test_input_manifest_is_valid() -> None:
    report = check("\n".join(input_line(i) for i in range(5)) + "\n")
    assert report.ok, report.messages()
    assert report.summary.kind == "input"
    assert report.summary.line_count == 5
    assert report.summary.label_attribute is None


def test_augmented_classification_manifest_counts_classes() -> None:
    lines = [classification_line(i, i % 3) for i in range(7)]
    report = check("\n".join(lines))
    assert report.ok, report.messages()
    assert report.summary.kind == "augmented"
    assert report.summary.label_attribute == "category"
    assert report.summary.task_type == "image-classification"
    assert report.summary.class_counts == {0: 3, 1: 2, 2: 2}


def test_label_attribute_is_discovered_not_assumed() -> None:
    lines = [classification_line(i, 0, attribute="my-console-job") for i in range(2)]
    report = check("\n".join(lines))
    assert report.ok and report.summary.label_attribute == "my-console-job"


def test_bom_crlf_and_trailing_blank_lines_are_tolerated() -> None:
    text = "\ufeff" + "\r\n".join(input_line(i) for i in range(3)) + "\r\n\r\n  \n"
    report = check(text)
    assert report.ok, report.messages()
    assert report.summary.line_count == 3


def test_tiny_reads_give_the_same_result() -> None:
    data = ("\ufeff" + "\r\n".join(classification_line(i, i % 3) for i in range(20))).encode()
    report = validate_manifest(TinyReads(data), RULES)
    assert report.ok and report.summary.line_count == 20


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", 0, "empty"),
        ("\n\n  \n", 0, "empty"),
        (input_line(1) + "\n\n" + input_line(2), 2, "blank line inside"),
        (input_line(1) + "\n{not json", 2, "invalid JSON"),
        (input_line(1) + "\n[1, 2]", 2, "JSON object"),
        ('{"source": "some text"}', 1, "inline 'source'"),
        ('{"foo": 1}', 1, "missing 'source-ref'"),
        ('{"source-ref": "https://example.com/a.jpg"}', 1, "not an s3:// URI"),
        ('{"source-ref": "s3://bucket-only"}', 1, "no object key"),
        ('{"source-ref": "s3://evil-bucket/a.jpg"}', 1, "bucket 'evil-bucket' is not allowed"),
        (input_line(1) + "\n" + input_line(1), 2, "duplicate source-ref"),
        (
            input_line(1) + "\n" + classification_line(2, 0),
            2,
            "a manifest is either all unlabeled or all labeled",
        ),
        (classification_line(1, 0) + "\n" + input_line(2), 2, "no label attribute 'category'"),
        (classification_line(1, 3), 1, "not a known class id"),
        (classification_line(1, -1), 1, "not a known class id"),
        (b'{"source-ref": "s3://gtpipe-data-bucket/\xff.jpg"}', 1, "not valid UTF-8"),
    ],
)
def test_invalid_lines_are_reported_with_line_numbers(text: str | bytes, line: int, fragment: str) -> None:
    report = check(text)
    assert not report.ok
    assert any(issue.line == line and fragment in issue.message for issue in report.issues), report.messages()


def test_class_name_must_match_label_categories() -> None:
    obj = json.loads(classification_line(1, 0))
    obj["category-metadata"]["class-name"] = "dog"
    report = check(json.dumps(obj))
    assert "does not match label category 0 'cat'" in report.messages()[0]


def test_boolean_and_float_labels_are_rejected() -> None:
    for bad in (True, 1.0, "1"):
        obj = json.loads(classification_line(1, 0))
        obj["category"] = bad
        report = check(json.dumps(obj))
        assert not report.ok, bad


def test_detection_manifest_checks_boxes() -> None:
    rules = ManifestRules(
        allowed_buckets=frozenset({DATA_BUCKET}), class_names=tuple(CLASS_NAMES), task_type="object-detection"
    )
    good = detection_line(1, [(0, 10, 10, 100, 100), (2, 0, 0, 640, 480)])
    report = check(good, rules)
    assert report.ok, report.messages()
    assert report.summary.task_type == "object-detection"
    assert report.summary.class_counts == {0: 1, 2: 1}
    outside = detection_line(2, [(0, 600, 10, 100, 100)])
    unknown = detection_line(3, [(7, 0, 0, 10, 10)])
    flat = detection_line(4, [(0, 0, 0, 0, 10)])
    report = check("\n".join([outside, unknown, flat]), rules)
    messages = report.messages()
    assert "outside the 640x480 image" in messages[0]
    assert "class_id 7 is not a known class id" in messages[1]
    assert "non-positive width" in messages[2]


def test_task_type_mismatch_is_reported_once() -> None:
    report = check("\n".join(detection_line(i, [(0, 1, 1, 5, 5)]) for i in range(3)))
    assert report.issue_count == 1
    assert (
        "labeled for object-detection but the pipeline is configured for image-classification"
        in report.issues[0].message
    )


def test_ambiguous_label_attributes_need_configuration() -> None:
    obj = json.loads(classification_line(1, 0))
    obj["second"] = 1
    obj["second-metadata"] = {"type": "groundtruth/image-classification"}
    report = check(json.dumps(obj))
    assert "several label attributes (category, second)" in report.messages()[0]
    preferred = ManifestRules(
        allowed_buckets=RULES.allowed_buckets, class_names=RULES.class_names, label_attribute="second"
    )
    assert check(json.dumps(obj), preferred).summary.label_attribute == "second"


def test_only_first_twenty_issues_kept_but_all_counted() -> None:
    report = check("\n".join(json.dumps({"source-ref": f"s3://evil/x{i}.jpg"}) for i in range(45)))
    assert report.issue_count == 45
    assert len(report.issues) == 20
    assert report.issues[0].line == 1


def test_limits_stop_reading() -> None:
    too_many = check("\n".join(input_line(i) for i in range(150)))
    assert any("more than 100 lines" in m for m in too_many.messages())
    small = ManifestRules(allowed_buckets=RULES.allowed_buckets, max_bytes=500)
    too_big = check("\n".join(input_line(i) for i in range(50)), small)
    assert any("larger than 500 bytes" in m for m in too_big.messages())
    assert too_big.summary.byte_count <= 500 + 65536


def test_overlong_line_is_skipped_without_buffering() -> None:
    long_line = json.dumps({"source-ref": f"s3://{DATA_BUCKET}/" + "a" * 50_000})
    report = check(input_line(1) + "\n" + long_line + "\n" + input_line(2))
    assert report.issue_count == 1
    assert report.issues[0].line == 2 and "longer than 2000 bytes" in report.issues[0].message
    assert report.summary.line_count == 3


def test_iter_lines_numbers_physical_lines() -> None:
    data = b"\xef\xbb\xbfa\r\nb\n\nc"
    assert list(iter_lines(io.BytesIO(data), chunk_size=2)) == [(1, b"a"), (2, b"b"), (3, b""), (4, b"c")]
