"""The report's figures: :class:`RunData` in, PNG bytes out, in page order (matplotlib's Agg backend).

The figures themselves are drawn by :mod:`report.charts` (aggregates), :mod:`report.validation_images`
(images of the validation set) and :mod:`report.timeline` (the steps), with :mod:`report.figure_kit`'s
helpers. This module decides which figures a run gets and why one is not available: a figure whose data
is missing is returned with ``unavailable`` set to the reason, and no PNG; one that fails to render
becomes unavailable with a warning, never a failed report.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import matplotlib

from report.charts import (
    average_precision,
    class_histogram,
    confusion_matrix,
    has_confidence,
    label_confidence,
    labeling_cost,
    team_agreement,
    training_curves,
)
from report.examples import DISPLAY_MIN_SCORE
from report.figure_kit import RC, short
from report.model import COST, CURVES, EVALUATION, EXAMPLES, LABELS, STEPS, TEAM, RunData
from report.timeline import step_timeline
from report.validation_images import (
    GRID_COLUMNS,
    GRID_ROWS_PER_PAGE,
    classification_rows,
    detection_rows,
    grid_pages,
    sample_detections,
)


@dataclass
class RenderedFigure:
    """One figure of the report: the PNG, or why it is not available.

    ``name`` is the file name under ``figures/``; ``section`` groups figures on the page.
    """

    name: str
    section: str
    title: str
    alt: str
    caption: str
    png: bytes | None = None
    unavailable: str | None = None


Render = Callable[[RunData], bytes]


@dataclass
class _Figures:
    """The figures rendered so far, in page order."""

    data: RunData
    results: list[RenderedFigure] = field(default_factory=list)

    def add(self, spec: RenderedFigure, render: Render | None, reason: str | None) -> None:
        """Render ``spec`` unless ``reason`` says why it is not available; a failure becomes the reason."""
        if reason is not None or render is None:
            spec.unavailable = reason or "not available"
        else:
            try:
                spec.png = render(self.data)
            except Exception as exc:  # one broken figure must not cost the whole report
                spec.unavailable = f"rendering failed ({type(exc).__name__}: {exc})"[:300]
                self.data.warn(f"figure {spec.name} could not be rendered: {type(exc).__name__}: {exc}"[:300])
        self.results.append(spec)


def _unavailable(data: RunData, part: str, fallback: str) -> str:
    return data.unavailable.get(part, fallback)


def render_figures(data: RunData) -> list[RenderedFigure]:
    """Every figure of the report, in page order; failures become ``unavailable`` with a warning."""
    out = _Figures(data)
    with warnings.catch_warnings(), matplotlib.rc_context(RC):
        # Missing glyphs (emoji in class names) draw as boxes; that is not worth a warning per glyph.
        warnings.simplefilter("ignore", UserWarning)
        _add_label_figures(data, out)
        _add_team_and_curves(data, out)
        if data.is_detection:
            _add_detection_evaluation(data, out)
        else:
            _add_classification_evaluation(data, out)
        _add_grids(data, out)
        out.add(
            RenderedFigure(
                "step_timeline.png",
                "steps",
                "Step timeline",
                "Gantt chart of the pipeline steps of this run and their durations",
                "Each step from its start to its end as recorded in the runs ledger; hatched: no end recorded.",
            ),
            step_timeline,
            None
            if any(s.started_at or s.ended_at for s in data.steps)
            else _unavailable(data, STEPS, "no step has a recorded time"),
        )
    return out.results


def _add_label_figures(data: RunData, out: _Figures) -> None:
    """Labels per class, their confidence and the labeling cost."""
    classes = len(data.class_names)
    labels_reason = None if data.labels is not None else _unavailable(data, LABELS, "no labels")
    out.add(
        RenderedFigure(
            "class_histogram.png",
            "labels",
            "Labels per class",
            f"Bar chart of labels per class for {classes} classes, human vs machine labels, linear and log scale",
            "Number of labels per class, largest first; hatched: human labels, plain: machine labels. "
            "The lower panel uses a log scale so that small classes stay visible.",
        ),
        class_histogram,
        labels_reason,
    )
    confidence_reason = labels_reason or (
        None if has_confidence(data) else "the labels carry no confidence values"
    )
    out.add(
        RenderedFigure(
            "label_confidence.png",
            "labels",
            "Mean labeling confidence per class",
            "Bar chart of the mean labeling confidence per class, human vs machine labels",
            "Mean confidence Ground Truth assigned to the labels of each class, for human and machine labels.",
        ),
        label_confidence,
        confidence_reason,
    )
    out.add(
        RenderedFigure(
            "labeling_cost.png",
            "cost",
            "Labeling cost",
            "Bar charts of the labeling cost per iteration (human vs machine) and estimated vs actual cost",
            "Cost of human and machine labels per labeling iteration, and the estimate made before labeling "
            "against the actual cost.",
        ),
        labeling_cost,
        None if data.cost is not None else _unavailable(data, COST, "no labeling cost"),
    )


def _add_team_and_curves(data: RunData, out: _Figures) -> None:
    """The labeling team's agreement and the training curves."""
    team_reason = None if data.team is not None else _unavailable(data, TEAM, "no team statistics")
    if team_reason is None and data.team is not None and not data.team.workers:
        team_reason = "the team statistics list no labeler"
    out.add(
        RenderedFigure(
            "team_agreement.png",
            "team",
            "Agreement per labeler",
            "Horizontal bar chart of each labeler's agreement with the consolidated labels",
            "Share of each labeler's answers (object detection: drawn boxes) that agree with the consolidated "
            "label; the dashed line is the team's mean weighted by answers.",
        ),
        team_agreement,
        team_reason,
    )
    out.add(
        RenderedFigure(
            "training_curves.png",
            "training",
            "Training and validation curves",
            "Line charts of the training job's metrics per epoch, training vs validation",
            "Metrics parsed from the training job's log with the algorithm's metric definitions.",
        ),
        training_curves,
        None if data.curves is not None else _unavailable(data, CURVES, "no training metrics"),
    )


def _evaluation_reason(data: RunData) -> str | None:
    return None if data.evaluation is not None else _unavailable(data, EVALUATION, "no evaluation")


def _add_detection_evaluation(data: RunData, out: _Figures) -> None:
    """Average precision per class and sample detections."""
    evaluation_reason = _evaluation_reason(data)
    out.add(
        RenderedFigure(
            "average_precision.png",
            "evaluation",
            "Average precision per class",
            "Horizontal bar chart of the average precision of each class at IoU 0.5",
            "Average precision (IoU 0.5) of each class on the validation set; gray: no validation boxes.",
        ),
        average_precision,
        evaluation_reason,
    )
    samples_reason = None
    if not any(data.detection_examples[i].image for i in data.detection_samples):
        samples_reason = _unavailable(data, EXAMPLES, "no validation image could be read")
    out.add(
        RenderedFigure(
            "sample_detections.png",
            "evaluation",
            "Sample detections",
            "Validation images with true boxes and the model's detections drawn on them",
            "True boxes (green dashed: found, orange: missed) and detections (blue: correct, red: false "
            "positive) with class names and scores.",
        ),
        sample_detections,
        samples_reason,
    )


def _add_classification_evaluation(data: RunData, out: _Figures) -> None:
    """The confusion matrix."""
    classes = len(data.class_names)
    matrix_reason = _evaluation_reason(data)
    if matrix_reason is None and data.evaluation is not None and not data.evaluation.confusion_matrix:
        matrix_reason = "the evaluation report has no confusion matrix"
    out.add(
        RenderedFigure(
            "confusion_matrix.png",
            "evaluation",
            "Confusion matrix",
            f"Confusion matrix of the validation set, {classes} classes, rows normalized by true class",
            "Share of each true class (rows) predicted as each class (columns); counts are written in the "
            "cells when the matrix is small enough.",
        ),
        confusion_matrix,
        matrix_reason,
    )


def _add_grids(data: RunData, out: _Figures) -> None:
    """The validation grid pages (rendered together: one failure makes one placeholder)."""
    title = "Validation images per class"
    if data.is_detection:
        has_examples = any(data.detection_rows.values())
        legend = (
            "Frame: green = every box of the row's class found, red = misses or false positives. Boxes: green true "
            f"found, orange true missed, blue correct detection, red false positive (score >= {DISPLAY_MIN_SCORE:g})."
        )
        rows = detection_rows(data) if has_examples else []
    else:
        has_examples = bool(data.classification_examples)
        legend = (
            "Row: true class. Caption: predicted class and confidence. Frame: green = correct, red = wrong."
        )
        rows = classification_rows(data) if has_examples else []
    if data.examples_note:
        legend += " " + data.examples_note + "."
    caption = (
        f"Up to {GRID_COLUMNS} validation images per class (wrong predictions first), "
        f"{GRID_ROWS_PER_PAGE} classes per image."
    )
    if not rows:
        out.add(
            RenderedFigure(
                "validation_grid_01.png", "examples", title, "Grid of validation images per class", caption
            ),
            None,
            _unavailable(data, EXAMPLES, "no validation images with predictions"),
        )
        return
    try:
        pages = grid_pages(rows, title, legend)
    except Exception as exc:
        data.warn(f"validation grid could not be rendered: {type(exc).__name__}: {exc}"[:300])
        out.add(
            RenderedFigure(
                "validation_grid_01.png", "examples", title, "Grid of validation images per class", caption
            ),
            None,
            f"rendering failed ({type(exc).__name__})",
        )
        return
    for number, png in enumerate(pages, start=1):
        first = (number - 1) * GRID_ROWS_PER_PAGE
        names = ", ".join(short(n, 30) for n in data.class_names[first : first + GRID_ROWS_PER_PAGE])
        spec = RenderedFigure(
            f"validation_grid_{number:02d}.png",
            "examples",
            title + (f" ({number} of {len(pages)})" if len(pages) > 1 else ""),
            f"Grid of validation images with correct and incorrect predictions marked, classes: {names}",
            caption,
            png=png,
        )
        out.results.append(spec)
