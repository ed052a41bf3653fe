"""Benchmark: the model-lifecycle loop (``make demo LOOP=1``) on the local cloud, end to end.

    .venv/bin/python -m bench.harvest_bench [--epochs N]

Runs :func:`local.drivers.lifecycle.demo_loop` in a temporary folder: run 1 trains on 300 upright digits and
serves; 240 rotated digits are sent through the API (captured) and 3 wrong answers corrected; the drift
monitor's window is measured and the drift alarms evaluated; the harvest schedule fires; the simulated
workforce labels the harvest; run 2 trains on the cumulative dataset and meets the champion/challenger gate.
Figures: the accuracy on 150 held-out rotated digits before and after (both measured the same way, capture
off), what the harvest picked, the human answers spent, the gate's comparison, the drift alarms in ALARM
after the stream, and the wall time of each phase and in all (cloud start included).

``main()`` prints a table and returns the figures as a dict; it raises if the loop fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import print_figures
from local.drivers.lifecycle import demo_loop


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the loop once; its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=None, help="override the demo's training epochs")
    args = parser.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory(prefix="gtpipe-harvest-bench-") as state:
        result = demo_loop(Path(state), epochs=args.epochs)
    if result.second.get("status") != "SUCCEEDED":
        raise RuntimeError(f"the retrain did not deploy: {result.second}")
    counters = result.second.get("label_counters") or {}
    cost = result.second.get("labeling_cost") or {}
    champion = (result.second.get("metrics") or {}).get("champion") or {}
    figures: dict[str, Any] = {
        "drift alarms in ALARM after the rotated stream": ", ".join(result.drift.alarming) or "none",
        "accuracy on held-out rotated digits, before": round(result.before, 3),
        "accuracy on held-out rotated digits, after": round(result.after, 3),
        "harvested images": result.harvest.get("picked"),
        "harvested by reason": result.harvest.get("by_reason"),
        "objects labeled by people": counters.get("human"),
        "labeling cost (USD, configured prices)": cost.get("actual_usd"),
        "champion score (serving model)": champion.get("champion_value"),
        "challenger score (retrained)": champion.get("challenger_value"),
        "compared on images": champion.get("images"),
    }
    figures.update({f"wall seconds: {name}": round(value, 1) for name, value in result.seconds.items()})
    print_figures(figures)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
