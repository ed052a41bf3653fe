"""The report's charts of aggregates: labels per class, labeling confidence and cost, training curves,
the evaluation (confusion matrix, average precision) and the team's agreement.

Each takes a :class:`RunData` whose part it draws is present (the caller checks, see
:func:`report.figures.render_figures`) and returns PNG bytes. Sizes scale with the number of classes (1
to 50 stay readable: long names are shortened, dense annotations dropped) and empty classes are shown as
empty, not hidden.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.ticker import FuncFormatter, NullFormatter

from report import curves as curve_parsing
from report.figure_kit import (
    BLUE,
    GRAY,
    HUMAN_COLOR,
    MACHINE_COLOR,
    ORANGE,
    RED,
    clamp,
    class_axis,
    human_machine_bars,
    new_figure,
    short,
    tick_size,
    to_png,
)
from report.model import CostSummary, RunData

ANNOTATE_MATRIX_UP_TO = 12

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
    figure = new_figure(4 + 0.26 * n, 8.5)
    axes = figure.subplots(2, 1)
    positions = np.arange(n)
    total_human, total_machine = int(human.sum()), int(machine.sum())
    for ax, log in zip(axes, (False, True), strict=True):
        human_machine_bars(ax, positions, human, machine)
        class_axis(ax, names)
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
    return to_png(figure)


def label_confidence(data: RunData) -> bytes:
    """Mean labeling confidence per class, human vs machine (no bar: no such labels)."""
    labels = data.labels
    assert labels is not None
    order = _label_order(data)
    names = [data.class_name(i) for i in order]
    n = len(order)
    figure = new_figure(4 + 0.26 * n, 4.8)
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
    class_axis(ax, names)
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("mean confidence")
    ax.set_title("Mean labeling confidence per class")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return to_png(figure)


def has_confidence(data: RunData) -> bool:
    """True when some class has a human or machine label with a confidence value."""
    assert data.labels is not None
    return any(c.human_confidence_count or c.machine_confidence_count for c in data.labels.per_class)


# -- 3: cost --------------------------------------------------------------------------------------


def labeling_cost(data: RunData) -> bytes:
    """Cost per iteration (human vs machine, stacked) and estimated vs actual totals."""
    cost = data.cost
    assert cost is not None
    figure = new_figure(13, 5.2)
    left, right = figure.subplots(1, 2, width_ratios=[max(2, len(cost.iterations)), 2])
    _cost_per_iteration(left, cost)
    _estimated_vs_actual(right, cost)
    return to_png(figure)


def _cost_per_iteration(left: Any, cost: CostSummary) -> None:
    """Left panel: human and machine cost of each labeling iteration, with the prices used."""
    positions = np.arange(len(cost.iterations))
    human = np.array([row.human_usd for row in cost.iterations])
    machine = np.array([row.machine_usd for row in cost.iterations])
    human_machine_bars(left, positions, human, machine)
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


def _estimated_vs_actual(right: Any, cost: CostSummary) -> None:
    """Right panel: the estimate made before labeling, the actual cost and the budget line."""
    bars = ["estimated", "actual"]
    right.bar([0], [cost.estimated_usd or 0.0], color=GRAY, edgecolor="black", linewidth=0.4)
    actual_human, actual_machine = cost.actual_human_usd or 0.0, cost.actual_machine_usd or 0.0
    human_machine_bars(right, [1], [actual_human], [actual_machine], legend=False)
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
    figure = new_figure(5 * columns, 4 * rows)
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
    return to_png(figure)


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
    side = clamp(3.5 + 0.2 * n, 5.5, 11.5)
    figure = new_figure(side + 1.8, side)
    ax = figure.subplots()
    image = ax.imshow(normalized, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    ticks = np.arange(n)
    tick_labels = [short(name) for name in labels]
    ax.set_xticks(ticks, tick_labels, rotation=90, fontsize=tick_size(n))
    row_labels = [f"{label} ({int(rows[i, 0])})" for i, label in enumerate(tick_labels)]
    ax.set_yticks(ticks, row_labels, fontsize=tick_size(n))
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
    return to_png(figure)


def average_precision(data: RunData) -> bytes:
    """Per-class average precision (IoU 0.5) as horizontal bars, with mAP and the quality threshold."""
    evaluation = data.evaluation
    assert evaluation is not None
    names = list(data.class_names) or list(evaluation.per_class)
    rows = [(name, evaluation.per_class.get(name, {})) for name in names]
    rows.sort(key=lambda row: -float(row[1].get("ap", 0.0) or 0.0))
    n = len(rows)
    figure = new_figure(10, 1.6 + 0.28 * n)
    ax = figure.subplots()
    positions = np.arange(n)
    values = [float(row[1].get("ap", 0.0) or 0.0) for row in rows]
    supports = [int(row[1].get("support", 0) or 0) for row in rows]
    colors = [BLUE if support else GRAY for support in supports]
    ax.barh(positions, values, color=colors)
    ax.set_yticks(positions, [short(name) for name, _ in rows], fontsize=tick_size(n))
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
    return to_png(figure)


def team_agreement(data: RunData) -> bytes:
    """Agreement with the consolidated labels per labeler as horizontal bars (most answers first), with
    the team's mean; gray: no answer that could be compared."""
    team = data.team
    assert team is not None
    workers = team.workers
    n = len(workers)
    figure = new_figure(10, 1.6 + 0.28 * n)
    ax = figure.subplots()
    positions = np.arange(n)
    values = [w.agreement if w.agreement is not None else 0.0 for w in workers]
    colors = [BLUE if w.agreement is not None else GRAY for w in workers]
    ax.barh(positions, values, color=colors)
    ax.set_yticks(positions, [short(w.username, 30) for w in workers], fontsize=tick_size(n))
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
    return to_png(figure)
