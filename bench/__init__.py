"""Benchmarks (python -m bench.<name>)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def print_figures(figures: Mapping[str, object]) -> None:
    """Print a benchmark's figures as an aligned two-column table."""
    width = max(len(key) for key in figures)
    print(f"{'figure':<{width}}  value")
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")


def use_fake_aws_credentials() -> None:
    """Point boto3 at fake credentials and us-east-1, for benches on moto's in-process AWS (never a real
    account: no real keys, no endpoint)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ[name] = value


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def stage_training_job(
    workdir: Path, train: Sequence[Any], validation: Sequence[Any], hyperparameters: Mapping[str, str]
) -> dict[str, str]:
    """Write the digits channels and ``hyperparameters.json`` under ``workdir`` as SageMaker lays them out,
    and return the environment for ``python -m training.train`` there (this process's, less any ``SM_``
    variable, plus the job's locations and ``PYTHONPATH`` = the repository root)."""
    from training.datasets import write_channel

    data = workdir / "input" / "data"
    write_channel(train, data / "train", "train.manifest")
    write_channel(validation, data / "validation", "validation.manifest")
    config = workdir / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(dict(hyperparameters)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    env.update(
        {
            "SM_INPUT_DIR": str(workdir / "input"),
            "SM_MODEL_DIR": str(workdir / "model"),
            "SM_OUTPUT_DIR": str(workdir / "output"),
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def time_calls(call: Callable[[bytes], object], images: Sequence[bytes], requests: int) -> list[float]:
    """Milliseconds per ``call(image)`` for ``requests`` calls cycling through ``images``, after 20 warm-up
    calls."""
    for body in images[:20]:  # warm-up
        call(body)
    latencies = []
    for i in range(requests):
        started = time.perf_counter()
        call(images[i % len(images)])
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies
