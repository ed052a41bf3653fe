"""The label-error finding part of the report (gtpipe:labelErrors; README "Label-error finding"): how many
training objects the out-of-fold predictions flagged, what the review confirmed (a fixed label) or kept,
whether the served model is the retrain on the corrected labels, and the validation accuracy before (Train's
model) and after (Retrain's) the fix (pure: read from the execution state, shown in the Training section by
:mod:`report.page`)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LabelErrorsSummary:
    """The step's figures; ``confirmed``/``kept``/``unreviewed`` are None when nothing went to review;
    ``accuracy_before`` (Train's model) and ``accuracy_after`` (Retrain's; None without a retrain) are
    ``metric``'s values, None when unknown."""

    folds: int
    objects: int
    assessed: int
    flagged: int
    confirmed: int | None = None
    kept: int | None = None
    unreviewed: int | None = None
    metric: str = "validation:accuracy"
    accuracy_before: float | None = None
    accuracy_after: float | None = None

    @property
    def retrained(self) -> bool:
        """Whether the served model is the retrain on the corrected labels (something was flagged)."""
        return self.confirmed is not None


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else 0


def _fraction(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def label_errors_summary(state: Mapping[str, Any]) -> LabelErrorsSummary | None:
    """The summary of the execution state's ``label_errors`` (None without the step; malformed counts read
    as 0, so a report is never lost to them)."""
    part = state.get("label_errors")
    if not isinstance(part, Mapping):
        return None
    flags = _mapping(part.get("flags")) or {}
    summary = _mapping((_mapping(part.get("corrected")) or {}).get("summary"))
    accuracy = _mapping(part.get("accuracy")) or {}
    folds = part.get("folds")
    return LabelErrorsSummary(
        folds=len(folds) if isinstance(folds, list) else 0,
        objects=_count(flags.get("objects")),
        assessed=_count(flags.get("assessed")),
        flagged=_count(flags.get("flagged")),
        confirmed=_count(summary.get("confirmed")) if summary is not None else None,
        kept=_count(summary.get("kept")) if summary is not None else None,
        unreviewed=_count(summary.get("unreviewed")) if summary is not None else None,
        metric=str(accuracy.get("metric") or "validation:accuracy"),
        accuracy_before=_fraction(accuracy.get("before")),
        accuracy_after=_fraction(accuracy.get("after")),
    )


def _accuracy_text(summary: LabelErrorsSummary) -> str:
    """The accuracy sentence: before, after and the change, or what is known of them."""
    before, after = summary.accuracy_before, summary.accuracy_after
    metric = summary.metric
    if before is not None and after is not None:
        return (
            f"{metric} before the fix (Train's model) {before:.4f}, after it (Retrain's) {after:.4f}: "
            f"{after - before:+.4f}."
        )
    if after is not None:
        return f"{metric} after the fix (Retrain's model) {after:.4f}; Train's job reported none."
    if before is not None and summary.retrained:
        return f"{metric} before the fix (Train's model) {before:.4f}; Retrain's job reported none."
    if before is not None:
        return f"{metric} of Train's model {before:.4f}."
    return ""


def label_errors_html(summary: LabelErrorsSummary | None) -> str:
    """The step's table and what became of the model (empty without the step)."""
    if summary is None:
        return ""
    reviewed = summary.retrained
    cells = [
        summary.folds,
        summary.objects,
        summary.assessed,
        summary.flagged,
        *((summary.confirmed, summary.kept, summary.unreviewed) if reviewed else ("-", "-", "-")),
    ]
    heads = ("folds", "training objects", "assessed", "flagged", "confirmed (fixed)", "kept", "undecided")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
    row = "".join(f"<td class=n>{html.escape(f'{c:,}' if isinstance(c, int) else c)}</td>" for c in cells)
    outcome = (
        "The served model was trained again on the reviewed labels (Retrain)."
        if reviewed
        else f"Nothing was flagged among the {summary.objects:,} training objects checked: no review, and "
        "Train's model went on."
    )
    outcome = " ".join(part for part in (outcome, _accuracy_text(summary)) if part)
    return (
        "<h3>Label-error finding</h3>"
        f"<table><thead><tr>{head}</tr></thead><tbody><tr>{row}</tr></tbody></table>"
        '<p class="muted">Each training object predicted by a model trained on the other folds; objects whose '
        "given label the model doubts went to review, where a reviewer fixed the label (confirmed) or kept "
        f"it. {html.escape(outcome)}</p>"
    )
