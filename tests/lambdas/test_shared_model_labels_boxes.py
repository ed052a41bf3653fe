"""A labeling model's boxes as a machine label (gtpipe_shared.model_labels): the score cut-off, the image's
confidence, the cut-off calibrated on a validation sample, and human box labels read back."""

from __future__ import annotations

from typing import Any

import pytest
from gtpipe_shared.consolidation import Box
from gtpipe_shared.model_labels import (
    BOX_CUTOFF_CANDIDATES,
    BOX_SCORE_CUTOFF,
    box_certainty,
    box_cutoff_scores,
    choose_box_cutoff,
    detection_prediction,
    label_boxes,
    pick_box_cutoff,
)

SIZE = (200, 100, 3)
TRUTH = [Box(0, 20, 10, 40, 30)]
RIGHT = [0, 0.1, 0.1, 0.1, 0.3, 0.4]  # TRUTH, relative to SIZE


def rows(*scored: tuple[list[float], float]) -> dict[str, Any]:
    return {"prediction": [[row[0], score, *row[2:]] for row, score in scored]}


@pytest.mark.parametrize("score", [0.0, 0.02, 0.3, 0.5, 0.7, 0.97, 1.0])
def test_at_the_half_cutoff_a_boxs_certainty_is_the_ground_truth_emulations_rule(score: float) -> None:
    # Given the documented 0.5 cut-off / Then a box's certainty is max(score, 1 - score)
    assert box_certainty(score, BOX_SCORE_CUTOFF) == pytest.approx(max(score, 1 - score))


def test_a_lower_cutoff_keeps_low_scored_boxes_and_measures_certainty_from_it() -> None:
    # Given a right box scored 0.3 and a stray one at 0.02
    answer = rows((RIGHT, 0.3), ([1, 0, 0.7, 0.1, 0.9, 0.3], 0.02))
    # When read at the 0.5 cut-off / Then nothing is kept
    assert detection_prediction(answer, SIZE, 2).value == ()
    # When read at 0.2 / Then the right box is kept, in pixels, and the image is as certain as its least
    # certain row: the kept box, an eighth of the way from the cut-off to 1
    prediction = detection_prediction(answer, SIZE, 2, cutoff=0.2)
    assert [(box.as_annotation(), score) for box, score in prediction.value] == [
        (TRUTH[0].as_annotation(), 0.3)
    ]
    assert prediction.confidence == pytest.approx(0.5 + 0.5 * 0.1 / 0.8)
    # And a cut-off outside (0, 1) is refused
    with pytest.raises(ValueError, match="cut-off must be in"):
        detection_prediction(answer, SIZE, 2, cutoff=1.0)


def test_the_cutoff_is_the_one_machine_labeling_the_most_validation_images() -> None:
    # Given a validation sample where the right box scores 0.3 (and a stray 0.02) on 25 images, and on 5
    # the right box and a duplicate both score 0.28
    duplicate = [0, 0.1, 0.5, 0.5, 0.7, 0.9]
    sure = (rows((RIGHT, 0.3), ([1, 0, 0.7, 0.1, 0.9, 0.3], 0.02)), SIZE, TRUTH)
    unsure = (rows((RIGHT, 0.28), (duplicate, 0.28)), SIZE, TRUTH)
    chosen = choose_box_cutoff([sure] * 25 + [unsure] * 5, 2)
    # Then the cut-off keeps the right boxes (below 0.3) and every sure image is machine-labeled
    assert 0.02 < chosen.cutoff <= 0.3
    assert chosen.covered == 25 and chosen.agreeing == 25
    # And with no image right at any cut-off, none is covered and the documented 0.5 is kept
    wrong = (rows(([1, *RIGHT[1:]], 0.9)), SIZE, TRUTH)
    assert choose_box_cutoff([wrong] * 20, 2).cutoff == BOX_SCORE_CUTOFF


def test_the_cutoff_is_chosen_alike_from_scores_read_once() -> None:
    # Given images read once at every cut-off (as a benchmark resampling one model's answers does)
    sure = (rows((RIGHT, 0.3), ([1, 0, 0.7, 0.1, 0.9, 0.3], 0.02)), SIZE, TRUTH)
    wrong = (rows(([1, *RIGHT[1:]], 0.9)), SIZE, TRUTH)
    samples = [sure] * 25 + [wrong] * 3
    scores = box_cutoff_scores(samples, 2)
    # Then every candidate cut-off holds one (confidence, agrees) per image, in the images' order
    assert list(scores) == list(BOX_CUTOFF_CANDIDATES)
    assert all(len(scored) == len(samples) for scored in scores.values())
    assert scores[0.2][0] == (pytest.approx(0.5 + 0.5 * 0.1 / 0.8), True)
    assert scores[0.2][-1][1] is False
    # And the choice from them is choose_box_cutoff's
    assert pick_box_cutoff(scores) == choose_box_cutoff(samples, 2)


def test_human_box_labels_are_read_back_as_pixel_boxes() -> None:
    # Given Ground Truth's bounding-box label / Then its boxes come back in pixels
    label = {
        "image_size": [{"width": 200, "height": 100, "depth": 3}],
        "annotations": [TRUTH[0].as_annotation()],
    }
    assert label_boxes(label) == TRUTH
    # And something else is named
    with pytest.raises(ValueError, match="not a bounding-box label"):
        label_boxes(3)
    with pytest.raises(ValueError, match="lacks class_id, left, top, width or height"):
        label_boxes({"annotations": [{"class_id": 0}]})
