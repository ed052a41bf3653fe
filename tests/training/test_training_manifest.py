"""Channel manifests: label attribute discovery, source-ref resolution, Ground Truth label formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.classification.data import read_channel_manifest
from training.errors import DataError
from training.manifest import resolve_source_ref


def _channel(tmp_path: Path, lines: list[dict]) -> Path:
    channel = tmp_path / "train"
    channel.mkdir()
    (channel / "train.manifest").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return channel


def _line(ref: str, attribute: str, label, name: str, kind: str = "groundtruth/image-classification"):
    return {"source-ref": ref, attribute: label, f"{attribute}-metadata": {"class-name": name, "type": kind}}


def test_source_refs_resolve_s3_file_and_relative(tmp_path):
    channel, manifest_dir = tmp_path / "ch", tmp_path / "ch"
    assert (
        resolve_source_ref("s3://bkt/a/b.png", channel, manifest_dir) == (channel / "bkt/a/b.png").resolve()
    )
    assert resolve_source_ref("file:///data/x.jpg", channel, manifest_dir) == Path("/data/x.jpg")
    assert resolve_source_ref("imgs/y.png", channel, manifest_dir) == manifest_dir / "imgs/y.png"


@pytest.mark.parametrize("ref", ["s3://bkt/../../etc/passwd", "s3://bkt", "https://example.com/a.png"])
def test_unsafe_or_unsupported_source_refs_are_rejected(tmp_path, ref):
    with pytest.raises(ValueError):
        resolve_source_ref(ref, tmp_path, tmp_path)


def test_label_attribute_is_the_key_with_a_metadata_sibling(tmp_path):
    # Given lines labelled under "animals" plus an unrelated key
    channel = _channel(
        tmp_path,
        [
            {**_line("s3://b/0.png", "animals", 0, "cat"), "note": "x"},
            _line("s3://b/1.png", "animals", 1, "dog"),
        ],
    )
    # When read, then "animals" is found and class names come from class-name
    manifest = read_channel_manifest(channel, "train", num_classes=2)
    assert manifest.label_attribute == "animals"
    assert manifest.class_names == {0: "cat", 1: "dog"}
    assert [r.label for r in manifest.records] == [0, 1]


def test_two_classification_attributes_are_ambiguous(tmp_path):
    line = {**_line("s3://b/0.png", "first", 0, "cat"), **_line("s3://b/0.png", "second", 1, "dog")}
    with pytest.raises(DataError, match="ambiguous label attribute, candidates: first, second"):
        read_channel_manifest(_channel(tmp_path, [line]), "train", num_classes=2)


def test_bounding_box_labels_are_not_classification_labels(tmp_path):
    line = _line("s3://b/0.png", "boxes", {"annotations": []}, "x", kind="groundtruth/object-detection")
    with pytest.raises(DataError, match="not image-classification labels"):
        read_channel_manifest(_channel(tmp_path, [line]), "train", num_classes=2)


def test_multi_label_lines_use_the_class_map(tmp_path):
    # Given Ground Truth's multi-label format: a list of indices and a class-map
    line = {
        "source-ref": "s3://b/0.png",
        "tags": [2, 0],
        "tags-metadata": {
            "class-map": {"0": "cat", "2": "bird"},
            "type": "groundtruth/image-classification-multilabel",
        },
    }
    manifest = read_channel_manifest(_channel(tmp_path, [line]), "train", num_classes=3, multi_label=True)
    assert manifest.records[0].label == (0, 2)
    assert manifest.class_names == {0: "cat", 2: "bird"}


def test_list_label_without_multi_label_is_a_clear_error(tmp_path):
    line = {"source-ref": "s3://b/0.png", "tags": [1], "tags-metadata": {}}
    with pytest.raises(DataError, match="set hyperparameter multi_label=1"):
        read_channel_manifest(_channel(tmp_path, [line]), "train", num_classes=3)


@pytest.mark.parametrize("label", ["1", 1.5, -1, True, None])
def test_non_integer_labels_are_rejected(tmp_path, label):
    with pytest.raises(DataError, match="line 1"):
        read_channel_manifest(
            _channel(tmp_path, [_line("s3://b/0.png", "c", label, "x")]), "train", num_classes=3
        )


def test_several_manifests_in_a_channel_are_ambiguous(tmp_path):
    channel = _channel(tmp_path, [_line("s3://b/0.png", "c", 0, "x")])
    (channel / "other.manifest").write_text("")
    with pytest.raises(DataError, match="holds several manifests"):
        read_channel_manifest(channel, "train", num_classes=2)
