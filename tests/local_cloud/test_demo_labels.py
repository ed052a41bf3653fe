"""The demo's lines about a run's labels: counters, human answers and the saving (fast, no cloud)."""

from __future__ import annotations

from local.drivers.demo_labels import configured_workers_per_object, label_lines


def test_builtin_run_with_machine_labels_and_adaptive_answers_shows_the_saving() -> None:
    # given a builtin run: 800 objects, 300 labeled by people in 540 measured answers, 500 by the machine
    run = {
        "label_counters": {"human": 300, "machine": 500, "total": 800, "failed": 0},
        "labeling_team": {"answers": 540, "objects": 300},
        "labeling_cost": {"answers": 999},
    }
    # when the demo describes it, 3 workers per object configured
    lines = label_lines(run, 3)
    # then the counters, the measured answers (the team's, not the cost's) and the share saved of 2,400
    assert lines == [
        "labels (runs ledger): 800 objects, 300 labeled by people, 500 by the machine",
        "human answers: 540 (1.80 per human-labeled object)",
        "people labeling everything: 2400 answers (800 objects x 3); saved 1860 answers (77.5%)",
    ]


def test_run_without_measured_answers_counts_workers_per_object_for_each_human_label() -> None:
    # given an emulated Ground Truth run: counters only
    run = {"label_counters": {"human": 40, "machine": 0, "total": 40}}
    # when described with 3 workers per object
    lines = label_lines(run, 3)
    # then each human-labeled object counts 3 answers, and nothing was saved
    assert lines[1] == "human answers: 120 (3.00 per human-labeled object, 3 each as Ground Truth asks)"
    assert lines[2].endswith("saved 0 answers (0.0%)")


def test_measured_answers_fall_back_to_the_labeling_cost_record() -> None:
    # given a builtin run whose team statistics are missing but whose cost record counted the answers
    run = {"label_counters": {"human": 10, "total": 10}, "labeling_cost": {"answers": 24}}
    # when described
    lines = label_lines(run, 3)
    # then those answers are used (no machine counter: 0)
    assert lines[0].endswith("10 labeled by people, 0 by the machine")
    assert lines[1] == "human answers: 24 (2.40 per human-labeled object)"
    assert lines[2].endswith("saved 6 answers (20.0%)")


def test_a_run_without_counters_says_so() -> None:
    # given a run item without label counters (e.g. labels came with the manifest)
    # when described
    lines = label_lines({"labeling_team": {"answers": "many"}}, 3)
    # then one line says the ledger has none
    assert lines == ["labels: the runs ledger has no label counters for this run"]


def test_workers_per_object_come_from_the_context_or_the_configuration_default() -> None:
    # given contexts with and without gtpipe:labeling.workersPerObject (and a wrong type)
    # when read
    # then the configured value, else the configuration's default (3)
    assert configured_workers_per_object({"gtpipe:labeling": {"workersPerObject": 5}}) == 5
    assert configured_workers_per_object({}) == 3
    assert configured_workers_per_object({"gtpipe:labeling": {"workersPerObject": True}}) == 3
