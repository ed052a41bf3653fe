"""The report's Training section names the dataset version the run trained on and its warm start (or why it
trained from scratch), from the execution state or, failing that, the run's ledger item."""

from __future__ import annotations

from datetime import UTC, datetime

from report.model import RunData
from report.page import render_page
from report.training_data import training_data, training_data_html

DATASET = {
    "cumulative": True,
    "version": {
        "train_uri": "s3://b/datasets/lf1-abc/train.manifest",
        "train_version_id": "tv-2",
        "validation_version_id": "vv-2",
    },
}
WARM = {"model_uri": "s3://b/models/first-train-0/output/model.tar.gz", "source_run_id": "first"}


def test_the_state_s_split_comes_first_then_the_ledger() -> None:
    # Given the split's answer in the state, and another in the ledger / Then the state's
    state = {"split": {"dataset": DATASET, "warm_start": WARM}}
    assert training_data(state, {"dataset": {"cumulative": False}}) == {
        "dataset": DATASET,
        "warm_start": WARM,
    }
    # and a failed run's state without the split falls back on what the split recorded in the ledger
    assert training_data({}, {"dataset": DATASET, "warm_start": {"reason": "no model serves"}}) == {
        "dataset": DATASET,
        "warm_start": {"reason": "no model serves"},
    }
    assert training_data({}, {}) is None and training_data_html(None) == ""


def test_the_training_section_shows_the_version_and_the_warm_start() -> None:
    # Given a run that warm-started on a cumulative dataset version / When the page is rendered
    data = RunData(run_id="second", outcome="succeeded", task_type="image-classification", class_names=["a"])
    data.training_data = {"dataset": DATASET, "warm_start": WARM}
    page = render_page(data, [], datetime(2026, 1, 1, tzinfo=UTC))
    training = page.split('<section id="training">', 1)[1].split("</section>", 1)[0]
    # Then its Training section names both version ids and the serving model it started from
    assert "<code>tv-2</code>" in training and "<code>vv-2</code>" in training and "cumulative" in training
    assert "trained incrementally from the serving model of run <code>first</code>" in training
    # and a run that could not warm-start says why
    data.training_data = {"dataset": DATASET, "warm_start": {"reason": "the serving model predicts <x>"}}
    page = render_page(data, [], datetime(2026, 1, 1, tzinfo=UTC))
    assert "Trained from scratch: the serving model predicts &lt;x&gt;" in page
