"""Verified validation labels (gtpipe_shared.auto_labeling.needs_verification / validation_label): a
validation object whose human label disagrees with the model gets more answers before it calibrates the
threshold, so one person's slip cannot block it."""

from __future__ import annotations

import math

import pytest
from gtpipe_shared.auto_labeling import (
    choose_threshold,
    credibility_of,
    needs_verification,
    validation_label,
    worth_verifying,
)


def test_an_answer_that_agrees_with_the_model_is_settled():
    # Given one answer, the model's class / Then no more answers are asked
    assert not needs_verification([3], 3)


def test_an_answer_that_disagrees_with_the_model_gets_a_second_one():
    # Given one answer the model disputes / Then another person is asked
    assert needs_verification([7], 3)


def test_two_people_who_agree_settle_it_whatever_the_model_says():
    # Given a first answer the model disputed and a second person giving the same class
    # Then it is settled, and the label is theirs
    assert not needs_verification([7, 7], 3)
    assert validation_label([7, 7]) == 7


def test_two_answers_that_differ_get_a_third_that_decides():
    # Given a person's slip (7) and a second person siding with the model (3)
    answers = [7, 3]
    # Then a third is asked, and once it agrees with either, the majority is the label
    assert needs_verification(answers, 3)
    assert not needs_verification([*answers, 3], 3)
    assert validation_label([*answers, 3]) == 3


def test_at_the_maximum_no_more_is_asked_and_ties_go_to_the_earliest_answer():
    # Given three different answers (the maximum) / Then none more, and the first answer stands
    assert not needs_verification([7, 3, 5], 1)
    assert validation_label([7, 3, 5]) == 7
    # And a maximum of one never asks for a second
    assert not needs_verification([7], 3, maximum=1)


def test_without_a_model_prediction_nothing_is_verified():
    # Given a model that gave no label for the object / Then there is nothing to verify against
    assert not needs_verification([7], None)


def test_no_answers_is_refused():
    with pytest.raises(ValueError, match="at least one answer"):
        needs_verification([], 3)


def test_one_wrong_human_label_at_the_top_blocks_the_threshold_until_it_is_verified():
    # Given 40 validation objects, most confident first: the model right on the first 37 and wrong on the
    # last 3 (class 5 for a 3), and a person who slipped on the 8th (7 for a 3), as in BENCHMARKS.md's
    # builtin-auto run whose first model machine-labeled nothing
    confidences = [0.99 - 0.01 * i for i in range(40)]
    truth = [3] * 40
    model = [3] * 37 + [5] * 3
    human = list(truth)
    human[7] = 7

    def threshold(labels: list[int]) -> float | None:
        agreeing = [lab == m for lab, m in zip(labels, model, strict=True)]
        return choose_threshold(zip(confidences, agreeing, strict=True))

    # When the threshold is chosen on the single answers
    # Then none is reached: 7 agreeing above the slip are too few, 36 of 37 below it fall short of 95%
    assert threshold(human) is None
    # When every disputed object gets more answers (people right this time) until settled
    answers = [[h] for h in human]
    while any(needs_verification(a, m) for a, m in zip(answers, model, strict=True)):
        for a, m, t in zip(answers, model, truth, strict=True):
            if needs_verification(a, m):
                a.append(t)
    # Then the slip took two more answers and each model error one (people confirmed the first): 5 extra
    assert [len(a) for a in answers].count(1) == 36 and sum(len(a) for a in answers) == 45
    # And on the verified labels the threshold is reached: 37 agreeing, then 1 of 38 disagreeing (38/40)
    labels = [validation_label(a) for a in answers]
    assert labels == truth
    assert threshold(labels) == confidences[37]


def test_credibility_is_the_posterior_probability_of_reaching_the_accuracy():
    # Given agreeing counts on a validation sample / Then the probability that the machine labels are at
    # least 95% right under a uniform prior is P(Binomial(n + 1, 0.95) <= agreeing), the closed form
    def by_sum(agreeing: int, objects: int) -> float:
        n = objects + 1
        return sum(math.comb(n, k) * 0.95**k * 0.05 ** (n - k) for k in range(agreeing + 1))

    for agreeing, objects in [(20, 20), (19, 20), (38, 40), (42, 43), (5, 10), (0, 0)]:
        assert credibility_of(agreeing, objects, 0.95) == pytest.approx(by_sum(agreeing, objects), abs=1e-9)
    # And it grows with agreement and with the sample
    assert credibility_of(20, 20, 0.95) > credibility_of(19, 19, 0.95) > credibility_of(19, 20, 0.95)
    with pytest.raises(ValueError, match="agreeing"):
        credibility_of(5, 4, 0.95)


def test_the_builtin_loops_credible_threshold_needs_more_evidence_than_laplaces_mean():
    # Given validation objects, most confident first, all agreeing except the ``disagreeing`` least confident
    def threshold(objects: int, disagreeing: int, credibility: float | None) -> float | None:
        scored = [(1.0 - 0.001 * i, i < objects - disagreeing) for i in range(objects)]
        return choose_threshold(scored, 0.95, credibility)

    # Then at 0.65 credibility 20 of 20 agreeing reach it and 19 of 19 do not (Laplace's mean took 18)
    assert threshold(20, 0, 0.65) == pytest.approx(0.981)
    assert threshold(19, 0, 0.65) is None and threshold(18, 0, None) is not None
    # And one disagreement at the bottom of 40 objects: Laplace's mean absorbs it (40/42 >= 0.95), the
    # credible threshold stops above it; with 43 objects it absorbs it too
    assert threshold(40, 1, None) == pytest.approx(0.961)
    assert threshold(40, 1, 0.65) == pytest.approx(0.962)  # the 39 above the disagreement only
    assert threshold(43, 1, 0.65) == pytest.approx(0.958)
    with pytest.raises(ValueError, match="credibility"):
        choose_threshold([(0.9, True)], 0.95, 1.0)


def test_only_disputed_objects_that_a_reachable_threshold_could_cover_are_verified():
    # Given 25 validation objects the model is sure of (0.99 .. 0.75, all agreeing but object 3, whose
    # person disagreed), and 15 it is unsure of (0.40 .. 0.26) where people settled against it (two
    # agreeing answers each), but for object 44 (the least sure), disputed by one answer
    scored = {i: (0.99 - 0.01 * i, i != 3) for i in range(25)}
    scored |= {i: (0.70 - 0.01 * i, False) for i in range(30, 45)}
    # When the objects worth verifying are chosen, at the builtin loop's 95 % with 0.65 credibility
    chosen = worth_verifying(scored, [3, 44], 0.95, 0.65)
    # Then object 3 is (agreeing, the 25 sure objects reach a threshold); object 44 is not: even agreeing,
    # the settled disagreements above it keep every threshold above it
    assert chosen == [3]
    lowest = choose_threshold([(c, a or i in (3, 44)) for i, (c, a) in scored.items()], 0.95, 0.65)
    assert lowest is not None and scored[3][0] >= lowest > scored[44][0]


def test_nothing_is_verified_when_even_agreement_everywhere_reaches_no_threshold():
    # Given 10 validation objects (too few for 95 % at 0.65 credibility), two disputed
    scored = {i: (0.9 - 0.01 * i, i not in (0, 1)) for i in range(10)}
    # When / Then verifying them could not bring a threshold: nobody is asked again
    assert worth_verifying(scored, [0, 1], 0.95, 0.65) == []


def test_box_labels_are_the_same_when_their_boxes_agree_not_when_they_are_equal():
    # Given an image's boxes as people drew them three times: twice the same object a few pixels apart (they
    # agree at IoU >= 0.5), once in another class
    from gtpipe_shared.consolidation import Box
    from gtpipe_shared.model_labels import same_boxes

    first = (Box(0, 10, 20, 40, 30),)
    nudged = (Box(0, 12, 21, 40, 30),)
    other_class = (Box(1, 10, 20, 40, 30),)
    assert same_boxes(first, nudged) and not same_boxes(first, other_class)
    assert not same_boxes(first, (*nudged, Box(0, 60, 5, 20, 20)))  # a box more
    # Then a slip the model disputes gets a second answer, two agreeing answers settle it, and the label is
    # the earliest of those the most answers agree with
    assert needs_verification([other_class], first, same=same_boxes)
    assert not needs_verification([first], nudged, same=same_boxes)
    assert not needs_verification([other_class, other_class], first, same=same_boxes)
    assert needs_verification([other_class, first], first, same=same_boxes)
    assert validation_label([other_class, first, nudged], same=same_boxes) == first
