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


def test_a_retrained_run_shows_the_validation_accuracy_before_and_after_the_fix_and_the_change() -> None:
    # Given a reviewed run whose Train job reported 0.9803 and whose Retrain job 0.9915
    accuracy = {"metric": "validation:accuracy", "before": 0.9803, "after": 0.9915, "change": 0.0112}
    state: dict[str, Any] = {
        "label_errors": {
            "folds": FOLDS,
            "flags": FLAGS,
            "corrected": {"summary": {"flagged": 68, "confirmed": 60, "kept": 7, "unreviewed": 1}},
            "accuracy": accuracy,
        }
    }
    # When summarized and shown
    summary = label_errors_summary(state)
    page = label_errors_html(summary)
    # Then both accuracies are the state's and the page shows them with the change
    assert summary is not None and (summary.accuracy_before, summary.accuracy_after) == (0.9803, 0.9915)
    assert "before the fix (Train&#x27;s model) 0.9803" in page
    assert "after it (Retrain&#x27;s) 0.9915: +0.0112" in page


def test_nothing_flagged_as_the_run_records_it_names_the_objects_checked_and_train_s_accuracy() -> None:
    # Given the state a run leaves when nothing was flagged (NothingFlagged: a null review summary)
    state = {
        "label_errors": {
            "folds": FOLDS,
            "flags": {**FLAGS, "flagged": 0},
            "corrected": {"summary": None},
            "accuracy": {"metric": "validation:accuracy", "before": 0.97, "after": None, "change": None},
        }
    }
    # When summarized and shown
    summary = label_errors_summary(state)
    page = label_errors_html(summary)
    # Then it is not a retrain, and the page says nothing was flagged among the objects checked, with Train's
    # accuracy only
    assert summary == LabelErrorsSummary(3, 1200, 1198, 0, accuracy_before=0.97)
    assert "Nothing was flagged among the 1,200 training objects checked" in page
    assert "validation:accuracy of Train&#x27;s model 0.9700." in page and "after" not in page


def test_without_the_step_or_with_malformed_figures_the_report_goes_on() -> None:
    # Given a run without the step, and one whose counts are not numbers
    assert label_errors_summary({}) is None and label_errors_html(None) == ""
    odd = label_errors_summary(
        {"label_errors": {"folds": "x", "flags": {"flagged": "many"}, "corrected": []}}
    )
    # Then the part is empty, or its counts read as 0
    assert odd == LabelErrorsSummary(0, 0, 0, 0)
    # and an accuracy that is not a number reads as unknown
    bad = label_errors_summary(
        {"label_errors": {"flags": FLAGS, "accuracy": {"before": "high", "after": True}}}
    )
    assert bad is not None and (bad.accuracy_before, bad.accuracy_after) == (None, None)
