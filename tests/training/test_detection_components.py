"""Detector pieces without training: manifest reading, targets, decoding, NMS, mAP."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from gtpipe_shared.metrics import detection_metrics

from training.detection.data import load_detection_images, parse_detection_label, read_detection_manifest
from training.detection.evaluation import mean_average_precision
from training.detection.model import (
    DetectorArchitecture,
    batched_nms,
    build_detector,
    decode,
    encode_targets,
    grid_side,
    nms,
)
from training.errors import DataError
from training.scenes import augmented_manifest_line, scene_source_ref, write_scene_channel, write_scenes

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("scenes"), 8, seed=5)


def _channel(tmp_path, lines, name="train"):
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.manifest").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


# --- manifest reading ------------------------------------------------------------------------------


def test_reads_any_label_attribute_and_converts_boxes_to_relative(scenes, tmp_path):
    # Given a channel whose label attribute has an unusual name
    manifest = write_scene_channel(scenes, tmp_path / "train", label_attribute="my-job-2024")
    # When read
    channel = read_detection_manifest(manifest.parent, "train", num_classes=4, label_width=350)
    # Then the attribute is discovered and boxes are relative to each image's size
    assert channel.label_attribute == "my-job-2024"
    assert channel.class_names == {0: "circle", 1: "square", 2: "triangle", 3: "star"}
    record, scene = channel.records[0], scenes[0]
    assert record.image_path.is_file() and record.image_path.read_bytes() == scene.path.read_bytes()
    expected = [
        [
            o.class_id,
            o.left / scene.width,
            o.top / scene.height,
            (o.left + o.width) / scene.width,
            (o.top + o.height) / scene.height,
        ]
        for o in scene.objects
    ]
    np.testing.assert_allclose(record.boxes, np.array(expected, dtype=np.float32).reshape(-1, 5), rtol=1e-6)
    assert channel.box_count == sum(len(s.objects) for s in scenes)
    # And images load stretched to the square input, one per record
    images = load_detection_images(channel, 64)
    assert images.arrays.shape == (len(scenes), 3, 64, 64) and images.arrays.dtype == np.uint8


def test_boxes_past_the_edge_are_clipped_and_empty_images_are_negatives():
    label = {
        "image_size": [{"width": 200, "height": 100, "depth": 3}],
        "annotations": [{"class_id": 1, "left": -10, "top": 50, "width": 60, "height": 80}],
    }
    assert parse_detection_label(label) == (200, 100, [(1, 0.0, 0.5, 0.25, 1.0)])
    assert parse_detection_label({"image_size": [{"width": 5, "height": 5}], "annotations": []}) == (5, 5, [])


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (3, "label is not a bounding-box object"),
        ({"annotations": []}, "label has no image_size"),
        ({"image_size": [{"width": 0, "height": 5}], "annotations": []}, "needs positive width and height"),
        ({"image_size": [{"width": 9, "height": 9}]}, "label has no annotations list"),
        ({"image_size": [{"width": 9, "height": 9}], "annotations": [{"class_id": "a"}]}, "class_id 'a'"),
        (
            {"image_size": [{"width": 9, "height": 9}], "annotations": [{"class_id": 0, "left": 1}]},
            "needs numeric left, top, width and height",
        ),
        (
            {
                "image_size": [{"width": 9, "height": 9}],
                "annotations": [{"class_id": 0, "left": 20, "top": 1, "width": 3, "height": 3}],
            },
            "lies outside the 9x9 image",
        ),
    ],
)
def test_bad_labels_are_named_and_skippable(tmp_path, scenes, label, message):
    good = augmented_manifest_line(scenes[0], scene_source_ref(scenes[0]), "boxes")
    bad = {**good, "boxes": label}
    folder = _channel(tmp_path, [good, bad])
    with pytest.raises(DataError) as raised:
        read_detection_manifest(folder, "train", num_classes=4, label_width=350)
    assert "line 2" in str(raised.value) and message in str(raised.value)
    assert "skip_bad_records=1" in str(raised.value)
    skipped = read_detection_manifest(folder, "train", num_classes=4, label_width=350, skip_bad_records=True)
    assert len(skipped.records) == 1 and message in skipped.skipped[0]


def test_class_ids_beyond_num_classes_and_label_width_always_fail(tmp_path, scenes):
    crowded = next(s for s in scenes if len(s.objects) >= 3)
    line = augmented_manifest_line(crowded, scene_source_ref(crowded), "boxes")
    folder = _channel(tmp_path, [line])
    top = max(o.class_id for o in crowded.objects)
    with pytest.raises(DataError, match=f"class_id {top} is out of range for num_classes={top}"):
        read_detection_manifest(folder, "train", num_classes=top, label_width=350, skip_bad_records=True)
    with pytest.raises(
        DataError, match=r"do not fit label_width=12 \(at most 2 boxes; set label_width to at least"
    ):
        read_detection_manifest(folder, "train", num_classes=4, label_width=12, skip_bad_records=True)


def test_classification_manifests_and_missing_channels_are_refused(tmp_path):
    line = {
        "source-ref": "s3://b/a.png",
        "category": 1,
        "category-metadata": {"type": "groundtruth/image-classification"},
    }
    folder = _channel(tmp_path, [line])
    with pytest.raises(DataError, match="are not object-detection labels"):
        read_detection_manifest(folder, "train", num_classes=4, label_width=350)
    with pytest.raises(DataError, match="the object-detection algorithm needs a 'train' and a 'validation'"):
        read_detection_manifest(tmp_path / "nowhere", "validation", num_classes=4, label_width=350)


# --- targets, decoding, NMS -------------------------------------------------------------------------


def test_targets_decode_back_to_the_boxes():
    # Given two boxes and the targets the network should learn for them
    grid = grid_side(128)
    truth = np.array([[2, 0.10, 0.20, 0.45, 0.50], [0, 0.60, 0.55, 0.95, 0.90]], dtype=np.float32)
    targets = encode_targets([truth], num_classes=3, grid=grid)
    assert targets.heatmap.shape == (1, 3, grid, grid) and float(targets.heatmap.max()) == 1.0
    # When a "perfect" network output is built from them and decoded
    logits = torch.logit(targets.heatmap.clamp(1e-4, 1 - 1e-4))
    box = torch.zeros(1, 4, grid, grid)
    flat = box.permute(0, 2, 3, 1).reshape(-1, 4)
    flat[targets.cells] = targets.regression
    box = flat.reshape(1, grid, grid, 4).permute(0, 3, 1, 2)
    rows = decode(logits, box, nms_threshold=0.45, min_score=0.5)[0]
    # Then exactly the two boxes come back, with their classes
    assert rows.shape == (2, 6)
    found = sorted(rows.tolist(), key=lambda r: r[0])
    np.testing.assert_allclose([r[2:] for r in found], truth[[1, 0], 1:], atol=1e-5)
    assert [r[0] for r in found] == [0, 2]
    assert len(targets.cells) == 2 and targets.regression.shape == (2, 4)


def test_nms_keeps_the_best_of_overlapping_boxes_per_class():
    boxes = torch.tensor(
        [[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.6, 0.6, 0.9, 0.9], [0.1, 0.1, 0.5, 0.5]]
    )
    scores = torch.tensor([0.8, 0.9, 0.7, 0.6])
    # Same class: the overlapping lower-scored boxes go
    assert nms(boxes, scores, 0.45).tolist() == [1, 2]
    # A threshold above their IoU keeps them (but not an exact duplicate), best score first
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 2]
    # Another class is never suppressed by this one
    assert batched_nms(boxes, scores, torch.tensor([0, 0, 0, 1]), 0.45).tolist() == [1, 2, 3]
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []


def test_network_output_shapes_for_sizes_that_are_not_multiples_of_32():
    for size in (40, 100):
        arch = DetectorArchitecture.create("vgg-16", 3, size)
        heat, box = build_detector(arch).eval()(torch.zeros(2, 3, size, size))
        assert heat.shape == (2, 3, arch.grid, arch.grid) and box.shape == (2, 4, arch.grid, arch.grid)
    coarse = DetectorArchitecture.create("vgg-16", 3, 100, output_stride=8)
    heat, box = build_detector(coarse).eval()(torch.zeros(1, 3, 100, 100))
    assert coarse.grid == 13 and heat.shape == (1, 3, 13, 13) and box.shape == (1, 4, 13, 13)
    assert DetectorArchitecture.from_json_dict(coarse.to_json_dict()) == coarse
    deeper = build_detector(DetectorArchitecture.create("resnet-50", 3, 64))
    assert sum(p.numel() for p in deeper.parameters()) > sum(
        p.numel() for p in build_detector(DetectorArchitecture.create("vgg-16", 3, 64)).parameters()
    )


# --- mAP ---------------------------------------------------------------------------------------------


def test_map_matches_the_pipelines_evaluate_metric():
    # Given random ground truth and noisy detections over 30 images
    rng = np.random.default_rng(0)
    truths, detections = [], []
    for _ in range(30):
        k = int(rng.integers(0, 4))
        xy = rng.uniform(0, 0.6, size=(k, 2))
        wh = rng.uniform(0.1, 0.4, size=(k, 2))
        truth = np.concatenate([rng.integers(0, 3, size=(k, 1)), xy, xy + wh], axis=1)
        found = []
        for row in truth:
            if rng.random() < 0.8:
                jitter = rng.normal(0, 0.03, size=4)
                cls = row[0] if rng.random() < 0.85 else (row[0] + 1) % 3
                found.append([cls, rng.uniform(0.3, 1.0), *(row[1:] + jitter)])
        for _ in range(int(rng.integers(0, 3))):
            xy0 = rng.uniform(0, 0.7, size=2)
            found.append([int(rng.integers(0, 3)), rng.uniform(0, 0.6), *xy0, *(xy0 + 0.2)])
        truths.append(truth.reshape(-1, 5))
        detections.append(np.array(found).reshape(-1, 6))
    # When both implementations score them
    ours = mean_average_precision(truths, detections, 3, 0.5)
    theirs = detection_metrics(
        (
            (
                [(int(t[0]), tuple(t[1:])) for t in truth],
                [(int(d[0]), float(d[1]), tuple(d[2:])) for d in found],
            )
            for truth, found in zip(truths, detections, strict=True)
        ),
        ["a", "b", "c"],
        0.5,
    )
    # Then they agree, per class and overall
    assert ours.value == pytest.approx(theirs["map"], abs=1e-6)
    for index, name in enumerate("abc"):
        assert ours.per_class[index] == pytest.approx(theirs["per_class"][name]["ap"], abs=1e-6)
        assert ours.support[index] == theirs["per_class"][name]["support"]
    assert 0.2 < ours.value < 0.95


def test_perfect_detections_score_one_and_classes_without_truth_are_left_out():
    truth = [np.array([[0, 0.1, 0.1, 0.3, 0.3]]), np.zeros((0, 5))]
    found = [np.array([[0, 0.9, 0.1, 0.1, 0.3, 0.3]]), np.array([[1, 0.5, 0.2, 0.2, 0.4, 0.4]])]
    result = mean_average_precision(truth, found, 2)
    assert result.value == 1.0 and result.per_class == [1.0, None] and result.support == [1, 0]


def test_early_stopping_follows_the_builtins_rules_on_validation_map():
    from training.epochs import EarlyStopping

    # patience 2, at least 4 epochs, improvements must be 10% relative
    stopping = EarlyStopping(True, patience=2, min_epochs=4, tolerance=0.1)
    decisions = [
        stopping.should_stop(epoch, value) for epoch, value in enumerate([0.5, 0.52, 0.53, 0.6, 0.61, 0.62])
    ]
    # 0.52 and 0.53 are not 10% better than 0.5; epoch 2 has no patience left but is before min_epochs;
    # 0.6 improves; 0.61, 0.62 do not, so epoch 5 stops
    assert decisions == [False, False, False, False, False, True]
    assert not any(EarlyStopping(False, 1, 0, 0.0).should_stop(e, 0.0) for e in range(5))
