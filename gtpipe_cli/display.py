"""Terminal output of ``gtpipe``: run tables, the live progress line, durations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from gtpipe_cli.progress import RunProgress, parse_time

BAR_WIDTH = 24


def duration(seconds: float | None) -> str:
    """``42s``, ``3m07s``, ``1h02m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def bar(fraction: float | None, width: int = BAR_WIDTH) -> str:
    """``[#########...............]  37%`` (empty bar and ``--%`` when unknown)."""
    if fraction is None:
        return "[" + "." * width + "]  --%"
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    return "[" + "#" * filled + "." * (width - filled) + f"] {fraction * 100:3.0f}%"


def metric_text(metrics: Mapping[str, Any] | None) -> str:
    """``accuracy 0.912 (gate 0.8)`` from a ledger ``metrics`` map; empty when there is none."""
    if not metrics:
        return ""
    name, value = metrics.get("metric_name"), metrics.get("metric_value")
    if name is None or value is None:
        return ""
    text = f"{name} {float(value):.3f}"
    if metrics.get("quality_threshold") is not None:
        text += f" (gate {float(metrics['quality_threshold']):g})"
    return text


def run_detail(run: Mapping[str, Any]) -> str:
    """What to say about a run in one cell: where and why it failed, its metric, or its current step."""
    status = run.get("status")
    if status == "FAILED":
        failure = run.get("failure") or {}
        if failure:
            return f"failed at {failure.get('step')}: {failure.get('error')}"
        errors = run.get("errors") or []
        return f"invalid manifest: {errors[0]}" if errors else "failed"
    if status in ("SUCCEEDED", "REJECTED"):
        return metric_text(run.get("metrics"))
    running = [name for name, step in (run.get("steps") or {}).items() if step.get("rank") == 1]
    return f"in {', '.join(running)}" if running else ""


def cost_text(run: Mapping[str, Any]) -> str:
    """``$4.84 (est. $5.68)``: the labeling cost the ledger recorded, next to the cost guard's estimate."""
    cost = run.get("labeling_cost") or {}
    actual, estimate = cost.get("actual_usd"), cost.get("estimated_usd")
    if actual is None and estimate is None:
        return "-"
    text = f"${float(actual):.2f}" if actual is not None else "-"
    return text + (f" (est. ${float(estimate):.2f})" if estimate is not None else "")


def run_seconds(run: Mapping[str, Any], now: dt.datetime) -> float | None:
    """Created -> ended (or now, while running)."""
    created = parse_time(run.get("created_at"))
    if created is None:
        return None
    ended = parse_time(run.get("ended_at")) or (now if run.get("status") == "RUNNING" else None)
    return (ended - created).total_seconds() if ended else None


def runs_table(
    runs: Sequence[Mapping[str, Any]], serving_run_id: str | None = None, now: dt.datetime | None = None
) -> str:
    """The ``gtpipe runs`` table; the run whose model serves is marked ``*``."""
    now = now or dt.datetime.now(dt.UTC)
    header = ("RUN", "STATUS", "TASK", "CREATED (UTC)", "DURATION", "LABELING", "DETAIL")
    rows = [header]
    for run in runs:
        created = parse_time(run.get("created_at"))
        marker = "*" if serving_run_id and run.get("run_id") == serving_run_id else ""
        rows.append(
            (
                f"{run.get('run_id')}{marker}",
                str(run.get("status") or "-"),
                str(run.get("task_type") or "-"),
                created.strftime("%Y-%m-%d %H:%M:%S") if created else "-",
                duration(run_seconds(run, now)),
                cost_text(run),
                run_detail(run),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


class FollowDisplay:
    """``gtpipe follow`` output: one rewritten line on a terminal; a new line per change otherwise."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self._last: tuple[Any, ...] | None = None
        self._open_line = False
        self._warned: set[str] = set()

    def line(self, progress: RunProgress) -> str:
        """The progress line: bar, elapsed run time, status, current state, jobs and their secondary status."""
        if progress.run is None:
            return (
                f"{bar(None)}  {duration(progress.elapsed):>6}  waiting for run {progress.run_id} to appear"
            )
        status = progress.execution_status or progress.run_status or "PENDING"
        state = progress.state or "-"
        jobs = progress.jobs()
        return f"{bar(progress.fraction)}  {duration(progress.run_seconds()):>6}  {status:9} {state:22} {jobs}".rstrip()

    def update(self, progress: RunProgress) -> None:
        """Show one snapshot; the run's ledger warnings first, each once, on lines of their own."""
        for warning in progress.warnings:
            if warning not in self._warned:
                self._warned.add(warning)
                self.stream.write(("\r\033[K" if self._open_line else "") + f"warning: {warning}\n")
                self._open_line = False
        text = self.line(progress)
        if self.tty:
            self.stream.write("\r\033[K" + text)
            self._open_line = True
            self.stream.flush()
            return
        key = (
            progress.run is None,
            progress.run_status,
            progress.execution_status,
            progress.state,
            progress.jobs(),
            progress.fraction,
        )
        if key != self._last:
            self._last = key
            self.stream.write(text + "\n")
            self.stream.flush()

    def done(self) -> None:
        """End the rewritten line (terminals)."""
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False
