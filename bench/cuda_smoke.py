"""Smoke test: both local training algorithms and their serving handlers on the GPU (or the CPU).

    python3 -m bench.cuda_smoke --out DIR [--device cuda|cpu] [--quick]

* data: a small digits set (sklearn's digits as 32x32 PNGs) and a small synthetic-scenes set, written
  into a temporary folder (nothing is downloaded);
* training: ``training.train.main`` (image classification) and ``training.detection.train.main``
  (object detection) run in this process with a SageMaker-style ``SM_*`` environment and the demo
  hyperparameters (``training.contracts``) cut to a few epochs;
* serving: ``model_fn`` loads each trained model, then single-image requests go through
  ``input_fn -> predict_fn -> output_fn`` (PNG bytes in, JSON out) and are timed one by one.

Per job it records the device torch trained on, the exit code, wall seconds, the validation metric
(the job's ``metrics.json`` and its log lines parsed with the project's ``MetricDefinitions``,
``gtpipe_shared.metric_definitions``), whether
the model files exist, and the answers' shapes and per-image latency. Everything goes to
``DIR/cuda_smoke.json`` (job logs to ``DIR/<job>.log``) and is printed. Exit status 0 when every step
worked (on the GPU when ``--device cuda``), else 1.

Needs only torch, numpy, pillow and scikit-learn, and the project's pure-Python ``gtpipe_shared`` (installed
with the project, or ``PYTHONPATH=lambdas``): nothing here or in the modules it uses imports boto3 or the
other cloud libraries. ``--device cpu`` hides the GPUs (``CUDA_VISIBLE_DEVICES``)
before torch is imported, so it must be decided before anything imports torch.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sizes:
    """How much data and training one run uses."""

    digits_train: int
    digits_validation: int
    scenes_train: int
    scenes_validation: int
    classification_epochs: int
    detection_epochs: int
    requests: int


FULL = Sizes(400, 100, 200, 50, 5, 6, 20)
QUICK = Sizes(200, 50, 48, 16, 2, 2, 8)
WARMUP_REQUESTS = 2


def _scaled_steps(demo_steps: str, demo_epochs: int, epochs: int) -> str:
    """The demo's learning-rate milestones moved to the same fractions of a shorter run."""
    steps: list[int] = []
    for text in demo_steps.split(","):
        step = max(1, round(int(text) * epochs / demo_epochs))
        if step < epochs and (not steps or step > steps[-1]):
            steps.append(step)
    return ",".join(str(s) for s in steps)


def _short_run(demo: Mapping[str, str], epochs: int, **extra: str) -> dict[str, str]:
    hps = {**demo, **extra, "epochs": str(epochs)}
    steps = _scaled_steps(demo["lr_scheduler_step"], int(demo["epochs"]), epochs)
    if steps:
        hps["lr_scheduler_step"] = steps
    else:
        hps.pop("lr_scheduler_step")
    return hps


def _environ(root: Path, hyperparameters: Mapping[str, str]) -> dict[str, str]:
    """The SageMaker variables a training job reads (as tests/training/job_support.py lays them out)."""
    data = root / "input" / "data"
    return {
        "SM_INPUT_DIR": str(root / "input"),
        "SM_CHANNEL_TRAIN": str(data / "train"),
        "SM_CHANNEL_VALIDATION": str(data / "validation"),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_HPS": json.dumps(dict(hyperparameters)),
        "SM_CURRENT_HOST": "algo-1",
    }


def _parse_metrics(log: str, definitions: Sequence[Mapping[str, str]]) -> dict[str, list[float]]:
    """Every value each ``MetricDefinitions`` regex finds in the log, in order (as SageMaker scrapes)."""
    return {
        d["Name"]: [float(m.group(1)) for m in re.finditer(d["Regex"], log)]
        for d in definitions
        if re.search(d["Regex"], log)
    }


def _cuda_facts() -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cpu_cores": len(os.sched_getaffinity(0)),
    }
    if torch.cuda.is_available():
        facts["gpu_count"] = torch.cuda.device_count()
        facts["gpu_name"] = torch.cuda.get_device_name(0)
        facts["cudnn"] = torch.backends.cudnn.version()
    return facts


def _run_job(
    name: str,
    main: Callable[..., int],
    root: Path,
    hyperparameters: Mapping[str, str],
    metric_definitions: Sequence[Mapping[str, str]],
    metric_name: str,
    out: Path,
) -> dict[str, Any]:
    """Run one training job in-process; return its figures."""
    import torch

    from training.contracts import METRICS_FILE, MODEL_CONFIG_FILE, WEIGHTS_FILE

    env = _environ(root, hyperparameters)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    captured = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(captured):  # run_job logs to sys.stdout as it finds it
        exit_code = main(argv=[], environ=env)
    wall = time.perf_counter() - started
    log = captured.getvalue()
    (out / f"{name}.log").write_text(log, encoding="utf-8")
    model_dir = Path(env["SM_MODEL_DIR"])
    failure = Path(env["SM_OUTPUT_DIR"]) / "failure"
    figures: dict[str, Any] = {
        "exit_code": exit_code,
        "wall_seconds": round(wall, 3),
        "hyperparameters": dict(hyperparameters),
        "model_artifact_exists": (model_dir / WEIGHTS_FILE).is_file()
        and (model_dir / MODEL_CONFIG_FILE).is_file(),
        "failure": failure.read_text(encoding="utf-8") if failure.is_file() else None,
    }
    parsed = _parse_metrics(log, metric_definitions)
    curve = parsed.get(metric_name, [])
    figures["log_metric"] = metric_name
    figures["log_metric_per_epoch"] = curve
    figures["log_metric_last_epoch"] = curve[-1] if curve else None
    metrics_file = Path(env["SM_OUTPUT_DATA_DIR"]) / METRICS_FILE
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        figures["device"] = metrics.get("device")
        figures["final_validation_metric"] = metrics["final"].get(metric_name)
        figures["best_epoch"] = metrics.get("best_epoch")
        figures["epochs_run"] = metrics.get("epochs_run")
        figures["train_seconds"] = metrics.get("train_seconds")
        figures["epoch_seconds"] = metrics.get("epoch_seconds")
        figures["job_total_seconds"] = metrics.get("total_seconds")
    else:
        figures["device"] = None
        figures["final_validation_metric"] = None
    if torch.cuda.is_available():
        figures["gpu_peak_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    if exit_code != 0:
        figures["log_tail"] = log[-2000:]
    return figures


def _latencies(seconds: Sequence[float]) -> dict[str, float]:
    ms = sorted(s * 1000.0 for s in seconds)
    return {
        "count": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "max_ms": round(ms[-1], 3),
    }


def _shape_summary(arrays: Sequence[Any]) -> str:
    """Shapes of variable-length (D, 6) answers as ``"(47..97, 6)"``."""
    rows = [a.shape[0] for a in arrays]
    columns = sorted({a.shape[1] for a in arrays})
    if not rows:
        return "none"
    span = str(rows[0]) if min(rows) == max(rows) else f"{min(rows)}..{max(rows)}"
    return f"({span}, {'|'.join(map(str, columns))})"


def _serve(
    handlers: Any, model_dir: Path, images: Sequence[Path], requests: int
) -> tuple[Any, dict[str, Any], list[Any], list[str]]:
    """Load a model and answer ``requests`` single-image requests (PNG bytes -> JSON) one by one.

    Returns the loaded model, the figures, each request's ``predict_fn`` answer and its JSON body."""
    started = time.perf_counter()
    model = handlers.model_fn(str(model_dir))
    figures: dict[str, Any] = {
        "model_fn_seconds": round(time.perf_counter() - started, 3),
        "device": str(model.device),
    }
    bodies = [images[i % len(images)].read_bytes() for i in range(requests + WARMUP_REQUESTS)]
    answers: list[Any] = []
    texts: list[str] = []
    seconds: list[float] = []
    for index, body in enumerate(bodies):
        started = time.perf_counter()
        prediction = handlers.predict_fn(handlers.input_fn(body, "image/png"), model)
        text = handlers.output_fn(prediction, "application/json")
        elapsed = time.perf_counter() - started
        if index >= WARMUP_REQUESTS:  # the first calls pay for lazy initialisation (CUDA kernels)
            seconds.append(elapsed)
            answers.append(prediction)
            texts.append(text)
    figures["per_image_latency"] = _latencies(seconds)
    figures["warmup_requests"] = WARMUP_REQUESTS
    return model, figures, answers, texts


def _serve_classifier(model_dir: Path, images: Sequence[Path], labels: Sequence[int], requests: int) -> dict:
    import numpy as np

    from training import inference

    model, figures, answers, texts = _serve(inference, model_dir, images, requests)
    # One request, one image: predict_fn answers probabilities (1, num_classes); output_fn a JSON list.
    figures["predict_fn_shapes"] = sorted({"x".join(map(str, np.asarray(a).shape)) for a in answers})
    figures["output_fn_lengths"] = sorted({len(json.loads(t)) for t in texts})
    batch = inference.predict_images(model, list(images[:requests]))
    figures["predict_images_shape"] = "x".join(map(str, batch.shape))
    chosen = batch.argmax(axis=1)
    figures["sample_accuracy"] = round(
        float(np.mean([int(c) == label for c, label in zip(chosen, labels[:requests], strict=True)])), 4
    )
    return figures


def _serve_detector(
    model_dir: Path, images: Sequence[Path], object_counts: Sequence[int], requests: int
) -> dict:
    from training.detection import inference

    model, figures, answers, texts = _serve(inference, model_dir, images, requests)
    # One request, one image: predict_fn answers [array (D, 6)], D = the detections kept for that image.
    figures["predict_fn_arrays_per_request"] = sorted({len(answer) for answer in answers})
    figures["predict_fn_shapes"] = _shape_summary([a for answer in answers for a in answer])
    figures["output_fn_rows_match"] = all(
        len(json.loads(t)["prediction"]) == sum(len(a) for a in answer)
        for t, answer in zip(texts, answers, strict=True)
    )
    batch = inference.predict_images(model, list(images[:requests]))
    figures["predict_images_count"] = len(batch)
    figures["predict_images_shapes"] = _shape_summary(batch)
    # "detections scoring >= 0.5 / true objects" for the first images: a rough look at what it learnt.
    figures["confident_detections_vs_objects"] = [
        f"{int((a[:, 1] >= 0.5).sum())}/{count}" for a, count in zip(batch[:10], object_counts, strict=False)
    ]
    return figures


def _classification(work: Path, out: Path, sizes: Sizes, report: dict[str, Any]) -> bool:
    from gtpipe_shared.metric_definitions import CLASSIFICATION_METRIC_DEFINITIONS

    from training import train
    from training.contracts import DEMO_HYPERPARAMETERS
    from training.datasets import write_channel, write_digits_dataset

    started = time.perf_counter()
    total = sizes.digits_train + sizes.digits_validation
    records = write_digits_dataset(work / "digits-source", limit=total, holdout_fraction=0.0, seed=0)
    train_records, validation = records[: sizes.digits_train], records[sizes.digits_train :]
    root = work / "classification"
    write_channel(train_records, root / "input" / "data" / "train", "train.manifest")
    write_channel(validation, root / "input" / "data" / "validation", "validation.manifest")
    data_seconds = time.perf_counter() - started
    hps = _short_run(
        DEMO_HYPERPARAMETERS,
        sizes.classification_epochs,
        num_classes="10",
        num_training_samples=str(len(train_records)),
    )
    job = _run_job(
        "classification", train.main, root, hps, CLASSIFICATION_METRIC_DEFINITIONS, "validation:accuracy", out
    )
    job["data"] = {
        "train_images": len(train_records),
        "validation_images": len(validation),
        "generate_seconds": round(data_seconds, 3),
    }
    return _finish(
        "classification",
        job,
        report,
        lambda: _serve_classifier(
            root / "model", [r.path for r in validation], [r.label for r in validation], sizes.requests
        ),
    )


def _detection(work: Path, out: Path, sizes: Sizes, report: dict[str, Any]) -> bool:
    from gtpipe_shared.metric_definitions import DETECTION_METRIC_DEFINITIONS

    from training.contracts import DETECTION_DEMO_HYPERPARAMETERS
    from training.detection import train
    from training.scenes import SCENE_CLASSES, write_scene_channel, write_scenes

    started = time.perf_counter()
    source = work / "scenes-source"
    train_scenes = write_scenes(source, sizes.scenes_train, seed=0)
    validation = write_scenes(source, sizes.scenes_validation, seed=0, start=sizes.scenes_train)
    root = work / "detection"
    write_scene_channel(train_scenes, root / "input" / "data" / "train", "train.manifest")
    write_scene_channel(validation, root / "input" / "data" / "validation", "validation.manifest")
    data_seconds = time.perf_counter() - started
    hps = _short_run(
        DETECTION_DEMO_HYPERPARAMETERS,
        sizes.detection_epochs,
        num_classes=str(len(SCENE_CLASSES)),
        num_training_samples=str(len(train_scenes)),
    )
    job = _run_job("detection", train.main, root, hps, DETECTION_METRIC_DEFINITIONS, "validation:mAP", out)
    job["data"] = {
        "train_scenes": len(train_scenes),
        "validation_scenes": len(validation),
        "validation_boxes": sum(len(r.objects) for r in validation),
        "generate_seconds": round(data_seconds, 3),
    }
    return _finish(
        "detection",
        job,
        report,
        lambda: _serve_detector(
            root / "model", [r.path for r in validation], [len(r.objects) for r in validation], sizes.requests
        ),
    )


def _finish(
    name: str, job: dict[str, Any], report: dict[str, Any], serve: Callable[[], dict[str, Any]]
) -> bool:
    """Record ``job`` as ``report[name]``, serve its model when it trained, say so on stderr: whether both
    went well (a serving error is reported in ``job["inference"]``; the other job still runs)."""
    report[name] = job
    ok = job["exit_code"] == 0 and job["model_artifact_exists"]
    if ok:
        try:
            job["inference"] = serve()
        except Exception as exc:  # report it; the run fails
            job["inference"] = {"error": f"{type(exc).__name__}: {exc}"}
            ok = False
    print(f"{name}: exit {job['exit_code']}, {job['wall_seconds']} s on {job.get('device')}", file=sys.stderr)
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cuda_smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for cuda_smoke.json and the job logs")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--quick", action="store_true", help="less data and fewer epochs")
    args = parser.parse_args(argv)

    if args.device == "cpu":
        if "torch" in sys.modules:
            parser.error("--device cpu must be chosen before torch is imported")
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    # As training.epochs.configure_torch sets it, but before this process first touches CUDA.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import training  # noqa: F401 - sets OMP_WAIT_POLICY before torch's first import

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    report: dict[str, Any] = {
        "requested_device": args.device,
        "quick": args.quick,
        "environment": _cuda_facts(),
    }
    ok = True
    if args.device == "cuda" and not report["environment"]["cuda_available"]:
        report["error"] = "--device cuda but torch.cuda.is_available() is False; nothing was trained"
        ok = False
    else:
        with tempfile.TemporaryDirectory(prefix="cuda-smoke-") as scratch:
            work = Path(scratch)
            for name, stage in (("classification", _classification), ("detection", _detection)):
                try:
                    ok = stage(work, out, sizes, report) and ok
                except Exception as exc:  # e.g. data generation: still write the report
                    report.setdefault(name, {})["error"] = f"{type(exc).__name__}: {exc}"
                    ok = False
        for name in ("classification", "detection"):
            used = [report[name].get("device"), report[name].get("inference", {}).get("device", "")]
            if not all(str(d).startswith(args.device) for d in used):
                report.setdefault("device_mismatch", []).append(f"{name}: {used}")
                ok = False
    report["total_seconds"] = round(time.perf_counter() - started, 3)
    report["ok"] = ok
    text = json.dumps(report, indent=2)
    (out / "cuda_smoke.json").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
