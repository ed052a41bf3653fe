"""Gold objects (gtpipe_shared.labeling_gold) and gold-weighted consolidation: pure functions."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pytest
from gtpipe_shared import labeling_gold as gold
from gtpipe_shared.consolidation import (
    Box,
    BoxAnswer,
    ClassAnswer,
    GoldScore,
    consolidate_boxes,
    consolidate_classes,
)
from gtpipe_shared.labeling_errors import InvalidManifest
from gtpipe_shared.labeling_store import gold_from_manifest

CLASSES = ("cat", "dog", "bird")


@dataclass(frozen=True)
class Record:
    worker_id: str
    answer: dict[str, Any]


# --- consolidation weighted by gold ------------------------------------------------------------------


def test_gold_records_decide_between_workers_that_agreement_cannot_tell_apart() -> None:
    # Given two workers who disagree on every object (agreement alone cannot tell who is right: a tie)
    answers = [[ClassAnswer("careful", 0), ClassAnswer("careless", 1)] for _ in range(4)]
    # When consolidated without gold and with the careful worker right on 10 of 10 gold objects and the
    # careless one on 2 of 10
    plain = consolidate_classes(answers, 3, seed=1)
    weighted = consolidate_classes(
        answers, 3, seed=1, gold={"careful": GoldScore(10, 10), "careless": GoldScore(2, 10)}
    )
    # Then gold gives every label to the careful worker's class, and trusts them more
    assert [label.label for label in weighted.labels if label] == [0, 0, 0, 0]
    assert weighted.worker_accuracy["careful"] > weighted.worker_accuracy["careless"]
    # and without gold the workers stay equally trusted
    assert plain.worker_accuracy["careful"] == pytest.approx(plain.worker_accuracy["careless"])


def test_few_gold_answers_stay_near_the_prior() -> None:
    # Given the Beta(2, 1) smoothing: then no gold is the prior 2/3, one wrong answer moves it only to 1/2
    assert GoldScore(0, 0).smoothed() == pytest.approx(2 / 3)
    assert GoldScore(0, 1).smoothed() == pytest.approx(1 / 2)
    assert GoldScore(100, 100).smoothed() == pytest.approx(102 / 103)


def test_empty_gold_changes_nothing() -> None:
    # Given answers with a clear majority; when consolidated with gold None and with gold {}
    answers = [[ClassAnswer("a", 1), ClassAnswer("b", 1), ClassAnswer("c", 2)]]
    # Then both are the plain consolidation
    assert consolidate_classes(answers, 3, gold={}) == consolidate_classes(answers, 3)


def test_box_reliability_counts_gold_records() -> None:
    # Given two workers drawing different boxes on each image (each box drawn by half the weight)
    a, b = Box(0, 0, 0, 10, 10), Box(0, 50, 50, 10, 10)
    answers = [[BoxAnswer("good", (a,)), BoxAnswer("poor", (b,))] for _ in range(3)]
    # When the good worker's gold record is perfect and the poor one's empty of credit
    result = consolidate_boxes(answers, 1, gold={"good": GoldScore(10, 10), "poor": GoldScore(0, 10)})
    # Then only the good worker's box is kept (it holds more than half the weight)
    assert [[item.box for item in image] for image in result.images] == [[a], [a], [a]]
    assert result.worker_reliability["good"] > result.worker_reliability["poor"]


# --- scoring -----------------------------------------------------------------------------------------


def test_class_answers_score_exactly() -> None:
    # Given a known label 2: then the same class scores 1 of 1, another 0 of 1
    assert gold.score("image-classification", {"label": 2}, {"label": 2}) == GoldScore(1.0, 1.0)
    assert gold.score("image-classification", {"label": 1}, {"label": 2}) == GoldScore(0.0, 1.0)


def test_box_answers_score_by_iou_matching() -> None:
    # Given two known boxes; an answer with one exact box, one box of the wrong class, one spurious box
    truth = {"boxes": [box(0, 0, 0), box(1, 100, 100)], "image_size": {"width": 400, "height": 300}}
    answer = {
        "boxes": [box(0, 0, 0), box(0, 100, 100), box(1, 300, 200)],
        "image_size": {"width": 400, "height": 300},
    }
    # When scored
    result = gold.score("object-detection", answer, truth)
    # Then the exact box earns its IoU (1), the wrong class nothing, and the spurious box is a chance lost
    assert result == GoldScore(1.0, 3.0)


def box(class_id: int, left: int, top: int, size: int = 40) -> dict[str, int]:
    return {"class_id": class_id, "left": left, "top": top, "width": size, "height": size}


def test_worker_scores_sum_each_workers_gold_answers() -> None:
    # Given two gold objects answered by two workers
    truths = {3: {"label": 0}, 7: {"label": 1}}
    answers = {
        3: [Record("a", {"label": 0}), Record("b", {"label": 2})],
        7: [Record("a", {"label": 1}), Record("b", {"label": 1})],
        9: [Record("a", {"label": 2})],  # not gold: not scored
    }
    # Then each worker's record covers their gold answers only
    assert gold.worker_scores("image-classification", truths, answers) == {
        "a": GoldScore(2.0, 2.0),
        "b": GoldScore(1.0, 2.0),
    }


# --- the estimate ------------------------------------------------------------------------------------


def test_wilson_interval_matches_the_formula_and_its_edges() -> None:
    # Given 8 successes of 10: the Wilson score interval at z = 1.96 (computed by hand from the formula)
    low, high = gold.wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    # Then all or nothing keep an edge at 1 or 0 and an interval of positive width; no trials: (0, 1)
    assert gold.wilson(10, 10)[1] == 1.0 and gold.wilson(10, 10)[0] < 1.0
    assert gold.wilson(0, 10)[0] == 0.0 and gold.wilson(0, 10)[1] > 0.0
    assert gold.wilson(0, 0) == (0.0, 1.0)


def test_label_accuracy_per_class_consolidates_each_gold_object_without_its_own_truth() -> None:
    # Given three gold cats answered by three workers: two objects right by majority, one wrong by
    # majority, and one gold dog all answered right
    truths = {0: {"label": 0}, 1: {"label": 0}, 2: {"label": 0}, 3: {"label": 1}}
    right = [Record(w, {"label": 0}) for w in "abc"]
    wrong = [Record("a", {"label": 2}), Record("b", {"label": 2}), Record("c", {"label": 0})]
    answers = {0: right, 1: right, 2: wrong, 3: [Record(w, {"label": 1}) for w in "abc"]}
    # When the statistics are computed
    stats = gold.gold_statistics("image-classification", CLASSES, truths, answers)
    # Then the cats are 2 of 3 right with Wilson's interval, the dog 1 of 1, and all 3 of 4
    rows = {row["class_name"]: row for row in stats["label_accuracy"]}
    assert (rows["cat"]["correct"], rows["cat"]["items"]) == (2, 3)
    assert (rows["cat"]["low"], rows["cat"]["high"]) == tuple(round(v, 3) for v in gold.wilson(2, 3))
    assert (rows["dog"]["correct"], rows["dog"]["items"]) == (1, 1)
    assert (rows[None]["correct"], rows[None]["items"]) == (3, 4)
    assert "bird" not in rows  # no gold bird: no estimate
    # and each worker's gold accuracy and count: a and b missed one of 4, c none
    assert stats["workers"]["a"] == {"gold_answers": 4, "gold_accuracy": 0.75}
    assert stats["workers"]["c"] == {"gold_answers": 4, "gold_accuracy": 1.0}
    assert (stats["objects"], stats["answers"]) == (4, 12)


# --- choosing and placing gold objects ---------------------------------------------------------------


def test_gold_count_follows_the_share_of_tasks() -> None:
    # Given 90 data objects: 10% of all tasks gold is 10 gold objects; at least one; never more than exist
    assert gold.gold_count(90, 0.1, 100) == 10
    assert gold.gold_count(3, 0.1, 100) == 1
    assert gold.gold_count(90, 0.1, 4) == 4
    assert gold.gold_count(90, 0.0, 100) == 0
    with pytest.raises(ValueError, match="gold share"):
        gold.gold_count(90, 1.0, 100)


def test_queue_order_keeps_data_order_and_is_seeded() -> None:
    # Given 20 data objects and 5 gold objects
    order = gold.queue_order(20, 5, "job-a")
    # Then the queue holds every data object once, in input order, and 5 gold slots
    assert [position for position in order if position is not None] == list(range(20))
    assert order.count(None) == 5
    # and the same job always gets the same queue, another job (almost surely) another
    assert gold.queue_order(20, 5, "job-a") == order
    assert gold.queue_order(20, 5, "job-b") != order


def test_pick_leaves_out_images_of_the_job_itself() -> None:
    # Given a pool of 3 gold images, one of them also a data object of the job
    pool = [gold.GoldObject(f"s3://b/g{i}.png", "{}", {"label": 0}) for i in range(3)]
    # When 50% of the tasks should be gold (as many gold as data objects: 2 wanted)
    chosen = gold.pick(pool, ["s3://b/g0.png", "s3://b/d1.png"], 0.5, "job")
    # Then only the other two gold images are chosen
    assert sorted(item.source_ref for item in chosen) == ["s3://b/g1.png", "s3://b/g2.png"]


# --- the gold manifest -------------------------------------------------------------------------------


def lines(*objects: dict[str, Any]) -> bytes:
    return "".join(json.dumps(obj) + "\n" for obj in objects).encode()


def test_gold_manifest_lines_keep_no_label() -> None:
    # Given a gold line with its label, metadata and an extra field
    data = lines(
        {
            "source-ref": "s3://gold-bucket/g.png",
            "category": 1,
            "category-metadata": {"class-name": "dog"},
            "note": "secret answer: dog",
        }
    )
    # When read
    (item,) = gold_from_manifest(
        data, task_type="image-classification", label_attribute="category", class_names=CLASSES
    )
    # Then the known answer is in stored form and the line the table keeps holds only the image
    assert item.truth == {"label": 1}
    assert json.loads(item.line) == {"source-ref": "s3://gold-bucket/g.png"}


def test_gold_box_manifest_reads_ground_truths_label() -> None:
    # Given a Ground Truth bounding-box label
    label = {"image_size": [{"width": 400, "height": 300, "depth": 3}], "annotations": [box(2, 10, 20)]}
    data = lines({"source-ref": "s3://gold-bucket/g.png", "category": label, "category-metadata": {}})
    # When read; then the boxes and the image size are the stored answer form
    (item,) = gold_from_manifest(
        data, task_type="object-detection", label_attribute="category", class_names=CLASSES
    )
    assert item.truth == {"boxes": [box(2, 10, 20)], "image_size": {"width": 400, "height": 300}}
    assert json.loads(item.line) == {"source-ref": "s3://gold-bucket/g.png"}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ({"source-ref": "s3://gold-bucket/g.png"}, "line 1: no label attribute 'category'"),
        ({"source-ref": "s3://gold-bucket/g.png", "category": 7}, "label 7 is not a known class id"),
        (
            {
                "source-ref": "s3://gold-bucket/g.png",
                "category": 0,
                "category-metadata": {"class-name": "dog"},
            },
            "class-name 'dog' does not match label category 0 'cat'",
        ),
        ({"category": 0}, "missing 'source-ref'"),
    ],
)
def test_bad_gold_manifests_name_the_problem(line: dict[str, Any], problem: str) -> None:
    # Given a gold line without a usable label; when read; then InvalidManifest names the gold manifest
    # and the problem
    with pytest.raises(InvalidManifest) as error:
        gold_from_manifest(
            lines(line), task_type="image-classification", label_attribute="category", class_names=CLASSES
        )
    assert str(error.value).startswith("gold manifest: ")
    assert problem in str(error.value)


def test_wilson_is_within_bounds_for_every_count() -> None:
    # Given every count of 12 trials: then each interval lies in [0, 1] and holds the observed share
    for successes in range(13):
        low, high = gold.wilson(successes, 12)
        assert 0.0 <= low <= successes / 12 <= high <= 1.0
        assert not math.isnan(low + high)
