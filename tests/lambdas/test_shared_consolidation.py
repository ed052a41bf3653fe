"""Consolidation of workers' answers (gtpipe_shared.consolidation): exact on unanimous answers, better than a
single worker on noisy ones, workers weighted by agreement, deterministic, bad input named."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from gtpipe_shared.consolidation import (
    Box,
    BoxAnswer,
    ClassAnswer,
    clip_box,
    consolidate_boxes,
    consolidate_classes,
    iou,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.box_scenes import random_scene, recall_and_iou

worker_ids = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5, unique=True)


# -- simulated workers (self-contained: the Lambda tests do not import the local cloud) ---------------


def noisy_label(truth: int, num_classes: int, error_rate: float, rng: random.Random) -> int:
    """``truth``, or with ``error_rate`` another class drawn uniformly."""
    if num_classes > 1 and rng.random() < error_rate:
        wrong = rng.randrange(num_classes - 1)
        return wrong + (wrong >= truth)
    return truth


def drawn_boxes(
    truth: Sequence[Box],
    size: tuple[int, int],
    num_classes: int,
    rng: random.Random,
    *,
    jitter: float,
    miss_rate: float,
    wrong_class_rate: float,
) -> tuple[Box, ...]:
    """One worker's boxes: each true box missed, its edges jittered, its class swapped at the given rates."""
    drawn = []
    for box in truth:
        if rng.random() < miss_rate:
            continue
        dx, dy = jitter * box.width, jitter * box.height
        left, right = sorted((box.left + rng.gauss(0, dx), box.right + rng.gauss(0, dx)))
        top, bottom = sorted((box.top + rng.gauss(0, dy), box.bottom + rng.gauss(0, dy)))
        class_id = noisy_label(box.class_id, num_classes, wrong_class_rate, rng)
        drawn.append(clip_box(Box(class_id, left, top, right - left, bottom - top), *size))
    return tuple(drawn)


def class_accuracies(
    objects: int, num_classes: int, workers: int, error_rate: float, seed: int
) -> tuple[float, float]:
    """(consolidated accuracy, mean single-worker accuracy) of ``workers`` workers per object."""
    rng = random.Random(seed)
    truth = [rng.randrange(num_classes) for _ in range(objects)]
    team = [f"w{k}" for k in range(workers)]
    answers = [[ClassAnswer(w, noisy_label(t, num_classes, error_rate, rng)) for w in team] for t in truth]
    result = consolidate_classes(answers, num_classes)
    consolidated = sum(
        label is not None and label.label == t for label, t in zip(result.labels, truth, strict=True)
    )
    single = sum(a.label == t for item, t in zip(answers, truth, strict=True) for a in item) / workers
    return consolidated / objects, single / objects


# -- classes ------------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.integers(1, 50), worker_ids, st.data())
def test_unanimous_class_answers_consolidate_to_exactly_that_class(num_classes, workers, data):
    # Given 1..20 objects that every worker labels with the same class
    truth = data.draw(st.lists(st.integers(0, num_classes - 1), min_size=1, max_size=20))
    answers = [[ClassAnswer(worker, label) for worker in workers] for label in truth]
    # When consolidated
    result = consolidate_classes(answers, num_classes)
    # Then every label is that class, confidently (at least 2/3 even for one worker on one object: the
    # accuracy prior), and the workers are trusted
    assert [label.label for label in result.labels if label] == truth
    assert all(label is not None and 0.66 <= label.confidence <= 1.0 for label in result.labels)
    assert set(result.worker_accuracy) == set(workers)
    assert all(accuracy > 0.6 for accuracy in result.worker_accuracy.values())


def test_an_object_without_answers_gets_no_label():
    # Given a second object nobody answered
    answers = [[ClassAnswer("a", 1), ClassAnswer("b", 1)], []]
    # When consolidated
    result = consolidate_classes(answers, 3)
    # Then it has no label and the other object is labeled
    assert result.labels[1] is None
    assert result.labels[0] is not None and result.labels[0].label == 1


def test_three_workers_at_25_percent_error_beat_a_single_worker_by_a_margin():
    # Given 3,000 objects of 10 classes, each labeled by 3 workers who err 25% of the time (uniformly)
    # When consolidated
    consolidated, single = class_accuracies(3000, 10, 3, 0.25, seed=11)
    # Then the consolidated labels are right far more often than one worker (measured 0.880 vs 0.749)
    assert single == pytest.approx(0.75, abs=0.02)
    assert consolidated >= single + 0.12


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    num_classes=st.integers(2, 20),
    workers=st.sampled_from([3, 5]),
    error_rate=st.floats(0.05, 0.3),
)
def test_noisy_class_answers_consolidate_better_than_a_single_worker(seed, num_classes, workers, error_rate):
    # Given 600 objects labeled by 3 or 5 workers who each err up to 30% of the time
    # When consolidated
    consolidated, single = class_accuracies(600, num_classes, workers, error_rate, seed)
    # Then the consolidated accuracy beats one worker's
    assert consolidated > single


def test_a_careless_worker_is_outweighed_by_careful_ones():
    # Given four careful workers (10% errors) and one who answers at random, 3 of them per object
    rng = random.Random(5)
    truth = [rng.randrange(10) for _ in range(300)]
    answers = []
    for label in truth:
        team = rng.sample(["a", "b", "c", "d", "careless"], 3)
        answers.append(
            [ClassAnswer(w, noisy_label(label, 10, 0.9 if w == "careless" else 0.1, rng)) for w in team]
        )
    # When consolidated
    result = consolidate_classes(answers, 10, seed=5)
    # Then the careless worker's estimated accuracy and weight are far below the others'
    assert result.worker_accuracy["careless"] < 0.3 < 0.8 < min(result.worker_accuracy[w] for w in "abcd")
    assert result.worker_weight["careless"] < min(result.worker_weight[w] for w in "abcd") / 3


def test_ties_are_broken_by_the_seed_not_towards_low_classes_and_repeat():
    # Given 200 objects on which two equally trusted workers disagree (class 0 vs class 1)
    answers = [[ClassAnswer("a", 0), ClassAnswer("b", 1)] for _ in range(200)]
    # When consolidated twice with one seed, and once with another
    first = consolidate_classes(answers, 2, seed=3)
    again = consolidate_classes(answers, 2, seed=3)
    other = consolidate_classes(answers, 2, seed=4)
    # Then both classes win some ties, the same seed repeats exactly and another seed differs
    labels = [label.label for label in first.labels if label]
    assert 50 < labels.count(0) < 150
    assert first == again
    assert first.labels != other.labels
    assert all(label is not None and label.confidence == 0.5 for label in first.labels)


def test_a_label_out_of_range_names_the_object_and_worker():
    # Given a worker answering class 3 of a 3-class job
    answers = [[ClassAnswer("a", 0)], [ClassAnswer("b", 1), ClassAnswer("mallory", 3)]]
    # When consolidated, then the error names the object, the worker and the valid range
    with pytest.raises(ValueError, match=r"object 1: worker mallory answered 3, not a class index 0\.\.2"):
        consolidate_classes(answers, 3)
    with pytest.raises(ValueError, match="num_classes"):
        consolidate_classes(answers, 0)


# -- boxes --------------------------------------------------------------------------------------------


@st.composite
def images(draw: st.DrawFn, num_classes: int) -> list[Box]:
    """0..4 boxes of at least 12 px inside a 48..200 px image."""
    width, height = draw(st.integers(48, 200)), draw(st.integers(48, 200))
    boxes = []
    for _ in range(draw(st.integers(0, 4))):
        box_width, box_height = draw(st.integers(12, width)), draw(st.integers(12, height))
        left, top = draw(st.integers(0, width - box_width)), draw(st.integers(0, height - box_height))
        boxes.append(Box(draw(st.integers(0, num_classes - 1)), left, top, box_width, box_height))
    return boxes


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(1, 50), worker_ids, st.data())
def test_unanimous_boxes_consolidate_to_exactly_those_boxes(num_classes, workers, data):
    # Given every worker drawing exactly the same boxes on 1..6 images
    truth = data.draw(st.lists(images(num_classes), min_size=1, max_size=6))
    answers = [[BoxAnswer(worker, tuple(boxes)) for worker in workers] for boxes in truth]
    # When consolidated
    result = consolidate_boxes(answers, num_classes)
    # Then each image gets exactly its boxes back (top-left order), with confidence 1 and every worker
    for boxes, merged in zip(truth, result.images, strict=True):
        expected = sorted(boxes, key=lambda b: (b.top, b.left, b.class_id))
        assert [item.box.as_annotation() for item in merged] == [b.as_annotation() for b in expected]
        assert all(item.confidence == 1.0 and item.workers == len(workers) for item in merged)
    assert set(result.worker_reliability) == set(workers)


def test_noisy_box_workers_are_beaten_by_their_consolidation():
    # Given 300 images with 1-4 boxes of 4 classes, 3 workers each who jitter edges by 8%, miss 15% of the
    # boxes and give 5% a wrong class
    rng = random.Random(7)
    scenes = [random_scene(rng, 4) for _ in range(300)]
    team = ["w0", "w1", "w2"]
    noise = {"jitter": 0.08, "miss_rate": 0.15, "wrong_class_rate": 0.05}
    answers = [
        [BoxAnswer(w, drawn_boxes(boxes, (width, height), 4, rng, **noise)) for w in team]
        for width, height, boxes in scenes
    ]
    truth = [boxes for _, _, boxes in scenes]
    # When consolidated
    result = consolidate_boxes(answers, 4)
    merged = recall_and_iou([[item.box for item in image] for image in result.images], truth)
    singles = [recall_and_iou([list(image[k].boxes) for image in answers], truth) for k in range(3)]
    single_recall = sum(r for r, _ in singles) / 3
    single_iou = sum(i for _, i in singles) / 3
    # Then the merged boxes find more true boxes (measured 0.930 vs 0.824) and fit them better (IoU 0.861 vs 0.786)
    assert merged[0] >= single_recall + 0.08
    assert merged[1] >= single_iou + 0.02


def test_a_box_drawn_by_one_of_three_workers_is_dropped_and_two_of_three_kept():
    # Given three workers: all draw box A (one of them shifted), two draw box B, one draws a stray box C
    a, b, c = Box(0, 10, 10, 40, 40), Box(0, 100, 100, 30, 30), Box(0, 150, 10, 20, 20)
    shifted = Box(0, 14, 10, 40, 40)
    answers = [[BoxAnswer("w1", (a, b, c)), BoxAnswer("w2", (shifted, b)), BoxAnswer("w3", (a,))]]
    # When consolidated
    result = consolidate_boxes(answers, 1)
    boxes = result.images[0]
    # Then A and B are kept, C dropped; A is the weighted mean of the three (left between 10 and 14), B exact
    assert len(boxes) == 2
    assert 10 < boxes[0].box.left < 14 and (boxes[0].box.top, boxes[0].box.width) == (10, 40)
    assert boxes[1].box == Box(0, 100, 100, 30, 30)
    # And the confidence is the share of workers times their mean IoU with the merged box
    assert boxes[1].confidence == round(2 / 3, 2)
    assert boxes[0].workers == 3 and 0.85 <= boxes[0].confidence < 1.0
    # And the worker who drew every kept box and nothing else is trusted most
    reliability = result.worker_reliability
    assert reliability["w2"] > max(reliability["w1"], reliability["w3"])


def test_the_class_of_a_box_is_the_weighted_vote_and_an_unanswered_image_gets_none():
    # Given two of three workers calling a box class 2 and one class 1, and an image nobody answered
    box = Box(2, 10, 10, 30, 30)
    answers = [
        [BoxAnswer("a", (box,)), BoxAnswer("b", (box,)), BoxAnswer("c", (Box(1, 10, 10, 30, 30),))],
        [],
    ]
    # When consolidated
    result = consolidate_boxes(answers, 3)
    # Then the box has class 2 and the unanswered image no boxes
    assert [item.box.class_id for item in result.images[0]] == [2]
    assert result.images[1] == []


def test_bad_boxes_are_named():
    # Given a box of an unknown class, and one without area
    unknown = [[BoxAnswer("a", (Box(0, 0, 0, 5, 5),))], [BoxAnswer("mallory", (Box(7, 0, 0, 5, 5),))]]
    flat = [[BoxAnswer("eve", (Box(0, 0, 0, 0, 5),))]]
    # When consolidated, then the errors name the image, the worker and the problem
    with pytest.raises(ValueError, match=r"image 1: worker mallory drew class 7, not a class index 0\.\.1"):
        consolidate_boxes(unknown, 2)
    with pytest.raises(ValueError, match="image 0: worker eve drew a box without area"):
        consolidate_boxes(flat, 2)
    with pytest.raises(ValueError, match="iou_threshold"):
        consolidate_boxes(flat, 2, iou_threshold=0)


def test_iou_and_clipping():
    # Given overlapping, disjoint and out-of-image boxes
    # Then IoU is intersection over union whatever the classes, and clipping keeps whole pixels inside
    assert iou(Box(0, 0, 0, 10, 10), Box(1, 5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou(Box(0, 0, 0, 10, 10), Box(0, 10, 0, 10, 10)) == 0.0
    assert clip_box(Box(0, -5.4, 3.6, 200, 10), 100, 50) == Box(0, 0, 4, 100, 10)
    assert clip_box(Box(0, 120, 60, 5, 5), 100, 50) == Box(0, 99, 49, 1, 1)
