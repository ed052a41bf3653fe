"""`cdk synth` wall time (the CLI with the pinned version, offline), median of three runs."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(runs: int = 3) -> dict[str, object]:
    """Time `npx cdk synth --quiet` into a scratch output folder."""
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    durations = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            subprocess.run(
                ["npx", "cdk", "synth", "--quiet", "--output", out],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            durations.append(time.perf_counter() - started)
    figures: dict[str, object] = {
        "cdk synth median seconds": round(statistics.median(durations), 2),
        "cdk synth min seconds": round(min(durations), 2),
        "runs": runs,
    }
    print(figures)
    return figures


if __name__ == "__main__":
    main()
