"""Benchmark: hyperparameter tuning on the local SageMaker versus the default hyperparameters.

    .venv/bin/python -m bench tuning          (or python -m bench.tuning_bench)

The demo digits (600 images, 32x32, 80% train / 20% validation, class-balanced) on moto's S3, trained by the
local SageMaker exactly as a pipeline run does (``python -m training.train`` subprocesses, Pipe-mode
augmented-manifest channels). The defaults are deliberately poor: ``DEMO_HYPERPARAMETERS`` with a tiny learning
rate (0.0005) and 4 epochs. Side by side, in one process:

* default: one CreateTrainingJob with those hyperparameters;
* tuned: one CreateHyperParameterTuningJob, 6 trials, 1 at a time (2 cores), Random strategy with seed 0,
  ``learning_rate`` in [0.001, 0.3] (logarithmic) and ``mini_batch_size`` in {16, 32, 64}, the other
  hyperparameters static (the defaults').

Target (issue 19): the best trial's validation accuracy >= the default's + 5 points. Figures: each trial's
accuracy, the default's, the gain, and wall times.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import print_figures, use_fake_aws_credentials
from local.sagemaker.training_job import pipe_manifest_channel
from training import DEMO_HYPERPARAMETERS

IMAGES = 600
VALIDATION_EVERY = 5  # every fifth image of a class validates
BUCKET = "bench-tuning"
REGION = "us-east-1"
IMAGE = f"811284229777.dkr.ecr.{REGION}.amazonaws.com/image-classification:1"
ROLE = "arn:aws:iam::123456789012:role/bench"
POOR = {**DEMO_HYPERPARAMETERS, "learning_rate": "0.0005", "epochs": "4", "lr_scheduler_step": "3"}
TRIALS = 6
TARGET_GAIN_POINTS = 5.0
RANGES: dict[str, list[dict[str, Any]]] = {
    "ContinuousParameterRanges": [
        {"Name": "learning_rate", "MinValue": "0.001", "MaxValue": "0.3", "ScalingType": "Logarithmic"}
    ],
    "CategoricalParameterRanges": [{"Name": "mini_batch_size", "Values": ["16", "32", "64"]}],
}


def _upload(s3: Any, workdir: Path) -> tuple[str, str, int]:
    """The digits as PNGs and two augmented manifests in S3; returns their URIs and the training count."""
    import json

    from training.datasets import augmented_manifest_line, write_digits_dataset

    records = write_digits_dataset(
        workdir / "digits", bucket=BUCKET, prefix="images", holdout_fraction=0.0, limit=IMAGES, seed=0
    )
    seen: dict[int, int] = {}
    splits: dict[str, list[str]] = {"train": [], "validation": []}
    for record in records:
        s3.upload_file(str(record.path), BUCKET, record.source_ref[len(f"s3://{BUCKET}/") :])
        position = seen[record.label] = seen.get(record.label, -1) + 1
        split = "validation" if position % VALIDATION_EVERY == VALIDATION_EVERY - 1 else "train"
        splits[split].append(json.dumps(augmented_manifest_line(record, "category", "bench")))
    for split, lines in splits.items():
        s3.put_object(Bucket=BUCKET, Key=f"splits/{split}.manifest", Body="\n".join(lines) + "\n")
    return (
        f"s3://{BUCKET}/splits/train.manifest",
        f"s3://{BUCKET}/splits/validation.manifest",
        len(splits["train"]),
    )


def _definition(train_uri: str, validation_uri: str) -> dict[str, Any]:
    return {
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "Pipe"},
        "RoleArn": ROLE,
        "InputDataConfig": [
            pipe_manifest_channel("train", train_uri, ["source-ref", "category"]),
            pipe_manifest_channel("validation", validation_uri, ["source-ref", "category"]),
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
    }


def _accuracy(job: dict[str, Any]) -> float | None:
    for metric in job.get("FinalMetricDataList", []):
        if metric["MetricName"] == "validation:accuracy":
            return float(metric["Value"])
    return None


def _figures(
    train_count: int,
    default: dict[str, Any],
    default_seconds: float,
    tuning: dict[str, Any],
    tuning_seconds: float,
    trials: list[dict[str, Any]],
) -> dict[str, object]:
    """The benchmark's printed figures: the default run, each trial, and the best trial's gain."""
    default_accuracy = _accuracy(default) or 0.0
    figures: dict[str, object] = {
        "images (train / validation)": f"{train_count} / {IMAGES - train_count}",
        "default hyperparameters": f"learning_rate {POOR['learning_rate']}, mini_batch_size "
        f"{POOR['mini_batch_size']}, epochs {POOR['epochs']}",
        "default validation accuracy": round(default_accuracy, 4),
        "default wall seconds": round(default_seconds, 1),
    }
    for number, trial in enumerate(trials, start=1):
        metric = trial.get("FinalHyperParameterTuningJobObjectiveMetric", {})
        tuned = trial["TunedHyperParameters"]
        figures[
            f"trial {number}: learning_rate {tuned['learning_rate']}, mini_batch_size {tuned['mini_batch_size']}"
        ] = f"{metric.get('Value', float('nan')):.4f} ({trial['TrainingJobStatus']})"
    best = tuning.get("BestTrainingJob", {})
    best_accuracy = float(best.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value", 0.0))
    gain = (best_accuracy - default_accuracy) * 100
    figures.update(
        {
            "tuning status": tuning["HyperParameterTuningJobStatus"],
            "best trial validation accuracy": round(best_accuracy, 4),
            "gain over default (points)": round(gain, 1),
            f"target gain >= {TARGET_GAIN_POINTS:g} points met": gain >= TARGET_GAIN_POINTS,
            f"tuning wall seconds ({TRIALS} trials, 1 at a time)": round(tuning_seconds, 1),
        }
    )
    return figures


def main() -> dict[str, object]:
    """Train the default, then tune; print and return the figures."""
    use_fake_aws_credentials()
    import boto3
    from moto import mock_aws

    from local.sagemaker import LocalSageMaker

    lock = threading.Lock()
    session = boto3.Session(region_name=REGION)

    def s3_client() -> Any:
        with lock:  # boto3 sessions are not thread-safe
            return session.client("s3", region_name=REGION)

    with tempfile.TemporaryDirectory(prefix="bench-tuning-") as tmp, mock_aws():
        workdir = Path(tmp)
        s3 = s3_client()
        s3.create_bucket(Bucket=BUCKET)
        train_uri, validation_uri, train_count = _upload(s3, workdir)
        definition = _definition(train_uri, validation_uri)
        computed = {"num_classes": "10", "num_training_samples": str(train_count)}
        with LocalSageMaker(s3_client, workdir / "work", region=REGION) as sagemaker:
            started = time.perf_counter()
            default_request = {
                "TrainingJobName": "bench-default",
                **definition,
                "HyperParameters": {**POOR, **computed},
            }
            sagemaker.create_training_job(default_request)
            default = sagemaker.wait_for_job("training", "bench-default", timeout=1800)
            default_seconds = time.perf_counter() - started
            if default["TrainingJobStatus"] != "Completed":
                raise RuntimeError(f"default training failed: {default.get('FailureReason')}")
            tuned_names = {item["Name"] for kind in RANGES.values() for item in kind}
            static = {k: v for k, v in {**POOR, **computed}.items() if k not in tuned_names}
            started = time.perf_counter()
            sagemaker.create_hyper_parameter_tuning_job(
                {
                    "HyperParameterTuningJobName": "bench-tuning",
                    "HyperParameterTuningJobConfig": {
                        "Strategy": "Random",
                        "RandomSeed": 0,
                        "HyperParameterTuningJobObjective": {
                            "Type": "Maximize",
                            "MetricName": "validation:accuracy",
                        },
                        "ResourceLimits": {"MaxNumberOfTrainingJobs": TRIALS, "MaxParallelTrainingJobs": 1},
                        "ParameterRanges": RANGES,
                    },
                    "TrainingJobDefinition": {**definition, "StaticHyperParameters": static},
                }
            )
            while True:
                tuning = sagemaker.describe_hyper_parameter_tuning_job(
                    {"HyperParameterTuningJobName": "bench-tuning"}
                )
                if tuning["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
                    break
                time.sleep(1.0)
            tuning_seconds = time.perf_counter() - started
            trials = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
                {"HyperParameterTuningJobName": "bench-tuning", "SortBy": "CreationTime", "MaxResults": 100}
            )["TrainingJobSummaries"]
    figures = _figures(train_count, default, default_seconds, tuning, tuning_seconds, trials)
    print_figures(figures)
    return figures


if __name__ == "__main__":
    main()
