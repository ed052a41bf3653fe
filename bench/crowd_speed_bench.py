"""Benchmark: the simulated crowd's answers/s through the builtin labeling service, the whole request path.

    .venv/bin/python -m bench.crowd_speed_bench [--images 300] [--timeout 1800] [--cdk-out DIR]

``make demo LABELING=builtin`` (:func:`local.drivers.demo.run_demo`, ``--labeling builtin``, ``--images``
digits of which 80 % are labeled, 3 answers each) run twice, side by side on the same assembly: with moto's own
DynamoDB (``CloudSettings.dynamodb_speedups`` off) and with :mod:`local.moto_dynamodb_speed` (the local
cloud's default). Every answer goes the way a person's does: the crowd's HTTPS request, the local API
Gateway with its Cognito authorizer, the labeling API Lambda in its worker process, its DynamoDB requests
to moto under IAM enforcement. Reported per run: the labeling team's answers and active seconds (the
runs ledger's ``labeling_team``: first to last answer), answers/s, the demo's wall time and the run's status (a
small set may train a model the quality gate rejects; its labeling still counts). ``python -m bench labeling-speed`` measures the DynamoDB part alone.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import print_figures
from bench.demo_bench import RecordingDisplay
from local.drivers.demo import DEMO_ASSEMBLY, argument_parser, demo_context, run_demo
from local.drivers.demo_tasks import ClassificationDemo
from local.synth import synthesize

ROOT = Path(__file__).resolve().parents[1]


def _demo(assembly: Path, images: int, timeout: float, speedups: bool) -> dict[str, Any]:
    """One builtin demo; its labeling figures (raises if the demo fails)."""
    state_dir = Path(tempfile.mkdtemp(prefix="gtpipe-crowd-bench-"))
    display = RecordingDisplay()
    args = argument_parser().parse_args(
        [
            *("--labeling", "builtin", "--images", str(images), "--state-dir", str(state_dir)),
            *("--cdk-out", str(assembly), "--timeout", str(timeout)),
        ]
    )
    try:
        started = time.perf_counter()
        status = run_demo(args, display, {"dynamodb_speedups": speedups})
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    run = (display.last.run if display.last else None) or {}
    team = run.get("labeling_team") or {}
    if not team.get("answers"):
        # A small set may train a model the quality gate rejects (exit status 1): the labeling still counts.
        raise RuntimeError(
            f"the demo labeled nothing (exit status {status}):\n" + "\n".join(display.lines[-40:])
        )
    answers, active = int(team.get("answers", 0)), float(team.get("active_seconds") or 0.0)
    return {
        "answers": answers,
        "active seconds": round(active, 1),
        "answers/s": round(answers / active, 1) if active else None,
        "demo wall seconds": round(wall, 1),
        "run status": run.get("status"),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run both demos, print a table, return the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--images", type=int, default=300, help="digits drawn (80 %% labeled, 3 answers each)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for each run")
    parser.add_argument(
        "--cdk-out", default=None, help="deploy this builtin demo assembly (default: synthesize)"
    )
    # Called as main() by `python -m bench`: use the defaults, not that runner's command line.
    args = parser.parse_args(argv if argv is not None else [])
    task = ClassificationDemo.name
    assembly = (
        Path(args.cdk_out)
        if args.cdk_out
        else synthesize(
            ROOT / ".local" / f"{DEMO_ASSEMBLY}-{task}-builtin", demo_context(None, task, "builtin")
        )
    )
    moto = _demo(assembly, args.images, args.timeout, speedups=False)
    fast = _demo(assembly, args.images, args.timeout, speedups=True)
    figures: dict[str, Any] = {"images (80 % labeled, 3 answers each)": args.images}
    for name, value in moto.items():
        figures[f"{name}: moto's own / local.moto_dynamodb_speed"] = f"{value} / {fast[name]}"
    if moto["answers/s"] and fast["answers/s"]:
        figures["answers/s speed-up"] = f"{fast['answers/s'] / moto['answers/s']:.1f}x"
    print_figures(figures)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
