"""Pipe-mode augmented-manifest channels read by a framework container's script (training/pipe_channels.py),
from the stream the local SageMaker writes as SageMaker sends it (local/sagemaker/framework_job.py)."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import pytest

from local.sagemaker.framework_job import RECORDIO_MAGIC, recordio_frame
from training.errors import DataError
from training.manifest import find_manifest
from training.pipe_channels import materialize, pipe_mode_environ, read_recordio

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 13


def stream(*records: object) -> io.BytesIO:
    """RecordIO-framed records: bytes as they are, anything else as its JSON (as SageMaker sends attributes)."""
    data = b"".join(recordio_frame(r if isinstance(r, bytes) else json.dumps(r).encode()) for r in records)
    return io.BytesIO(data)


def test_lines_become_images_and_a_manifest_with_label_and_metadata(tmp_path: Path) -> None:
    # Given two lines of image, label and label metadata, the second without metadata
    metadata = {"class-name": "dog", "job-name": "labeling-job/x"}
    # When the stream is materialized
    count = materialize(stream(PNG, 1, metadata, PNG + b"2", 0), tmp_path)
    # Then each image is a file and each line names it with its label and metadata
    assert count == 2
    lines = [json.loads(line) for line in (tmp_path / "pipe.manifest").read_text().splitlines()]
    assert [line["label"] for line in lines] == [1, 0]
    assert lines[0]["label-metadata"] == metadata and lines[1]["label-metadata"] == {}
    assert Path(lines[1]["source-ref"].removeprefix("file://")).read_bytes() == PNG + b"2"
    assert find_manifest(tmp_path, "train", "image-classification").name == "pipe.manifest"


def test_a_record_split_around_the_magic_number_is_joined() -> None:
    # Given a record MXNet split in two parts around the magic number it contains
    magic = struct.pack("<I", RECORDIO_MAGIC)
    first, second = b"abcd", b"efgh"
    raw = (
        struct.pack("<II", RECORDIO_MAGIC, (1 << 29) | 4)
        + first
        + struct.pack("<II", RECORDIO_MAGIC, (3 << 29) | 4)
        + second
    )
    # When read / Then it is one record with the magic number restored between the parts
    assert list(read_recordio(io.BytesIO(raw))) == [first + magic + second]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x00" * 8, "not a RecordIO stream"),
        (struct.pack("<II", RECORDIO_MAGIC, 10) + b"abc", "ends inside a record"),
        (stream(3, PNG).getvalue(), "first record is not an image"),
        (stream(PNG).getvalue(), "no label record"),
    ],
)
def test_unreadable_streams_fail_with_a_data_error(tmp_path: Path, raw: bytes, message: str) -> None:
    # Given a stream that is not what SageMaker sends / When materialized / Then a DataError says why
    with pytest.raises(DataError, match=message):
        materialize(io.BytesIO(raw), tmp_path)


def test_only_channels_that_arrive_as_pipes_are_redirected(tmp_path: Path) -> None:
    # Given a train channel streamed as train_0 and a validation channel delivered as files
    data = tmp_path / "input" / "data"
    (data / "validation").mkdir(parents=True)
    (data / "train_0").write_bytes(stream(PNG, 4).getvalue())
    environ = {"SM_INPUT_DIR": str(tmp_path / "input"), "SM_OUTPUT_INTERMEDIATE_DIR": str(tmp_path / "work")}
    # When the environment is prepared
    result = pipe_mode_environ({**environ, "SM_CHANNEL_VALIDATION": str(data / "validation")})
    # Then train points at its materialized folder and validation stays where it was
    assert result["SM_CHANNEL_TRAIN"] == str(tmp_path / "work" / "pipe-channels" / "train")
    assert result["SM_CHANNEL_VALIDATION"] == str(data / "validation")
    assert (tmp_path / "work" / "pipe-channels" / "train" / "pipe.manifest").is_file()


def test_both_jobs_read_the_materialized_channel_with_the_class_names_of_the_metadata(tmp_path: Path) -> None:
    from training.classification.data import read_channel_manifest
    from training.detection.data import read_detection_manifest

    # Given streams as the pytorch Train state sends them (image, label, label metadata) for each task type
    classes = {"class-name": "dog", "type": "groundtruth/image-classification", "human-annotated": "yes"}
    boxes = {
        "image_size": [{"width": 8, "height": 8, "depth": 3}],
        "annotations": [{"class_id": 1, "left": 1, "top": 2, "width": 3, "height": 4}],
    }
    box_metadata = {
        "class-map": {"1": "star"},
        "type": "groundtruth/object-detection",
        "objects": [{"confidence": 1}],
    }
    materialize(stream(PNG, 1, classes), tmp_path / "classification")
    materialize(stream(PNG, boxes, box_metadata), tmp_path / "detection")
    # When each job's manifest reader reads its channel
    classification = read_channel_manifest(tmp_path / "classification", "train", num_classes=2)
    detection = read_detection_manifest(tmp_path / "detection", "train", num_classes=2, label_width=350)
    # Then the labels, boxes and class names arrive as from a manifest file
    assert classification.label_attribute == "label" and classification.class_names == {1: "dog"}
    assert [record.label for record in classification.records] == [1]
    assert detection.class_names == {1: "star"} and detection.box_count == 1
