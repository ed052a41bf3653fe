"""`make bench`: run every benchmark, print one table and write BENCHMARKS.md with the machine's facts.

Each benchmark module exposes `main() -> dict[str, object]` (figures by name); an entry
`module:function` names another function of the module. Ratios are always
computed from measurements taken side by side in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = {
    "training": "bench.training_bench",
    "split": "bench.split_bench",
    "synth": "bench.synth_bench",
    "api": "bench.api_bench",
    "demo": "bench.demo_bench",
    "demo-detection": "bench.demo_bench:detection",
    "consolidation": "bench.consolidation_bench",
    "adaptive": "bench.adaptive_bench",
    "labeling-speed": "bench.labeling_speed_bench",
    "crowd-speed": "bench.crowd_speed_bench",
    "gold": "bench.gold_bench",
    "harvest": "bench.harvest_bench",
    "algorithms": "bench.algorithms_bench",
    "review": "bench.review_bench",
    "drift": "bench.drift_bench",
    "tuning": "bench.tuning_bench",
    "builtin-auto": "bench.builtin_auto_bench",
    "builtin-auto-boxes": "bench.builtin_auto_bench:boxes",
    "labeling-model": "bench.labeling_model_bench",
    "box-confidence": "bench.box_confidence_bench",
    "label-errors": "bench.label_errors_bench",
    "sfn-parse": "bench.sfn_parse_bench",
}
ROOT = Path(__file__).resolve().parents[1]


def machine_facts() -> dict[str, str]:
    """What the numbers were measured on."""
    memory = ""
    try:
        with open("/proc/meminfo") as meminfo:
            memory = meminfo.readline().split(":", 1)[1].strip()
    except OSError:
        memory = "unknown"
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu
            )
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "unknown",
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks (all by default) and write BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    selected = args.names or list(BENCHMARKS)
    unknown = sorted(set(selected) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    results: dict[str, dict[str, object]] = {}
    for name in selected:
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        module_name, _, function = BENCHMARKS[name].partition(":")
        module = importlib.import_module(module_name)
        results[name] = dict(getattr(module, function or "main")())
        results[name]["bench wall seconds"] = round(time.perf_counter() - started, 1)
    facts = machine_facts()
    lines = ["# Benchmarks", "", "Written by `make bench` (`python -m bench`). Machine:", ""]
    lines += [f"- {key}: {value}" for key, value in facts.items()]
    for name, figures in results.items():
        lines += ["", f"## {name}", "", "| figure | value |", "|---|---|"]
        lines += [f"| {key} | {value} |" for key, value in figures.items()]
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
