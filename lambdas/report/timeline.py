"""The report's step timeline: the runs ledger's steps as a Gantt chart, and the colours and durations
the page shows for them too."""

from __future__ import annotations

from matplotlib.patches import Patch

from report.figure_kit import GREEN, ORANGE, RED, new_figure, short, to_png
from report.model import RunData, StepTiming

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
    figure = new_figure(12, 1.4 + 0.45 * len(steps))
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
    return to_png(figure)
