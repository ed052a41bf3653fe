"""Synthetic detection scenes: valid boxes, determinism, class coverage and Ground Truth formats."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pytest
from gtpipe_shared.manifest import ManifestRules, check_detection_label, task_type_of, validate_manifest
from PIL import Image

from training.scenes import (
    SCENE_CLASSES,
    SceneObject,
    augmented_manifest_line,
    detection_label,
    detection_metadata,
    reference_line,
    scene_source_ref,
    write_scene_channel,
    write_scenes,
)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("scenes"), 60, seed=11)


def test_boxes_lie_inside_images_of_varied_sizes(scenes):
    # Given 60 scenes / Then each PNG has the recorded size and every box lies inside it
    sizes = set()
    for record in scenes:
        with Image.open(record.path) as image:
            assert image.size == (record.width, record.height)
            assert image.mode == "RGB"
        sizes.add((record.width, record.height))
        assert 96 <= record.width <= 192 and 96 <= record.height <= 192
        for obj in record.objects:
            assert obj.left >= 0 and obj.top >= 0
            assert obj.width >= 12 and obj.height >= 12
            assert obj.left + obj.width <= record.width
            assert obj.top + obj.height <= record.height
    # And sizes vary on both axes (non-square images exercise pixel <-> relative conversions)
    assert len(sizes) > 40
    assert any(w != h for w, h in sizes)


def test_object_counts_classes_and_overlaps_vary(scenes):
    counts = Counter(len(r.objects) for r in scenes)
    classes = Counter(o.class_id for r in scenes for o in r.objects)
    # Mostly 1 to 4 objects, some scenes with none or several
    assert sum(counts[n] for n in range(1, 5)) >= 0.75 * len(scenes)
    assert max(counts) >= 4
    # Every class appears in reasonable numbers
    assert set(classes) == set(range(len(SCENE_CLASSES)))
    assert min(classes.values()) >= 0.1 * sum(classes.values())

    # Some objects overlap (partial occlusion), but none is hidden by more than about a third
    def covered(a: SceneObject, b: SceneObject) -> float:
        w = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
        h = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
        return 0.0 if w <= 0 or h <= 0 else w * h / min(a.width * a.height, b.width * b.height)

    overlaps = [covered(a, b) for r in scenes for i, a in enumerate(r.objects) for b in r.objects[i + 1 :]]
    assert any(o > 0 for o in overlaps)
    assert max(overlaps) <= 0.35 + 1e-9


def test_colours_do_not_identify_classes(scenes):
    # Given the mean colour inside each object's box, by class
    means: dict[int, list[np.ndarray]] = {}
    for record in scenes:
        pixels = np.asarray(Image.open(record.path), dtype=np.float32)
        for obj in record.objects:
            centre = pixels[
                obj.top + obj.height // 2 - 2 : obj.top + obj.height // 2 + 2,
                obj.left + obj.width // 2 - 2 : obj.left + obj.width // 2 + 2,
            ]
            means.setdefault(obj.class_id, []).append(centre.reshape(-1, 3).mean(axis=0))
    # Then every class spans a wide range of colours (shape, not colour, tells classes apart)
    for values in means.values():
        assert np.ptp(np.stack(values), axis=0).min() > 120


def test_same_seed_same_scenes_and_prefixes_are_stable(tmp_path, scenes):
    # Given the same seed written twice, and a shorter run with another start
    again = write_scenes(tmp_path / "again", 60, seed=11)
    later = write_scenes(tmp_path / "later", 5, seed=11, start=10)
    other = write_scenes(tmp_path / "other", 5, seed=12)
    # Then the bytes and boxes are identical; scene i depends only on (seed, i)
    for first, second in zip(scenes, again, strict=True):
        assert first.path.read_bytes() == second.path.read_bytes()
        assert first.objects == second.objects
    for index, record in enumerate(later, start=10):
        assert record.path.name == f"scene-{index:05d}.png"
        assert record.path.read_bytes() == scenes[index].path.read_bytes()
    assert [r.objects for r in other] != [r.objects for r in scenes[:5]]


def test_labels_and_metadata_pass_the_pipelines_manifest_validator(scenes, tmp_path):
    # Given augmented-manifest lines for the scenes under an arbitrary label attribute
    lines = [
        augmented_manifest_line(r, scene_source_ref(r, "data-bucket"), "my-boxes", SCENE_CLASSES, "job-1")
        for r in scenes
    ]
    # Then each label passes the project's own bounding-box check and reads as object detection
    for record, line in zip(scenes, lines, strict=True):
        assert check_detection_label(line["my-boxes"], SCENE_CLASSES) is None
        assert task_type_of(line["my-boxes"], line["my-boxes-metadata"]) == "object-detection"
        metadata = line["my-boxes-metadata"]
        assert len(metadata["objects"]) == len(record.objects)
        assert metadata["class-map"] == {"0": "circle", "1": "square", "2": "triangle", "3": "star"}
        assert metadata["type"] == "groundtruth/object-detection"
        assert metadata["job-name"] == "labeling-job/job-1"
        assert metadata["human-annotated"] == "yes"
    # And the whole manifest validates without issues
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    report = validate_manifest(
        io.BytesIO(body),
        ManifestRules(
            allowed_buckets=frozenset({"data-bucket"}),
            class_names=SCENE_CLASSES,
            task_type="object-detection",
        ),
    )
    assert report.ok, report.messages()
    assert report.summary.task_type == "object-detection"


def test_label_metadata_and_reference_shapes(scenes):
    record = next(r for r in scenes if len(r.objects) >= 2)
    label = detection_label(record)
    assert label["image_size"] == [{"width": record.width, "height": record.height, "depth": 3}]
    first = record.objects[0]
    assert label["annotations"][0] == {
        "class_id": first.class_id,
        "left": first.left,
        "top": first.top,
        "width": first.width,
        "height": first.height,
    }
    metadata = detection_metadata(record, job_name="j", human_annotated="no", confidence=0.5)
    assert metadata["objects"] == [{"confidence": 0.5}] * len(record.objects)
    assert metadata["human-annotated"] == "no"
    assert {"creation-date", "job-name", "type", "class-map"} <= set(metadata)
    reference = reference_line(record, "s3://b/k.png")
    assert reference == {
        "source-ref": "s3://b/k.png",
        "image_size": {"width": record.width, "height": record.height, "depth": 3},
        "annotations": label["annotations"],
    }


def test_class_subsets_and_bad_arguments(tmp_path):
    # A subset of shapes maps class ids to that subset
    records = write_scenes(tmp_path, 12, seed=3, class_names=("star", "circle"))
    assert {o.class_id for r in records for o in r.objects} <= {0, 1}
    with pytest.raises(ValueError, match="class_names must be shapes"):
        write_scenes(tmp_path, 1, seed=0, class_names=("hexagon",))
    with pytest.raises(ValueError, match="repeat"):
        write_scenes(tmp_path, 1, seed=0, class_names=("star", "star"))
    with pytest.raises(ValueError, match="min_side"):
        write_scenes(tmp_path, 1, seed=0, min_side=200, max_side=100)
    with pytest.raises(ValueError, match="has no name"):
        detection_label(records[0] if records[0].objects else records[1], ("star",))


def test_write_scene_channel_stages_images_under_the_channel(scenes, tmp_path):
    manifest = write_scene_channel(scenes[:3], tmp_path / "train", "train.manifest", label_attribute="boxes")
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert [line["source-ref"] for line in lines] == [
        f"s3://demo-bucket/images/scenes/{r.path.name}" for r in scenes[:3]
    ]
    for record in scenes[:3]:
        staged = tmp_path / "train" / "demo-bucket" / "images" / "scenes" / record.path.name
        assert staged.read_bytes() == record.path.read_bytes()
    assert lines[0]["boxes"] == detection_label(scenes[0])
