"""Benchmark: train the digits demo with the local image-classification algorithm, then serve it.

    .venv/bin/python -m bench.training_bench [--requests 500] [--workdir DIR] [--keep]

* training: all 1,797 scikit-learn digits as 32x32 PNGs, 80% train / 20% validation (class-balanced),
  ``DEMO_HYPERPARAMETERS``, run as the local cloud runs it: ``python -m training.train`` in a subprocess
  with SageMaker's environment variables. Targets: validation accuracy >= 0.95, <= 60 s on 2 CPU cores.
* serving: ``model_fn`` on the produced model; single-image requests through
  ``input_fn -> predict_fn -> output_fn`` (PNG bytes in, JSON out; target p50 <= 10 ms on CPU), then
  ``predict_images`` throughput over the validation images at several batch sizes.

``main()`` prints a table and returns the figures as a dict.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import percentile, print_figures, stage_training_job, time_calls
from training import DEMO_HYPERPARAMETERS
from training.datasets import DigitRecord, write_digits_dataset

VALIDATION_FRACTION = 0.2
TARGET_ACCURACY = 0.95
TARGET_TRAIN_SECONDS = 60.0
TARGET_P50_MS = 10.0


def _split(records: list[DigitRecord]) -> tuple[list[DigitRecord], list[DigitRecord]]:
    """Class-balanced split: every fifth image of each class goes to validation."""
    step = round(1 / VALIDATION_FRACTION)
    seen: dict[int, int] = {}
    train: list[DigitRecord] = []
    validation: list[DigitRecord] = []
    for record in records:  # the generator's order is already shuffled within each class
        position = seen[record.label] = seen.get(record.label, -1) + 1
        (validation if position % step == step - 1 else train).append(record)
    return train, validation


def run_training(workdir: Path) -> tuple[dict[str, Any], Path, list[DigitRecord], float]:
    """Stage the channels, run ``python -m training.train``; return metrics, model dir, validation
    records and the job's wall-clock seconds (interpreter start to exit)."""
    records = write_digits_dataset(workdir / "source", holdout_fraction=0.0, seed=0)
    train, validation = _split(records)
    hyperparameters = {**DEMO_HYPERPARAMETERS, "num_classes": "10", "num_training_samples": str(len(train))}
    metrics, wall = run_staged_training(
        workdir, stage_training_job(workdir, train, validation, hyperparameters)
    )
    return metrics, workdir / "model", validation, wall


def run_staged_training(workdir: Path, env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run ``python -m training.train`` in ``workdir`` (channels already staged, ``env`` from
    ``stage_training_job``); return the job's metrics.json and its wall-clock seconds. A failed job raises
    with its output's tail."""
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-m", "training.train"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(
            f"training failed ({process.returncode}):\n{process.stdout[-4000:]}{process.stderr}"
        )
    return json.loads((workdir / "output" / "data" / "metrics.json").read_text()), wall


def measure_serving(model_dir: Path, validation: list[DigitRecord], requests: int) -> dict[str, Any]:
    """Single-request latency percentiles and batch throughput on the trained model."""
    import numpy as np

    from training.inference import input_fn, model_fn, output_fn, predict_fn, predict_images

    model = model_fn(model_dir)
    bodies = [r.path.read_bytes() for r in validation]
    labels = np.array([r.label for r in validation])

    def request(body: bytes) -> str:
        return output_fn(predict_fn(input_fn(body, "image/png"), model), "application/json")

    latencies = time_calls(request, bodies, requests)  # its warm-up: first calls allocate and pick kernels
    figures: dict[str, Any] = {
        "serving requests": requests,
        "serving p50 ms": round(statistics.median(latencies), 3),
        "serving p90 ms": round(percentile(latencies, 90), 3),
        "serving p99 ms": round(percentile(latencies, 99), 3),
        "serving mean ms": round(statistics.fmean(latencies), 3),
    }
    for batch_size in (1, 32, 128):
        predict_images(model, bodies[:batch_size], batch_size=batch_size)  # warm-up at this size
        started = time.perf_counter()
        probabilities = predict_images(model, bodies, batch_size=batch_size)
        seconds = time.perf_counter() - started
        figures[f"batch {batch_size} images/s"] = round(len(bodies) / seconds, 1)
    figures["served validation accuracy"] = round(float((probabilities.argmax(1) == labels).mean()), 4)
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a table, return the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500, help="single-image requests to time")
    parser.add_argument("--workdir", help="where to write data and the model (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args([] if argv is None else argv)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="training-bench-"))
    try:
        metrics, model_dir, validation, wall = run_training(workdir)
        accuracy = metrics["final"]["validation:accuracy"]
        figures: dict[str, Any] = {
            "cpu cores": len(os.sched_getaffinity(0)),
            "training images": metrics["num_training_samples"],
            "validation images": metrics["num_validation_samples"],
            "epochs run": metrics["epochs_run"],
            "best epoch": metrics["best_epoch"],
            "validation accuracy": round(accuracy, 4),
            "training job seconds (process wall)": round(wall, 2),
            "training loop seconds": metrics["train_seconds"],
            "device": metrics["device"],
        }
        figures.update(measure_serving(model_dir, validation, args.requests))
        figures["meets accuracy target (>= 0.95)"] = accuracy >= TARGET_ACCURACY
        figures["meets training time target (<= 60 s)"] = wall <= TARGET_TRAIN_SECONDS
        figures["meets latency target (p50 <= 10 ms)"] = figures["serving p50 ms"] <= TARGET_P50_MS
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print_figures(figures)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
