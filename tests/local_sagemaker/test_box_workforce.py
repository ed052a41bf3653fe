"""Simulated bounding-box annotators and the shared consolidation of their boxes (no AWS): merged boxes
that beat a single worker, weighting of a careless worker, the simulator and the detection task
(exactness and the majority rule of consolidation itself: tests/lambdas/test_shared_consolidation.py)."""

from __future__ import annotations

import random

import pytest
from gtpipe_shared.consolidation import Box, ConsolidatedBox, clip_box, consolidate_boxes, iou
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.box_scenes import recall_and_iou as box_recall_and_iou
from bench.consolidation_bench import scenes
from local.sagemaker.box_workforce import (
    BoxNoise,
    BoxReference,
    reference_boxes,
    simulate_box_answers,
    simulate_boxes,
)
from local.sagemaker.labeling_tasks import DetectionTask, HumanBoxes, Prediction


def recall_and_iou(predicted: list[list[Box]], truth: list[BoxReference]) -> tuple[float, float]:
    """:func:`bench.box_scenes.recall_and_iou` against reference images."""
    return box_recall_and_iou(predicted, [reference.boxes for reference in truth])


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    jitter=st.floats(0.04, 0.12),
    miss_rate=st.floats(0.05, 0.25),
    wrong_class_rate=st.floats(0.0, 0.1),
    workers=st.sampled_from([3, 5]),
)
def test_consolidated_boxes_beat_a_single_workers(seed, jitter, miss_rate, wrong_class_rate, workers):
    # Given 60 images with 1-4 boxes each, and noisy workers (jitter, misses, wrong classes)
    rng = random.Random(seed)
    truth = scenes(rng, 60, 2)
    noise = BoxNoise(jitter, miss_rate, wrong_class_rate)
    team = [f"w{k}" for k in range(workers)]
    answers = [simulate_box_answers(reference, 2, team, noise, rng) for reference in truth]
    # When their boxes are consolidated
    result = consolidate_boxes(answers, 2)
    merged_recall, merged_iou = recall_and_iou([[c.box for c in image] for image in result.images], truth)
    # Then the merged boxes find more of the true boxes, and fit them better, than one worker does
    singles = [recall_and_iou([list(a[k].boxes) for a in answers], truth) for k in range(workers)]
    single_recall = sum(r for r, _ in singles) / workers
    single_iou = sum(i for _, i in singles) / workers
    assert merged_recall >= single_recall
    assert merged_iou > single_iou


def test_measured_consolidation_gain_at_the_default_noise():
    # Given 300 images, 3 of 5 workers per image at the settings' defaults (5% jitter and misses, 2% wrong class)
    rng = random.Random(7)
    truth = scenes(rng, 300, 4)
    team = [f"w{k}" for k in range(5)]
    answers = [simulate_box_answers(r, 4, rng.sample(team, 3), BoxNoise(), rng) for r in truth]
    # When consolidated
    result = consolidate_boxes(answers, 4)
    merged = recall_and_iou([[c.box for c in image] for image in result.images], truth)
    first_worker = recall_and_iou([list(a[0].boxes) for a in answers], truth)
    print(
        f"recall / mean IoU: consolidated {merged[0]:.3f} / {merged[1]:.3f}, single {first_worker[0]:.3f} / {first_worker[1]:.3f}"
    )
    # Then recall rises from ~0.93 (one worker) to ~0.99, and the fit improves
    assert merged[0] >= 0.98 > first_worker[0]
    assert merged[1] > first_worker[1] + 0.02


def test_wrong_class_is_outvoted_and_a_careless_worker_loses_weight():
    # Given four careful workers and one who jitters a lot, misses half the boxes and mislabels them
    rng = random.Random(3)
    truth = scenes(rng, 150, 3)
    team = ["a", "b", "c", "d", "careless"]
    careful = BoxNoise(0.03, 0.05, 0.02)
    noise = dict.fromkeys(team, careful) | {"careless": BoxNoise(0.3, 0.5, 0.6)}
    answers = [simulate_box_answers(r, 3, rng.sample(team, 3), noise, rng) for r in truth]
    # When consolidated
    result = consolidate_boxes(answers, 3)
    # Then the careless worker's weight is far below the careful workers'
    weights = result.worker_reliability
    assert weights["careless"] < 0.6 * min(weights[w] for w in "abcd")
    # And nearly every true box comes out with its class
    recall, _ = recall_and_iou([[c.box for c in image] for image in result.images], truth)
    assert recall > 0.93


def test_simulated_boxes_stay_inside_the_image_and_repeat_with_the_seed():
    # Given a box touching the image corner and heavy jitter
    reference = BoxReference(50, 40, 3, (Box(0, 0, 0, 30, 30), Box(1, 30, 20, 20, 20)))
    noise = BoxNoise(jitter=0.5, miss_rate=0.0, wrong_class_rate=0.0)
    # When many workers draw it
    drawn = [simulate_boxes(reference, 2, noise, random.Random(seed)) for seed in range(200)]
    # Then every box is inside the image, at least one pixel, classes kept
    for boxes in drawn:
        assert [b.class_id for b in boxes] == [0, 1]
        for box in boxes:
            assert 0 <= box.left < box.right <= 50 and 0 <= box.top < box.bottom <= 40
    # And the same seed draws the same boxes
    assert simulate_boxes(reference, 2, noise, random.Random(5)) == drawn[5]


def test_clip_box_and_iou():
    assert clip_box(Box(0, -5.4, 3.6, 20, 100), 30, 50) == Box(0, 0, 4, 15, 46)
    assert clip_box(Box(0, 40, 40, 5, 5), 30, 30) == Box(0, 29, 29, 1, 1)
    assert iou(Box(0, 0, 0, 10, 10), Box(1, 5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou(Box(0, 0, 0, 10, 10), Box(0, 10, 0, 10, 10)) == 0.0


def test_reference_lines_are_read_and_bad_ones_named():
    # Given a reference line as training/scenes.py writes it
    line = {
        "source-ref": "s3://b/scene-00001.png",
        "image_size": {"width": 120, "height": 90, "depth": 3},
        "annotations": [{"class_id": 1, "left": 10, "top": 12, "width": 30, "height": 28}],
    }
    # When read / Then the boxes and size come back
    source, reference = reference_boxes(line, 2, "ref.jsonl line 1")
    assert source == "s3://b/scene-00001.png"
    assert reference == BoxReference(120, 90, 3, (Box(1, 10, 12, 30, 28),))
    # And Ground Truth's list form of image_size is accepted
    assert reference_boxes({**line, "image_size": [line["image_size"]]}, 2, "x")[1] == reference
    # And bad lines are named with what is wrong
    bad_class = {**line, "annotations": [{**line["annotations"][0], "class_id": 2}]}
    with pytest.raises(
        ValueError, match=r"ref.jsonl line 3: annotation 0 class_id 2 is not a class index 0..1"
    ):
        reference_boxes(bad_class, 2, "ref.jsonl line 3")
    with pytest.raises(ValueError, match="'annotations' must be a list"):
        reference_boxes({k: v for k, v in line.items() if k != "annotations"}, 2, "x")
    with pytest.raises(ValueError, match="no area"):
        reference_boxes({**line, "annotations": [{**line["annotations"][0], "width": 0}]}, 2, "x")


def test_detection_predictions_become_pixel_boxes_with_an_image_confidence():
    # Given the built-in's answer (relative coordinates) for a 200x100 image
    task = DetectionTask(["circle", "square"], "boxes", BoxNoise())
    answer = {
        "prediction": [
            [1, 0.97, 0.1, 0.2, 0.3, 0.6],
            [0, 0.02, 0.5, 0.5, 0.6, 0.6],
            [0, 0.9, 0.6, 0.1, 0.8, 0.3],
        ]
    }
    # When read
    prediction = task.prediction(answer, (200, 100, 3))
    # Then boxes scored >= 0.5 are kept in pixels; the confidence is the least certain box's
    assert [(box.as_annotation(), score) for box, score in prediction.value] == [
        ({"class_id": 0, "left": 120, "top": 10, "width": 40, "height": 20}, 0.9),
        ({"class_id": 1, "left": 20, "top": 20, "width": 40, "height": 40}, 0.97),
    ]
    assert prediction.confidence == pytest.approx(0.9)
    # And it agrees with human boxes only when every box matches with its class and none is extra
    reference = BoxReference(200, 100, 3, ())
    human = HumanBoxes(
        reference, tuple(_merged(b) for b in (Box(0, 122, 11, 38, 20), Box(1, 20, 20, 40, 40)))
    )
    assert task.agrees(prediction, human)
    assert not task.agrees(prediction, HumanBoxes(reference, human.boxes[:1]))
    wrong = HumanBoxes(reference, (human.boxes[0], _merged(Box(0, 20, 20, 40, 40))))
    assert not task.agrees(prediction, wrong)
    assert task.agrees(Prediction((), 1.0), HumanBoxes(reference, ()))
    # And a malformed answer is named
    with pytest.raises(ValueError, match=r"\[class_id, score, xmin, ymin, xmax, ymax\]"):
        task.prediction({"prediction": [[0, 0.5]]}, (10, 10, 3))


def _merged(box: Box) -> ConsolidatedBox:
    return ConsolidatedBox(box, 1.0, 3)
