"""Label-error finding (gtpipe_shared.label_errors): the confident-learning rule, ranking, cap, folds."""

from __future__ import annotations

import math
import random

import pytest
from gtpipe_shared.label_errors import (
    LabelErrorsInputError,
    LabelIssue,
    assign_folds,
    class_thresholds,
    find_label_errors,
    review_summary,
)


def test_thresholds_are_each_class_mean_self_confidence() -> None:
    # given two objects labeled 0 and one labeled 1; class 2 given to nobody
    probabilities = [[0.9, 0.1, 0.0], [0.7, 0.3, 0.0], [0.2, 0.6, 0.2]]
    # when
    thresholds = class_thresholds(probabilities, [0, 0, 1])
    # then class 0's threshold is the mean of 0.9 and 0.7, class 1's is 0.6, class 2 can never be reached
    assert thresholds[0] == pytest.approx(0.8)
    assert thresholds[1] == pytest.approx(0.6)
    assert math.isinf(thresholds[2])


def test_flags_an_object_whose_other_class_reaches_its_threshold_and_own_does_not() -> None:
    # given four objects labeled 0 the model is sure of, four labeled 1, and one labeled 0 that looks like a 1
    probabilities = [[0.95, 0.05]] * 4 + [[0.1, 0.9]] * 4 + [[0.1, 0.9]]
    labels = [0] * 4 + [1] * 4 + [0]
    # when
    issues = find_label_errors(probabilities, labels, max_share=1.0)
    # then only the last object is flagged, with class 1 suggested and its margin
    assert [(i.index, i.given, i.suggested) for i in issues] == [(8, 0, 1)]
    assert issues[0].margin == pytest.approx(0.8)
    assert issues[0].as_dict()["suggested-probability"] == pytest.approx(0.9)


def test_does_not_flag_when_the_given_label_reaches_its_threshold() -> None:
    # given an object whose given class is as probable as that class's average, even though another is higher
    probabilities = [[0.5, 0.5], [0.5, 0.5], [0.1, 0.9], [0.1, 0.9]]
    # when
    issues = find_label_errors(probabilities, [0, 0, 1, 1], max_share=1.0)
    # then nothing is flagged (class 1's probability 0.5 is below its threshold 0.9 anyway)
    assert issues == []


def test_does_not_flag_when_no_other_class_reaches_its_threshold() -> None:
    # given an object unsure of its label, but no other class as probable as that class's average
    probabilities = [[0.9, 0.1, 0.0], [0.9, 0.1, 0.0], [0.5, 0.3, 0.2], [0.0, 0.9, 0.1], [0.0, 0.1, 0.9]]
    # when
    issues = find_label_errors(probabilities, [0, 0, 0, 1, 2], max_share=1.0)
    # then the uncertain object 2 is not flagged (class 1: 0.3 < 0.9, class 2: 0.2 < 0.9)
    assert issues == []


def test_suggests_the_most_probable_class_above_its_threshold() -> None:
    # given an object labeled 0 where classes 1 and 2 both reach their (low) thresholds, class 2 more so
    probabilities = [[0.9, 0.05, 0.05]] * 3 + [[0.3, 0.4, 0.3], [0.3, 0.3, 0.4], [0.0, 0.4, 0.6]]
    labels = [0, 0, 0, 1, 2, 0]
    # when
    issues = find_label_errors(probabilities, labels, max_share=1.0)
    # then object 5 is flagged with class 2 (0.6 >= 0.4) preferred over class 1 (0.4 >= 0.4)
    assert [(i.index, i.suggested) for i in issues] == [(5, 2)]


def test_ranks_by_margin_and_caps_the_flagged_share() -> None:
    # given ten objects, three of them labeled against the model with margins 0.2, 0.8 and 0.5
    probabilities = [[0.95, 0.05]] * 4 + [[0.4, 0.6]] * 3 + [[0.4, 0.6], [0.1, 0.9], [0.25, 0.75]]
    labels = [0] * 4 + [1] * 3 + [0, 0, 0]
    # when every flag is allowed, and when at most 20% of the objects may be flagged
    everything = find_label_errors(probabilities, labels, max_share=1.0)
    capped = find_label_errors(probabilities, labels, max_share=0.2)
    # then all three come most likely first, and the cap keeps the top two
    assert [i.index for i in everything] == [8, 9, 7]
    assert [i.index for i in capped] == [8, 9]
    assert find_label_errors(probabilities, labels, max_share=0.0) == []


def test_finds_flipped_labels_in_noisy_simulated_predictions() -> None:
    # given 1,000 objects of 5 classes, a model right with probability ~0.85 about the true class, and 5% of
    # the given labels flipped (seeded)
    rng = random.Random(3)
    truth = [i % 5 for i in range(1000)]
    flipped = set(rng.sample(range(1000), 50))
    labels = [(t + rng.randint(1, 4)) % 5 if i in flipped else t for i, t in enumerate(truth)]
    probabilities = []
    for t in truth:
        confidence = rng.uniform(0.7, 0.99)
        row = [(1 - confidence) / 4] * 5
        row[t] = confidence
        probabilities.append(row)
    # when
    issues = find_label_errors(probabilities, labels, max_share=0.1)
    # then only flipped labels are flagged, more than half of them (those the model is more sure of than its
    # class's average), and each suggestion is the true class
    flagged = {i.index for i in issues}
    assert flagged <= flipped
    assert len(flagged) > len(flipped) / 2
    assert all(i.suggested == truth[i.index] for i in issues)


@pytest.mark.parametrize(
    ("probabilities", "labels", "max_share", "message"),
    [
        ([[0.5, 0.5]], [0, 1], 0.1, "1 rows of probabilities for 2 labels"),
        ([[1.0]], [0], 0.1, "at least 2 classes"),
        ([[0.5, 0.5], [1.0, 0.0, 0.0]], [0, 1], 0.1, "object 1: 3 probabilities, expected 2"),
        ([[0.5, 0.6]], [0], 0.1, "sum to 1.1000"),
        ([[1.5, -0.5]], [0], 0.1, "between 0 and 1"),
        ([[float("nan"), 0.5]], [0], 0.1, "between 0 and 1"),
        ([[0.5, 0.5]], [2], 0.1, "label 2 is not a class index below 2"),
        ([[0.5, 0.5]], [True], 0.1, "label True"),
        ([[0.5, 0.5]], [0], 1.5, "max_share must be between 0 and 1"),
    ],
)
def test_rejects_unusable_inputs_naming_the_problem(
    probabilities: list[list[float]], labels: list[int], max_share: float, message: str
) -> None:
    # given inputs with one problem; when flagged; then a LabelErrorsInputError names it
    with pytest.raises(LabelErrorsInputError, match=message.replace("(", r"\(")):
        find_label_errors(probabilities, labels, max_share)


def test_no_objects_flags_nothing() -> None:
    # given nothing; when flagged; then nothing is returned
    assert find_label_errors([], [], 0.1) == []


def test_folds_are_stratified_balanced_and_seeded() -> None:
    # given 100 objects of 3 unequal classes
    labels = [0] * 50 + [1] * 30 + [2] * 20
    # when assigned to 3 folds twice with one seed and once with another
    folds = assign_folds(labels, 3, seed=7)
    # then fold sizes differ by at most one, each fold holds each class within one of an equal share,
    # the same seed gives the same folds and another seed other ones
    sizes = [folds.count(f) for f in range(3)]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 100
    for label, count in ((0, 50), (1, 30), (2, 20)):
        per_fold = [
            sum(1 for i, f in enumerate(folds) if f == fold and labels[i] == label) for fold in range(3)
        ]
        assert max(per_fold) - min(per_fold) <= 1 and sum(per_fold) == count
    assert assign_folds(labels, 3, seed=7) == folds
    assert assign_folds(labels, 3, seed=8) != folds


@pytest.mark.parametrize(("count", "folds", "message"), [(10, 1, "at least 2"), (2, 3, "2 objects cannot")])
def test_folds_reject_impossible_requests(count: int, folds: int, message: str) -> None:
    # given too few folds or objects; when assigned; then the error names the problem
    with pytest.raises(LabelErrorsInputError, match=message):
        assign_folds([0] * count, folds, seed=0)


def test_review_summary_counts_confirmed_kept_and_unreviewed() -> None:
    # given three flagged objects: one relabeled by the reviewer, one kept, one not reviewed
    issues = [LabelIssue(4, 0, 1, 0.1, 0.9), LabelIssue(7, 1, 2, 0.2, 0.7), LabelIssue(9, 2, 0, 0.3, 0.6)]
    # when summarized over 50 objects
    summary = review_summary(issues, {4: 1, 7: 1}, objects=50)
    # then
    assert summary == {
        "objects": 50,
        "flagged": 3,
        "confirmed": 1,
        "kept": 1,
        "unreviewed": 1,
        "flagged_share": 0.06,
        "confirmed_share_of_flagged": 0.5,
    }
