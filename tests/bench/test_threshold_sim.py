"""The threshold simulation (bench.threshold_sim): the loop's rules replayed on dumped model rounds, here on
pools made up for the case."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench import threshold_sim

LOOP = "verified, credibility 0.65, widening, own expectation (the builtin loop)"
SAMPLE_ONLY = "verified, credibility 0.65, widening"
SURE = [{"predicted": "one", "confidence": 0.99, "truth": "one"}] * 300


def simulate(tmp_path: Path, reuse: list[dict[str, object]], control: list[dict[str, object]]) -> dict:
    paths = []
    for name, objects in (("reuse", reuse), ("control", control)):
        path = tmp_path / name / "digits-b-1.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"objects": objects}))
        paths += [f"--{name}", str(path)]
    return threshold_sim.main([*paths, "--trials", "40", "--batch", "50"])


def figure(line: str, name: str) -> str:
    """The value after ``name`` in a rule's line (``answers median B 40, C 40``: name "C" -> "40")."""
    match = re.search(rf"{re.escape(name)} (\d+)%?", line)
    assert match, (name, line)
    return match.group(1)


def test_a_sure_and_right_model_machine_labels_everything_but_the_validation_sample(tmp_path: Path) -> None:
    # Given reuse and control models right about all 300 objects at confidence 0.99
    figures = simulate(tmp_path, SURE, SURE)
    # Then under the builtin loop's rule people answer only the validation sample (40 of 300, and again
    # where one slipped) and the control's training batch (50), all right
    answers = figures[LOOP].split("answers median")[1]
    assert 40 <= int(figure(answers, "B")) <= 44 and 90 <= int(figure(answers, "C")) <= 94
    assert "B labels nothing 0%" in figures[LOOP]
    assert "accuracy >= 0.95: B 100%, C 100%" in figures[LOOP]


def test_a_model_expecting_at_most_90_percent_machine_labels_nothing_under_the_loops_rule(
    tmp_path: Path,
) -> None:
    # Given a control model right about every object but never more than 90 % sure (0.60 .. 0.90)
    control = [{"predicted": "one", "confidence": 0.6 + 0.001 * i, "truth": "one"} for i in range(300)]
    figures = simulate(tmp_path, SURE, control)
    # Then the sample alone certifies a threshold and machine-labels; the model's own expectation never
    # reaches 95 %, so under the loop's rule people label every control object (what the floor can cost)
    assert int(figure(figures[SAMPLE_ONLY], "C")) < 300 - 40
    assert int(figure(figures[LOOP].split("answers median")[1], "C")) >= 300


def test_a_calibrated_80_percent_model_lucky_in_its_sample_no_longer_lowers_the_labels_accuracy(
    tmp_path: Path,
) -> None:
    # Given a control model as right as it is sure (0.70 .. 0.99, its surest objects right, then every
    # fifth one wrong below 0.9): a sample can certify a threshold where the labels above it are < 95 % right
    control = [
        {
            "predicted": "one",
            "confidence": 0.99 - 0.001 * i,
            "truth": "two" if i > 90 and i % 5 == 0 else "one",
        }
        for i in range(290)
    ]
    figures = simulate(tmp_path, SURE, control)
    # Then the sample alone sometimes leaves the control's labels below 95 % right; with the model's own
    # expectation they always are
    assert int(figure(figures[SAMPLE_ONLY].split("accuracy >= 0.95:")[1], "C")) < 100
    assert int(figure(figures[LOOP].split("accuracy >= 0.95:")[1], "C")) == 100
