"""The report's label-error finding part (report.label_errors): figures from the execution state."""

from __future__ import annotations

from typing import Any

from report.label_errors import LabelErrorsSummary, label_errors_html, label_errors_summary

FOLDS = [{"fold": 0}, {"fold": 1}, {"fold": 2}]
FLAGS = {"objects": 1200, "assessed": 1198, "flagged": 68}


def test_a_reviewed_run_shows_flagged_confirmed_and_kept_and_the_retrain() -> None:
    # Given a run whose flagged objects were reviewed and corrected
    state: dict[str, Any] = {
        "label_errors": {
            "folds": FOLDS,
            "flags": FLAGS,
            "corrected": {"summary": {"flagged": 68, "confirmed": 60, "kept": 7, "unreviewed": 1}},
        }
    }
    # When summarized and shown
    summary = label_errors_summary(state)
    # Then the figures are the state's, the served model is the retrain, and the table shows them
    assert summary == LabelErrorsSummary(3, 1200, 1198, 68, 60, 7, 1)
    page = label_errors_html(summary)
    assert summary is not None and summary.retrained
    assert "<td class=n>1,200</td>" in page and "<td class=n>60</td>" in page and "Retrain" in page


def test_nothing_flagged_says_train_s_model_went_on() -> None:
    # Given a run whose predictions flagged nothing (no review, no corrected manifest)
    summary = label_errors_summary({"label_errors": {"folds": FOLDS, "flags": {**FLAGS, "flagged": 0}}})
    # Then no review figures, and the page says Train's model went on
    assert summary is not None and not summary.retrained and summary.confirmed is None
    assert "Nothing was flagged" in label_errors_html(summary)


def test_without_the_step_or_with_malformed_figures_the_report_goes_on() -> None:
    # Given a run without the step, and one whose counts are not numbers
    assert label_errors_summary({}) is None and label_errors_html(None) == ""
    odd = label_errors_summary(
        {"label_errors": {"folds": "x", "flags": {"flagged": "many"}, "corrected": []}}
    )
    # Then the part is empty, or its counts read as 0
    assert odd == LabelErrorsSummary(0, 0, 0, 0)
