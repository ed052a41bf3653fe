"""The report's figures: :class:`RunData` in, PNG bytes out (matplotlib's Agg backend, no display).

Every figure is a separate PNG of at most ``MAX_WIDTH_PX`` x ``MAX_HEIGHT_PX`` pixels. Sizes scale with
the number of classes (1 to 50 stay readable: long names are shortened, dense annotations dropped) and
empty classes are shown as empty, not hidden. A figure whose data is missing is returned with
``unavailable`` set to the reason, and no PNG. Class names are drawn literally (``$`` is no math).

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot): no global figure registry to
leak between invocations of a warm Lambda.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import textwrap
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# Lambda's file system is read-only except /tmp: matplotlib's cache must live there.
os.environ.setdefault("MPLCONFIGDIR", os.path.join(tempfile.gettempdir(), "matplotlib"))

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, NullFormatter
from PIL import Image, ImageDraw

from report import curves as curve_parsing
from report.examples import DISPLAY_MIN_SCORE, class_errors, match_boxes
from report.model import (
    COST,
    CURVES,
    EVALUATION,
    EXAMPLES,
    LABELS,
    STEPS,
    TEAM,
    ClassificationExample,
    DetectionExample,
    RunData,
    StepTiming,
)

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

DPI = 100
MAX_WIDTH_PX = 1600
MAX_HEIGHT_PX = 1200
NAME_LIMIT = 22
GRID_ROWS_PER_PAGE = 8
GRID_COLUMNS = 8
CELL_PX = 96
CELL_TEXT_PX = 22
GRID_LEFT_PX = 190
GRID_TOP_PX = 56
FRAME_PX = 5
ANNOTATE_MATRIX_UP_TO = 12

GREEN = "#2e7d32"
RED = "#c62828"
ORANGE = "#ef6c00"
BLUE = "#1565c0"
GRAY = "#9e9e9e"
HUMAN_COLOR = "#5c6bc0"
MACHINE_COLOR = "#ffb74d"
RC: dict[RcKeyType, Any] = {
    "text.parse_math": False,
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "figure.facecolor": "white",
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


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


def short(name: str, limit: int = NAME_LIMIT) -> str:
    """A class name for a figure: one line, at most ``limit`` characters (``…`` marks a cut)."""
    one_line = _CONTROL.sub(" ", name).strip() or "(blank)"
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _figure(width_in: float, height_in: float, *, constrained: bool = True) -> Figure:
    width_in = _clamp(width_in, 2.0, MAX_WIDTH_PX / DPI)
    height_in = _clamp(height_in, 2.0, MAX_HEIGHT_PX / DPI)
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained" if constrained else None)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _tick_size(count: int) -> float:
    return 9 if count <= 12 else 8 if count <= 25 else 6.5


def _human_machine_bars(ax: Any, positions: Any, human: Any, machine: Any, *, legend: bool = True) -> None:
    """Machine counts stacked on hatched human counts, in the report's two colours."""
    style = {"edgecolor": "black", "linewidth": 0.4}
    ax.bar(positions, human, color=HUMAN_COLOR, hatch="//", label="human" if legend else None, **style)
    ax.bar(
        positions, machine, bottom=human, color=MACHINE_COLOR, label="machine" if legend else None, **style
    )


def _class_axis(ax: object, names: Sequence[str]) -> None:
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    positions = np.arange(len(names))
    rotate = len(names) > 6 or max((len(n) for n in names), default=0) > 8
    ax.set_xticks(
        positions,
        [short(n) for n in names],
        rotation=90 if rotate else 0,
        fontsize=_tick_size(len(names)),
    )
    ax.set_xlim(-0.6, len(names) - 0.4)


# -- 1 and 2: labels ------------------------------------------------------------------------------


def _label_order(data: RunData) -> list[int]:
    assert data.labels is not None
    per_class = data.labels.per_class
    return sorted(range(len(per_class)), key=lambda i: (-per_class[i].total, i))


def class_histogram(data: RunData) -> bytes:
    """Labels per class, human vs machine, linear (top) and log (bottom) scale, largest class first."""
    labels = data.labels
    assert labels is not None
    order = _label_order(data)
    names = [data.class_name(i) for i in order]
    human = np.array([labels.per_class[i].human for i in order], dtype=float)
    machine = np.array([labels.per_class[i].machine for i in order], dtype=float)
    n = len(order)
    figure = _figure(4 + 0.26 * n, 8.5)
    axes = figure.subplots(2, 1)
    positions = np.arange(n)
    total_human, total_machine = int(human.sum()), int(machine.sum())
    for ax, log in zip(axes, (False, True), strict=True):
        _human_machine_bars(ax, positions, human, machine)
        _class_axis(ax, names)
        ax.set_ylabel(f"labeled {labels.unit}")
        if log:
            ax.set_yscale("log", nonpositive="clip")
            ax.set_ylim(0.8, max(2.0, float((human + machine).max()) * 2))
            # The default log formatter writes math text, which is off (class names are literal).
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_title("Log scale (small classes stay visible)")
        else:
            ax.set_ylim(0, max(1.0, float((human + machine).max()) * 1.15))
            ax.set_title(
                f"Labels per class: {total_human + total_machine} {labels.unit} "
                f"({total_human} human, {total_machine} machine)"
            )
            ax.legend(loc="upper right")
        for x, total in zip(positions, human + machine, strict=True):
            if total == 0:
                ax.annotate(
                    "0", (x, 0), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7, color=RED
                )
    return _png(figure)


def label_confidence(data: RunData) -> bytes:
    """Mean labeling confidence per class, human vs machine (no bar: no such labels)."""
    labels = data.labels
    assert labels is not None
    order = _label_order(data)
    names = [data.class_name(i) for i in order]
    n = len(order)
    figure = _figure(4 + 0.26 * n, 4.8)
    ax = figure.subplots()
    positions = np.arange(n)
    width = 0.4
    for offset, human, color, hatch, label in (
        (-width / 2, True, HUMAN_COLOR, "//", "human"),
        (width / 2, False, MACHINE_COLOR, None, "machine"),
    ):
        means = [labels.per_class[i].mean_confidence(human) for i in order]
        values = [m if m is not None else 0.0 for m in means]
        ax.bar(
            positions + offset,
            values,
            width,
            color=color,
            hatch=hatch,
            edgecolor="black",
            linewidth=0.4,
            label=label,
        )
        if n <= 20:
            for x, mean in zip(positions + offset, means, strict=True):
                if mean is None:
                    ax.annotate(
                        "none",
                        (x, 0),
                        xytext=(0, 2),
                        textcoords="offset points",
                        ha="center",
                        fontsize=6,
                        rotation=90,
                    )
    _class_axis(ax, names)
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("mean confidence")
    ax.set_title("Mean labeling confidence per class")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(figure)


def _has_confidence(data: RunData) -> bool:
    assert data.labels is not None
    return any(c.human_confidence_count or c.machine_confidence_count for c in data.labels.per_class)


# -- 3: cost --------------------------------------------------------------------------------------


def labeling_cost(data: RunData) -> bytes:
    """Cost per iteration (human vs machine, stacked) and estimated vs actual totals."""
    cost = data.cost
    assert cost is not None
    figure = _figure(13, 5.2)
    left, right = figure.subplots(1, 2, width_ratios=[max(2, len(cost.iterations)), 2])
    positions = np.arange(len(cost.iterations))
    human = np.array([row.human_usd for row in cost.iterations])
    machine = np.array([row.machine_usd for row in cost.iterations])
    _human_machine_bars(left, positions, human, machine)
    for x, row in zip(positions, cost.iterations, strict=True):
        total = row.human_usd + row.machine_usd
        left.annotate(
            f"${total:,.2f}\n{row.human_objects} h / {row.machine_objects} m",
            (x, total),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=7,
        )
    if not cost.iterations:
        left.text(
            0.5,
            0.5,
            "No per-iteration counts: the labeling job's output was not found",
            ha="center",
            va="center",
            transform=left.transAxes,
            color=GRAY,
        )
    left.set_xticks(positions, [f"iter {row.iteration}" for row in cost.iterations])
    left.set_ylabel("US dollars")
    top = float((human + machine).max()) if len(positions) else 0.0
    left.set_ylim(0, max(0.01, top) * 1.3)
    left.set_title(f"Labeling cost per iteration: ${human.sum():,.2f} human, ${machine.sum():,.2f} machine")
    if cost.iterations:
        left.legend(loc="upper left")
    note = cost.attribution_note or ""
    prices = (
        f"${cost.human_object_usd:.3f} per human-labeled object ({cost.workers_per_object} workers), "
        f"${cost.machine_object_usd:.3f} per machine label"
    )
    left.set_xlabel(prices + ("\n" + note if note else ""), fontsize=8)

    bars = ["estimated", "actual"]
    right.bar([0], [cost.estimated_usd or 0.0], color=GRAY, edgecolor="black", linewidth=0.4)
    actual_human, actual_machine = cost.actual_human_usd or 0.0, cost.actual_machine_usd or 0.0
    _human_machine_bars(right, [1], [actual_human], [actual_machine], legend=False)
    tallest = max(cost.estimated_usd or 0.0, actual_human + actual_machine, 0.01)
    right.annotate(
        f"${cost.estimated_usd:,.2f}" if cost.estimated_usd is not None else "no estimate",
        (0, cost.estimated_usd or 0.0),
        xytext=(0, 3),
        textcoords="offset points",
        ha="center",
    )
    actual_total = cost.actual_total_usd
    right.annotate(
        f"${actual_total:,.2f}" if actual_total is not None else "unknown",
        (1, actual_human + actual_machine),
        xytext=(0, 3),
        textcoords="offset points",
        ha="center",
    )
    if cost.budget_usd is not None:
        right.axhline(cost.budget_usd, color=RED, linestyle="--", label=f"budget ${cost.budget_usd:,.2f}")
        right.legend(loc="upper right")
        tallest = max(tallest, cost.budget_usd)
    right.set_xticks([0, 1], bars)
    right.set_ylim(0, tallest * 1.25)
    right.set_title("Estimated vs actual")
    right.set_xlabel(
        "\n".join(
            filter(
                None, [f"estimate: {cost.estimate_note}" if cost.estimate_note else None, cost.actual_note]
            )
        ),
        fontsize=7,
    )
    return _png(figure)


# -- 4: training curves ---------------------------------------------------------------------------

_FAMILY_ORDER = ("accuracy", "mAP", "top_k_accuracy", "loss", "cross_entropy", "smooth_l1")


def training_curves(data: RunData) -> bytes:
    """One panel per metric family (accuracy, loss, mAP, ...) with its train and validation series."""
    curves = data.curves
    assert curves is not None
    families: dict[str, list[str]] = {}
    for name in curves.series:
        families.setdefault(curve_parsing.metric_family(name)[0], []).append(name)
    order = sorted(families, key=lambda f: (_FAMILY_ORDER.index(f) if f in _FAMILY_ORDER else 99, f))[:6]
    columns = min(3, len(order))
    rows = (len(order) + columns - 1) // columns
    figure = _figure(5 * columns, 4 * rows)
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    averaged_any = False
    for ax, family in zip(axes, order, strict=False):
        for name in sorted(families[family]):
            points = curves.series[name]
            xs, ys, averaged = curve_parsing.per_epoch(points)
            averaged_any |= averaged
            split = curve_parsing.metric_family(name)[1] or name
            style = "--" if split == "train" else "-"
            ax.plot(xs, ys, style, marker="o", markersize=3 if len(xs) > 20 else 5, label=short(split, 30))
        xlabel = (
            "epoch"
            if all(p.epoch is not None for n in families[family] for p in curves.series[n])
            else "log record"
        )
        ax.set_xlabel("final value" if curves.source == "final" else xlabel)
        ax.set_title(short(family, 40))
        ax.grid(True, alpha=0.3)
        ax.legend()
    for ax in axes[len(order) :]:
        ax.set_visible(False)
    title = f"Training job {curves.job_name}"
    if curves.source == "final":
        title += f" ({curves.note or 'final values only'})"
    elif averaged_any:
        title += " (values logged several times per epoch are averaged)"
    figure.suptitle(short(title, 160))
    return _png(figure)


# -- 5: evaluation --------------------------------------------------------------------------------


def confusion_matrix(data: RunData) -> bytes:
    """Row-normalized confusion matrix (true class rows); counts annotated when the matrix is small."""
    evaluation = data.evaluation
    assert evaluation is not None and evaluation.confusion_matrix is not None
    matrix = np.array(evaluation.confusion_matrix, dtype=float)
    n = matrix.shape[0]
    if matrix.ndim != 2 or matrix.shape[1] != n:
        raise ValueError(f"confusion matrix is {matrix.shape}, not square")
    given = evaluation.confusion_labels or data.class_names
    labels = [given[i] if i < len(given) else data.class_name(i) for i in range(n)]
    rows = matrix.sum(axis=1, keepdims=True)
    normalized = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    side = _clamp(3.5 + 0.2 * n, 5.5, 11.5)
    figure = _figure(side + 1.8, side)
    ax = figure.subplots()
    image = ax.imshow(normalized, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    ticks = np.arange(n)
    tick_labels = [short(name) for name in labels]
    ax.set_xticks(ticks, tick_labels, rotation=90, fontsize=_tick_size(n))
    row_labels = [f"{label} ({int(rows[i, 0])})" for i, label in enumerate(tick_labels)]
    ax.set_yticks(ticks, row_labels, fontsize=_tick_size(n))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (validation images)")
    if n <= ANNOTATE_MATRIX_UP_TO:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    color = "white" if normalized[i, j] > 0.5 else "black"
                    ax.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center", fontsize=8, color=color)
    ax.set_title(
        f"Confusion matrix: {evaluation.metric_name} {evaluation.metric_value:.1%} on {evaluation.count} images"
        + (f", {evaluation.missing} without prediction" if evaluation.missing else "")
    )
    return _png(figure)


def average_precision(data: RunData) -> bytes:
    """Per-class average precision (IoU 0.5) as horizontal bars, with mAP and the quality threshold."""
    evaluation = data.evaluation
    assert evaluation is not None
    names = list(data.class_names) or list(evaluation.per_class)
    rows = [(name, evaluation.per_class.get(name, {})) for name in names]
    rows.sort(key=lambda row: -float(row[1].get("ap", 0.0) or 0.0))
    n = len(rows)
    figure = _figure(10, 1.6 + 0.28 * n)
    ax = figure.subplots()
    positions = np.arange(n)
    values = [float(row[1].get("ap", 0.0) or 0.0) for row in rows]
    supports = [int(row[1].get("support", 0) or 0) for row in rows]
    colors = [BLUE if support else GRAY for support in supports]
    ax.barh(positions, values, color=colors)
    ax.set_yticks(positions, [short(name) for name, _ in rows], fontsize=_tick_size(n))
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15)
    for y, value, support in zip(positions, values, supports, strict=True):
        text = f"{value:.2f} ({support} boxes)" if support else "no validation boxes"
        ax.annotate(text, (value, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    ax.axvline(
        evaluation.metric_value, color=BLUE, linestyle="--", label=f"mAP {evaluation.metric_value:.3f}"
    )
    if evaluation.quality_threshold is not None:
        ax.axvline(
            evaluation.quality_threshold,
            color=RED,
            linestyle=":",
            label=f"threshold {evaluation.quality_threshold:g}",
        )
    ax.set_xlabel("average precision at IoU 0.5")
    ax.set_title(f"Average precision per class ({evaluation.count} validation images)")
    ax.legend(loc="lower right")
    return _png(figure)


def team_agreement(data: RunData) -> bytes:
    """Agreement with the consolidated labels per labeler as horizontal bars (most answers first), with
    the team's mean; gray: no answer that could be compared."""
    team = data.team
    assert team is not None
    workers = team.workers
    n = len(workers)
    figure = _figure(10, 1.6 + 0.28 * n)
    ax = figure.subplots()
    positions = np.arange(n)
    values = [w.agreement if w.agreement is not None else 0.0 for w in workers]
    colors = [BLUE if w.agreement is not None else GRAY for w in workers]
    ax.barh(positions, values, color=colors)
    ax.set_yticks(positions, [short(w.username, 30) for w in workers], fontsize=_tick_size(n))
    ax.invert_yaxis()
    ax.set_xlim(0, 1.25)
    for y, worker in zip(positions, workers, strict=True):
        share = f"{worker.agreement:.2f}" if worker.agreement is not None else "nothing to compare"
        text = f"{share} ({worker.answers} answers)"
        ax.annotate(
            text,
            (worker.agreement or 0.0, y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    compared = [(w.agreement, w.answers) for w in workers if w.agreement is not None]
    if compared:
        weighted = sum(a * c for a, c in compared) / max(sum(c for _, c in compared), 1)
        ax.axvline(weighted, color=ORANGE, linestyle="--", label=f"team {weighted:.3f} (weighted by answers)")
        ax.legend(loc="lower right")
    unit = "boxes" if data.is_detection else "answers"
    ax.set_xlabel(f"share of {unit} agreeing with the consolidated labels")
    ax.set_title(f"Agreement per labeler ({team.answers} answers on {team.objects} objects)")
    return _png(figure)


def _draw_detection_axes(ax: object, example: DetectionExample, data: RunData) -> None:
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes) and example.image is not None
    width, height = example.image.size
    ax.imshow(np.asarray(example.image))
    match = match_boxes(example.truth, example.detections)
    for index, (class_id, (x0, y0, x1, y1)) in enumerate(example.truth):
        found = index in match.matched_truth
        ax.add_patch(
            Rectangle(
                (x0 * width, y0 * height),
                (x1 - x0) * width,
                (y1 - y0) * height,
                fill=False,
                edgecolor=GREEN if found else ORANGE,
                linewidth=1.5 if found else 2.5,
                linestyle="--" if found else "-",
            )
        )
        ax.text(
            x0 * width,
            y1 * height,
            short(data.class_name(class_id), 14),
            color="white",
            fontsize=6,
            va="top",
            bbox={"facecolor": GREEN if found else ORANGE, "pad": 1, "linewidth": 0},
        )
    for index in sorted(match.drawn_detections):
        class_id, score, (x0, y0, x1, y1) = (example.detections or [])[index]
        hit = index in match.matched_detections
        color = BLUE if hit else RED
        ax.add_patch(
            Rectangle(
                (x0 * width, y0 * height),
                (x1 - x0) * width,
                (y1 - y0) * height,
                fill=False,
                edgecolor=color,
                linewidth=1.5,
            )
        )
        ax.text(
            x0 * width,
            y0 * height,
            f"{short(data.class_name(class_id), 14)} {score:.2f}",
            color="white",
            fontsize=6,
            va="bottom",
            bbox={"facecolor": color, "pad": 1, "linewidth": 0},
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(short(example.source_ref.rsplit("/", 1)[-1], 36), fontsize=7)


_DETECTION_LEGEND = [
    Patch(edgecolor=GREEN, facecolor="none", linestyle="--", label="true box, found"),
    Patch(edgecolor=ORANGE, facecolor="none", linewidth=2.5, label="true box, missed"),
    Patch(edgecolor=BLUE, facecolor="none", label="detection, correct"),
    Patch(edgecolor=RED, facecolor="none", label="detection, false positive"),
]


def sample_detections(data: RunData) -> bytes:
    """Up to 8 validation images with true boxes and detections (score >= DISPLAY_MIN_SCORE)."""
    examples = [
        data.detection_examples[i] for i in data.detection_samples if data.detection_examples[i].image
    ]
    columns = min(4, len(examples))
    rows = (len(examples) + columns - 1) // columns
    aspect = sum(e.image.height / e.image.width for e in examples if e.image) / len(examples)
    figure = _figure(4 * columns, (4 * aspect + 0.5) * rows + 0.9)
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax, example in zip(axes, examples, strict=False):
        _draw_detection_axes(ax, example, data)
    for ax in axes[len(examples) :]:
        ax.set_visible(False)
    figure.legend(handles=_DETECTION_LEGEND, loc="outside lower center", ncols=4)
    figure.suptitle(
        f"Sample detections on validation images (detections with score >= {DISPLAY_MIN_SCORE:g})"
    )
    return _png(figure)


# -- 6: grids of validation images ----------------------------------------------------------------


def fit(image: Image.Image, size: int) -> Image.Image:
    """``image`` scaled to fit ``size`` x ``size``, enlarged too (small images stay crisp: nearest)."""
    scale = min(size / image.width, size / image.height)
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.BICUBIC
    return image.resize((width, height), resample)


def _cell_image(image: Image.Image | None, frame: str) -> np.ndarray:
    """A CELL_PX square: the image centred on white inside a colored frame."""
    cell = Image.new("RGB", (CELL_PX, CELL_PX), frame)
    inner = CELL_PX - 2 * FRAME_PX
    canvas = Image.new("RGB", (inner, inner), "white")
    if image is not None:
        picture = fit(image, inner)
        canvas.paste(picture, ((inner - picture.width) // 2, (inner - picture.height) // 2))
    else:
        ImageDraw.Draw(canvas).line([(0, 0), (inner, inner)], fill=GRAY, width=2)
    cell.paste(canvas, (FRAME_PX, FRAME_PX))
    return np.asarray(cell)


@dataclass
class GridCell:
    """One tile of a grid page: image, frame color, caption and caption color."""

    image: Image.Image | None
    frame: str
    caption: str
    caption_color: str


@dataclass
class GridRow:
    """One class row: its label, the tiles and a note when the class has no images."""

    label: str
    cells: list[GridCell]
    empty_note: str | None = None


def grid_page(title: str, rows: Sequence[GridRow], legend: str) -> bytes:
    """A page of class rows laid out in exact pixels: one image with the tiles, text around it."""
    row_px = CELL_PX + CELL_TEXT_PX
    width = GRID_LEFT_PX + GRID_COLUMNS * (CELL_PX + 6) + 10
    legend_lines = textwrap.wrap(legend, width=150) or [""]
    grid_top = GRID_TOP_PX + 13 * (len(legend_lines) - 1)
    height = grid_top + len(rows) * row_px + 30
    mosaic = np.full((height, width, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        top = grid_top + r * row_px
        for c, cell in enumerate(row.cells[:GRID_COLUMNS]):
            left = GRID_LEFT_PX + c * (CELL_PX + 6)
            mosaic[top : top + CELL_PX, left : left + CELL_PX] = _cell_image(cell.image, cell.frame)
    figure = _figure(width / DPI, height / DPI, constrained=False)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.imshow(mosaic, extent=(0, width, height, 0), interpolation="nearest")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    ax.text(10, 20, short(title, 150), fontsize=12, weight="bold", va="center")
    ax.text(10, 36, "\n".join(legend_lines), fontsize=8, va="top", color="#424242", linespacing=1.2)
    for r, row in enumerate(rows):
        top = grid_top + r * row_px
        ax.text(10, top + CELL_PX / 2, row.label, fontsize=8, va="center", wrap=False)
        if row.empty_note:
            ax.text(GRID_LEFT_PX, top + CELL_PX / 2, row.empty_note, fontsize=8, va="center", color=GRAY)
        for c, cell in enumerate(row.cells[:GRID_COLUMNS]):
            left = GRID_LEFT_PX + c * (CELL_PX + 6)
            ax.text(
                left + CELL_PX / 2,
                top + CELL_PX + 3,
                cell.caption,
                fontsize=6.5,
                ha="center",
                va="top",
                color=cell.caption_color,
            )
    return _png(figure)


def classification_rows(data: RunData) -> list[GridRow]:
    """One row per class: its validation images, wrong predictions first (red frame), correct (green)."""
    by_class: dict[int, list[ClassificationExample]] = {}
    for example in data.classification_examples:
        by_class.setdefault(example.true_class, []).append(example)
    rows = []
    for class_id, name in enumerate(data.class_names):
        examples = by_class.get(class_id, [])
        cells = []
        for example in examples:
            if example.predicted_class is None:
                cells.append(GridCell(example.image, GRAY, "no prediction", GRAY))
                continue
            color = GREEN if example.correct else RED
            confidence = f" {example.confidence:.2f}" if example.confidence is not None else ""
            cells.append(
                GridCell(
                    example.image,
                    color,
                    short(data.class_name(example.predicted_class), 11) + confidence,
                    color,
                )
            )
        wrong = sum(1 for e in examples if e.predicted_class is not None and not e.correct)
        unanswered = sum(1 for e in examples if e.predicted_class is None)
        label = f"{short(name, 20)}\n{len(examples)} shown, {wrong} wrong"
        if unanswered:
            label += f"\n{unanswered} without prediction"
        rows.append(GridRow(label, cells, None if examples else "no validation images of this class"))
    return rows


def detection_rows(data: RunData) -> list[GridRow]:
    """One row per class: images showing it, drawn with that class's boxes only, errors first."""
    rows = []
    for class_id, name in enumerate(data.class_names):
        cells = []
        for index in data.detection_rows.get(class_id, []):
            example = data.detection_examples[index]
            misses, false_positives = class_errors(example.truth, example.detections, class_id)
            image = _boxes_for_class(example, class_id)
            if example.detections is None:
                cells.append(GridCell(image, GRAY, "no prediction", GRAY))
                continue
            if misses or false_positives:
                parts = ([f"{misses} missed"] if misses else []) + (
                    [f"{false_positives} false+"] if false_positives else []
                )
                cells.append(GridCell(image, RED, ", ".join(parts), RED))
            else:
                cells.append(GridCell(image, GREEN, "all found", GREEN))
        label = f"{short(name, 20)}\n{len(cells)} shown"
        rows.append(GridRow(label, cells, None if cells else "no validation images show this class"))
    return rows


def _boxes_for_class(example: DetectionExample, class_id: int) -> Image.Image | None:
    if example.image is None:
        return None
    picture = fit(example.image, CELL_PX - 2 * FRAME_PX)
    width, height = picture.size
    draw = ImageDraw.Draw(picture)
    match = match_boxes(example.truth, example.detections)
    for index, (true_class, (x0, y0, x1, y1)) in enumerate(example.truth):
        if true_class == class_id:
            color = GREEN if index in match.matched_truth else ORANGE
            draw.rectangle([x0 * width, y0 * height, x1 * width, y1 * height], outline=color, width=2)
    for index in match.drawn_detections:
        det_class, _score, (x0, y0, x1, y1) = (example.detections or [])[index]
        if det_class == class_id:
            color = BLUE if index in match.matched_detections else RED
            draw.rectangle([x0 * width, y0 * height, x1 * width, y1 * height], outline=color, width=1)
    return picture


def grid_pages(rows: list[GridRow], title: str, legend: str) -> list[bytes]:
    """Rows split into pages of GRID_ROWS_PER_PAGE classes."""
    pages = []
    count = (len(rows) + GRID_ROWS_PER_PAGE - 1) // GRID_ROWS_PER_PAGE
    for page in range(count):
        chunk = rows[page * GRID_ROWS_PER_PAGE : (page + 1) * GRID_ROWS_PER_PAGE]
        first = page * GRID_ROWS_PER_PAGE
        suffix = (
            f" (class ids {first}-{first + len(chunk) - 1}, page {page + 1} of {count})" if count > 1 else ""
        )
        pages.append(grid_page(title + suffix, chunk, legend))
    return pages


# -- 7: step timeline -----------------------------------------------------------------------------

_FAILED = ("fail", "stopped", "timed_out", "aborted", "rejected", "rollback")
_DONE = ("completed", "succeeded", "inservice", "created", "published", "passed")


def step_color(status: str) -> str:
    """Bar color of a step status: red failures, green completions, orange anything in progress."""
    lowered = status.lower()
    if any(word in lowered for word in _FAILED):
        return RED
    if any(word in lowered for word in _DONE):
        return GREEN
    return ORANGE


def _time_unit(seconds: float) -> tuple[float, str]:
    if seconds >= 3 * 3600:
        return 3600.0, "hours"
    if seconds >= 180:
        return 60.0, "minutes"
    return 1.0, "seconds"


def format_duration(seconds: float | None) -> str:
    """``1 h 02 min``, ``3 min 04 s``, ``12.5 s`` or ``-``."""
    if seconds is None:
        return "-"
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.1f} s"


def step_timeline(data: RunData) -> bytes:
    """Gantt chart of the ledger's steps relative to the first start; open-ended steps are hatched."""
    steps: list[StepTiming] = [s for s in data.steps if s.started_at or s.ended_at]
    moments = [t for s in steps for t in (s.started_at, s.ended_at) if t is not None]
    origin = min(moments)
    last = max(moments)
    if data.headline.ended_at is not None:
        last = max(last, data.headline.ended_at)
    span = max(1.0, (last - origin).total_seconds())
    scale, unit = _time_unit(span)
    figure = _figure(12, 1.4 + 0.45 * len(steps))
    ax = figure.subplots()
    for y, step in enumerate(steps):
        color = step_color(step.status)
        if step.started_at is None:
            assert step.ended_at is not None
            x = (step.ended_at - origin).total_seconds() / scale
            ax.plot([x], [y], marker="D", color=color)
            ax.annotate(
                f"{step.status} (no start recorded)",
                (x, y),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
            continue
        start = (step.started_at - origin).total_seconds() / scale
        end_time = step.ended_at or last
        width = max((end_time - step.started_at).total_seconds() / scale, span / scale / 400)
        ax.barh(
            y,
            width,
            left=start,
            color=color,
            hatch=None if step.ended_at else "//",
            edgecolor="black",
            linewidth=0.4,
        )
        text = (
            f"{step.status}, {format_duration(step.seconds)}"
            if step.ended_at
            else f"{step.status}, no end recorded"
        )
        ax.annotate(
            text, (start + width, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=7
        )
    ax.set_yticks(range(len(steps)), [short(s.name, 28) for s in steps])
    ax.invert_yaxis()
    ax.set_xlim(0, span / scale * 1.3)
    ax.set_xlabel(f"{unit} since the first step started ({origin:%Y-%m-%d %H:%M:%S} UTC)")
    ax.set_title(
        f"Steps of run {short(data.run_id, 60)}: {format_duration(span)} from first start to last event"
    )
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(
        handles=[
            Patch(color=GREEN, label="completed"),
            Patch(color=ORANGE, label="in progress / other"),
            Patch(color=RED, label="failed"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
    return _png(figure)


# -- all figures ----------------------------------------------------------------------------------


def _unavailable(data: RunData, part: str, fallback: str) -> str:
    return data.unavailable.get(part, fallback)


def render_figures(data: RunData) -> list[RenderedFigure]:
    """Every figure of the report, in page order; failures become ``unavailable`` with a warning."""
    results: list[RenderedFigure] = []
    classes = len(data.class_names)

    def add(spec: RenderedFigure, render: Callable[[RunData], bytes] | None, reason: str | None) -> None:
        if reason is not None or render is None:
            spec.unavailable = reason or "not available"
        else:
            try:
                spec.png = render(data)
            except Exception as exc:  # one broken figure must not cost the whole report
                spec.unavailable = f"rendering failed ({type(exc).__name__}: {exc})"[:300]
                data.warn(f"figure {spec.name} could not be rendered: {type(exc).__name__}: {exc}"[:300])
        results.append(spec)

    with warnings.catch_warnings(), matplotlib.rc_context(RC):
        # Missing glyphs (emoji in class names) draw as boxes; that is not worth a warning per glyph.
        warnings.simplefilter("ignore", UserWarning)
        labels_reason = None if data.labels is not None else _unavailable(data, LABELS, "no labels")
        add(
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
            None if _has_confidence(data) else "the labels carry no confidence values"
        )
        add(
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
        add(
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
        team_reason = None if data.team is not None else _unavailable(data, TEAM, "no team statistics")
        if team_reason is None and data.team is not None and not data.team.workers:
            team_reason = "the team statistics list no labeler"
        add(
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
        add(
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
        evaluation_reason = (
            None if data.evaluation is not None else _unavailable(data, EVALUATION, "no evaluation")
        )
        if data.is_detection:
            add(
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
            add(
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
        else:
            matrix_reason = evaluation_reason
            if matrix_reason is None and data.evaluation is not None and not data.evaluation.confusion_matrix:
                matrix_reason = "the evaluation report has no confusion matrix"
            add(
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
        _add_grids(data, results, add)
        add(
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
    return results


def _add_grids(
    data: RunData,
    results: list[RenderedFigure],
    add: Callable[[RenderedFigure, Callable[[RunData], bytes] | None, str | None], None],
) -> None:
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
        add(
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
        add(
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
        results.append(spec)
