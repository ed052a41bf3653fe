"""Benchmark: the demo's whole run (``make demo``) with per-step durations from the runs ledger.

    .venv/bin/python -m bench.demo_bench [--task image-classification|object-detection] [--images N]
                                         [--epochs N] [--timeout 900]

Calls :func:`local.drivers.demo.run_demo` itself (same arguments as ``python -m local.demo``, state in a
temporary folder, the assembly synthesized beforehand into the demo's cache ``.local/cdk.out-demo`` and
timed separately) with a display that records what the demo reports:

* the last progress snapshot's ledger item: each step's duration (``steps.<name>.started_at`` ->
  ``ended_at``, as the demo prints them) and the run's ledger duration (``created_at`` -> ``ended_at``);
* the held-out accuracy (classification) or mAP@0.5 (detection) over HTTPS and the wall time to the
  first prediction (from the demo start, cloud start included) from the demo's own summary lines.

``python -m bench`` runs both tasks (``demo`` and ``demo-detection``).

``main()`` prints a table and returns the figures as a dict; it raises if the demo fails.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import print_figures
from local.drivers.demo import (
    DEFAULT_IMAGES,
    DEMO_ASSEMBLY,
    SUPPORTED_TASKS,
    Display,
    argument_parser,
    demo_context,
    run_demo,
)
from local.drivers.demo_tasks import ClassificationDemo, DetectionDemo
from local.drivers.runs import RunProgress, parse_time, step_durations
from local.synth import synthesize

ROOT = Path(__file__).resolve().parents[1]

SCORE_LINE = re.compile(r"held-out (?P<name>accuracy|mAP@0\.5) over HTTPS: (?P<value>[0-9.]+)")
FIRST_PREDICTION_LINE = re.compile(
    r"first prediction after (?P<first>[0-9.]+)s \(all (?P<count>\d+) held-out answers after (?P<all>[0-9.]+)s"
)


METRICS_PREFIX = "validation metrics (ledger): "


class RecordingDisplay(Display):
    """The demo's display, writing to a buffer and keeping the last progress snapshot and every line."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.last: RunProgress | None = None
        self.lines: list[str] = []

    def progress(self, progress: RunProgress) -> None:
        self.last = progress
        super().progress(progress)

    def say(self, text: str) -> None:
        self.lines.extend(text.splitlines())
        super().say(text)


def _search(pattern: re.Pattern[str], lines: list[str]) -> re.Match[str]:
    for line in lines:
        match = pattern.search(line)
        if match:
            return match
    raise RuntimeError(f"the demo's output has no line matching {pattern.pattern!r}:\n" + "\n".join(lines))


def _ledger_metrics(lines: list[str]) -> dict[str, Any]:
    """The metrics the demo printed from the ledger (``validation metrics (ledger): {...}``)."""
    for line in lines:
        if line.startswith(METRICS_PREFIX):
            try:
                value = json.loads(line[len(METRICS_PREFIX) :])
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the demo, print a table, return the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default=ClassificationDemo.name, choices=SUPPORTED_TASKS)
    parser.add_argument("--images", type=int, default=None, help="images to draw (the demo's default)")
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=None, help="override the demo's training epochs")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the run")
    # Called as main() by `python -m bench`: use the defaults, not that runner's command line.
    args = parser.parse_args(argv if argv is not None else [])
    started = time.perf_counter()
    images = args.images or DEFAULT_IMAGES[args.task]
    assembly = synthesize(
        ROOT / ".local" / f"{DEMO_ASSEMBLY}-{args.task}", demo_context(args.epochs, args.task)
    )
    synth_seconds = time.perf_counter() - started
    state_dir = Path(tempfile.mkdtemp(prefix="gtpipe-demo-bench-"))
    display = RecordingDisplay()
    # The demo's own parser: every option it reads gets its default (labeling: ground-truth).
    demo_args = argument_parser().parse_args(
        [
            *("--task", args.task, "--images", str(images), "--holdout", str(args.holdout)),
            *("--state-dir", str(state_dir), "--cdk-out", str(assembly), "--timeout", str(args.timeout)),
            *(("--epochs", str(args.epochs)) if args.epochs is not None else ()),
        ]
    )
    try:
        started = time.perf_counter()
        status = run_demo(demo_args, display)
        demo_seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    if status != 0:
        raise RuntimeError(f"the demo failed (exit status {status}):\n" + "\n".join(display.lines[-40:]))
    run = (display.last.run if display.last else None) or {}
    figures: dict[str, Any] = {
        "task": args.task,
        "images (held out)": f"{images} ({round(images * args.holdout)})",
        "synth seconds (cached assembly reused when fresh)": round(synth_seconds, 1),
        "demo wall seconds": round(demo_seconds, 1),
    }
    created, ended = parse_time(run.get("created_at")), parse_time(run.get("ended_at"))
    if created and ended:
        figures["run seconds (ledger created -> ended)"] = round((ended - created).total_seconds(), 1)
    for name, step_status, seconds in step_durations(run):
        figures[f"step {name} seconds ({step_status})"] = "-" if seconds is None else round(seconds, 1)
    first = _search(FIRST_PREDICTION_LINE, display.lines)
    figures["time to first prediction s (from demo start)"] = float(first["first"])
    figures["all held-out answers s (from demo start)"] = float(first["all"])
    score = _search(SCORE_LINE, display.lines)
    figures[f"held-out {score['name']} over HTTPS"] = float(score["value"])
    figures["held-out answers"] = int(first["count"])
    metrics = {**_ledger_metrics(display.lines), **(run.get("metrics") or {})}
    for key in ("accuracy", "macro_f1", "map", "count", "quality_threshold", "passed"):
        if key in metrics:
            figures[f"validation {key} (ledger)"] = metrics[key]
    print_figures(figures)
    return figures


def detection() -> dict[str, Any]:
    """The object-detection demo (``make demo TASK=object-detection``) with its defaults."""
    return main(["--task", DetectionDemo.name])


if __name__ == "__main__":
    main(sys.argv[1:])
