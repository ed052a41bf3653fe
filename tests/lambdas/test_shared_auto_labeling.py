"""One round of automated labeling (gtpipe_shared.auto_labeling.decide_round): the decisions the builtin
labeling service's loop and the local Ground Truth emulation share; and the builtin loop's widening of the
validation sample (gtpipe_shared.auto_labeling.widening) and its floor, the model's own expectation
(gtpipe_shared.auto_labeling.own_threshold)."""

from __future__ import annotations

import pytest
from gtpipe_shared.auto_labeling import (
    ActiveLearningPlan,
    Prediction,
    decide_round,
    own_threshold,
    widening,
)

PLAN = ActiveLearningPlan(batch_size=3, validation_size=20, max_rounds=3)
SURE = [(0.9, True)] * 20  # 20 agreeing validation objects at 0.9: (20 + 1) / 22 = 0.955 >= 0.95


def test_confident_objects_are_machine_labeled_and_the_least_confident_go_to_people_first():
    # Given a calibrated model and six remaining objects, two of them above the threshold
    confidences = {10: 0.95, 11: 0.2, 12: 0.5, 13: 0.9, 14: 0.1, 15: 0.7}
    predictions = {key: Prediction(key % 2, value) for key, value in confidences.items()}
    # When round 1 is decided
    decision = decide_round(SURE, list(confidences), predictions, 1, PLAN)
    # Then the threshold is 0.9 and the objects at or above it are machine-labeled
    assert decision.threshold == 0.9
    assert sorted(decision.machine) == [10, 13]
    # And the next human batch is the three least confident, most uncertain first
    assert decision.next_batch == [14, 11, 12]
    assert not decision.last


def test_the_models_own_expectation_is_the_lowest_confidence_whose_objects_average_the_accuracy():
    # Given confidences whose running means from the top are 0.99, 0.97, 0.95, 0.9375, 0.91
    confidences = [0.91, 0.99, 0.95, 0.9, 0.8]
    # When the model's own threshold is taken at 95 % and at 90 %
    # Then it is the lowest confidence whose objects at or above it average that much
    assert own_threshold(confidences, 0.95) == 0.91
    assert own_threshold(confidences, 0.9) == 0.8
    # And a run of equal confidences is taken whole: 0.99, then two at 0.9 (mean 0.93), never one of them
    assert own_threshold([0.9, 0.99, 0.9], 0.93) == 0.9
    assert own_threshold([0.9, 0.99, 0.9], 0.94) == 0.99
    # And nothing reaches it when every object is less sure than the accuracy, nor among no objects
    assert own_threshold([0.94, 0.5], 0.95) is None
    assert own_threshold([], 0.95) is None
    with pytest.raises(ValueError, match="accuracy"):
        own_threshold([0.9], 1.5)


def test_the_models_own_expectation_raises_a_threshold_the_validation_sample_certified():
    # Given 20 agreeing validation objects at 0.6 (a threshold of 0.6) and a queue the model is far less sure
    # of than 95 % below 0.97 (its own expectation: 0.99, 0.98, 0.97 average 0.98; with 0.8 0.935)
    validation = [(0.6, True)] * 20
    confidences = {1: 0.99, 2: 0.98, 3: 0.97, 4: 0.8, 5: 0.7, 6: 0.6}
    predictions = {key: Prediction(0, value) for key, value in confidences.items()}
    own = ActiveLearningPlan(batch_size=3, validation_size=20, max_rounds=3, own_confidence=True)
    # When the round is decided with and without the model's own expectation
    floored = decide_round(validation, list(confidences), predictions, 1, own)
    sample_only = decide_round(validation, list(confidences), predictions, 1, PLAN)
    # Then the sample alone machine-labels all six; with the floor only the three the model expects right
    assert sample_only.threshold == 0.6 and sorted(sample_only.machine) == [1, 2, 3, 4, 5, 6]
    assert sample_only.validated is None
    assert floored.threshold == 0.97 and sorted(floored.machine) == [1, 2, 3]
    # And the decision keeps the sample's threshold it raised, and sends the rest to people, least sure first
    assert floored.validated == 0.6
    assert floored.next_batch == [6, 5, 4]


def test_the_models_own_expectation_never_lowers_a_threshold_and_withholds_one_it_cannot_reach():
    # Given a sample certifying 0.9 and a queue the model expects 95 % right down to 0.85 (mean 0.95)
    sure = {1: 1.0, 2: 1.0, 3: 0.95, 4: 0.85}
    assert own_threshold(sure.values()) == 0.85
    own = ActiveLearningPlan(batch_size=3, validation_size=20, max_rounds=3, own_confidence=True)
    decision = decide_round(SURE, list(sure), {k: Prediction(0, v) for k, v in sure.items()}, 1, own)
    # Then the sample's threshold stands: the object at 0.85 goes to people
    assert decision.threshold == 0.9 and decision.validated is None and sorted(decision.machine) == [1, 2, 3]
    # Given a queue the model expects below 95 % right at every threshold
    unsure = {1: 0.9, 2: 0.8}
    decision = decide_round(SURE, list(unsure), {k: Prediction(0, v) for k, v in unsure.items()}, 1, own)
    # Then nothing is machine-labeled, and the record keeps the sample's threshold
    assert decision.threshold is None and not decision.machine and decision.validated == 0.9


def test_between_one_and_two_batches_left_people_label_half_and_the_next_model_decides_the_rest():
    # Given a round that leaves 7 objects the model is unsure of, with batches of 5 (more than one, fewer
    # than two)
    unsure = {key: Prediction(0, 0.1 + 0.01 * key) for key in range(7)}
    split = ActiveLearningPlan(batch_size=5, validation_size=20, max_rounds=3, split_last_batches=True)
    # When the round is decided with and without splitting
    halved = decide_round(SURE, list(unsure), unsure, 1, split)
    whole = decide_round(
        SURE, list(unsure), unsure, 1, ActiveLearningPlan(batch_size=5, validation_size=20, max_rounds=3)
    )
    # Then a whole batch leaves the next model 2 objects; split, people label the 4 least sure, 3 are left
    assert whole.next_batch == [0, 1, 2, 3, 4] and not whole.last
    assert halved.next_batch == [0, 1, 2, 3] and not halved.last
    # And one batch or less left still goes to people whole, as does two batches or more
    assert decide_round(SURE, [0, 1, 2, 3, 4], unsure, 1, split).next_batch == [0, 1, 2, 3, 4]
    ten = {key: Prediction(0, 0.1) for key in range(10)}
    assert len(decide_round(SURE, list(ten), ten, 1, split).next_batch) == 5


def test_an_uncalibrated_model_labels_nothing_and_people_take_the_next_batch():
    # Given a validation sample on which the model is wrong half the time
    validation = [(0.9, i % 2 == 0) for i in range(40)]
    predictions = {key: Prediction(0, 0.99) for key in range(5)}
    # When the round is decided
    decision = decide_round(validation, list(range(5)), predictions, 1, PLAN)
    # Then no threshold reaches 95 %, nothing is machine-labeled, people get a batch
    assert decision.threshold is None and not decision.machine
    assert decision.next_batch == [0, 1, 2]


def test_objects_without_a_prediction_value_are_never_machine_labeled():
    # Given a confident "no label" prediction
    predictions = {1: Prediction(None, 1.0), 2: Prediction(3, 0.95)}
    # When the round is decided / Then only the object with a label is machine-labeled
    decision = decide_round(SURE, [1, 2], predictions, 1, PLAN)
    assert list(decision.machine) == [2]
    assert decision.next_batch == [1] and decision.last


def test_after_max_rounds_everything_left_goes_to_people_in_one_last_batch():
    # Given five unsure objects at the last allowed round
    predictions = {key: Prediction(0, 0.3) for key in range(5)}
    # When round 3 (= max_rounds) is decided
    decision = decide_round(SURE, list(range(5)), predictions, 3, PLAN)
    # Then every object left is the last batch, beyond the batch size
    assert decision.next_batch == [0, 1, 2, 3, 4] and decision.last


def test_without_a_model_the_next_batch_is_the_queue_head():
    # Given no predictions (no model yet)
    # When the round is decided
    decision = decide_round([], [7, 3, 9, 1], {}, 1, PLAN)
    # Then nothing is machine-labeled and people take the queue's head in queue order
    assert decision.threshold is None and not decision.machine
    assert decision.next_batch == [7, 3, 9] and not decision.last


def test_the_team_statistics_of_the_human_batches_merge_into_one_jobs():
    # Given two batch jobs' statistics of the same two workers
    from gtpipe_shared.labeling_stats import merge_team_statistics

    first = {
        "answers": 30,
        "objects": 10,
        "mean_seconds_per_task": 4.0,
        "active_seconds": 100.0,
        "answer_counts": {"3": 10},
        "workers": [
            {"worker_id": "a", "username": "ann", "answers": 20, "mean_seconds": 3.0, "agreement": 1.0},
            {"worker_id": "b", "username": "bob", "answers": 10, "mean_seconds": 6.0, "agreement": 0.5},
        ],
        "classes": [{"class_name": "cat", "objects": 10, "agreement": 0.9}],
    }
    second = {
        "answers": 10,
        "objects": 5,
        "mean_seconds_per_task": 8.0,
        "active_seconds": 50.0,
        "answer_counts": {"2": 5},
        "workers": [
            {"worker_id": "b", "username": "bob", "answers": 10, "mean_seconds": 8.0, "agreement": 1.0}
        ],
        "classes": [{"class_name": "cat", "objects": 5, "agreement": 0.6}],
    }
    # When they are merged
    team = merge_team_statistics([first, second])
    # Then counts add up and means are weighted by what they are of
    assert team["answers"] == 40 and team["objects"] == 15
    assert team["mean_seconds_per_task"] == 5.0  # (30 * 4 + 10 * 8) / 40
    assert team["answers_per_hour"] == 960.0  # 40 answers in 150 s
    assert team["answer_counts"] == {"2": 5, "3": 10} and team["answers_per_object"] == 2.67
    bob = next(worker for worker in team["workers"] if worker["worker_id"] == "b")
    assert bob["answers"] == 20 and bob["mean_seconds"] == 7.0 and bob["agreement"] == 0.75
    assert [worker["worker_id"] for worker in team["workers"]] == ["a", "b"]  # ann 20, bob 20: by name
    assert team["classes"] == [{"class_name": "cat", "objects": 15, "agreement": 0.8}]


def test_a_round_without_a_threshold_widens_its_validation_sample_by_one_sample():
    # Given a round that reached no threshold on 40 validation objects with 400 objects queued
    # When the widening rule is asked / Then people label 40 more as validation
    assert widening(None, drawn=40, queued=400, validation_size=40) == 40
    # And again at 80, but only up to three samples' worth (120) in all
    assert widening(None, drawn=80, queued=360, validation_size=40) == 40
    assert widening(None, drawn=120, queued=320, validation_size=40) == 0
    # And a sample left short by unanswered objects is topped up to the limit only
    assert widening(None, drawn=100, queued=320, validation_size=40) == 20
    assert widening(None, drawn=80, queued=360, validation_size=40, limit=2) == 0


def test_a_round_with_a_threshold_or_a_small_queue_does_not_widen():
    # Given a round that reached a threshold / Then nothing is added
    assert widening(0.93, drawn=40, queued=400, validation_size=40) == 0
    # Given no threshold but at most two samples' worth queued (machine labels would hardly matter)
    assert widening(None, drawn=40, queued=80, validation_size=40) == 0
    # And just above it the sample widens
    assert widening(None, drawn=40, queued=81, validation_size=40) == 40


def test_the_widening_rule_refuses_sizes_it_cannot_mean():
    # Given a validation size of 0 or a negative count / Then it says so
    with pytest.raises(ValueError, match="validation_size must be >= 1"):
        widening(None, drawn=0, queued=100, validation_size=0)
    with pytest.raises(ValueError, match="counts >= 0"):
        widening(None, drawn=-1, queued=100, validation_size=40)
