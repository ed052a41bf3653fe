"""Benchmark: gtpipe:trainingAlgorithm builtin (the local stand-in) vs pytorch, side by side on the digits demo.

    .venv/bin/python -m bench algorithms      (or: .venv/bin/python -m bench.algorithms_bench)

Both jobs go through the local SageMaker (moto's S3 in process) with the pipeline's Train request shape:
augmented-manifest channels in Pipe mode, ``DEMO_HYPERPARAMETERS`` on all 1,797 digits (80 % train, 20 %
validation, class-balanced, as ``bench.training_bench``).

* builtin: the built-in image-classification image; the local SageMaker runs ``python -m training.train``
  with the channels as files (its stand-in for the built-in algorithm).
* pytorch: the PyTorch training image with the stack's source archive (``sourcedir.tar.gz``: training/ and
  ``gtpipe_entry.py``) as ``sagemaker_submit_directory``; the job extracts it, reads the Pipe-mode RecordIO
  stream (image, label, label metadata) and trains with the same code.

Figures: validation accuracy (the job's ``validation:accuracy`` metric), job seconds (CreateTrainingJob to
Completed: download, training, upload), model.tar.gz bytes, and the source archive's bytes. Target: the
pytorch path's accuracy >= the stand-in's.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import print_figures, use_fake_aws_credentials
from bench.training_bench import _split
from local.sagemaker.training_job import pipe_manifest_channel
from training import DEMO_HYPERPARAMETERS
from training.datasets import augmented_manifest_line, write_digits_dataset

BUCKET = "bench-algorithms"
REGION = "us-east-1"
BUILTIN_IMAGE = f"811284229777.dkr.ecr.{REGION}.amazonaws.com/image-classification:1"
PYTORCH_IMAGE = f"763104351884.dkr.ecr.{REGION}.amazonaws.com/pytorch-training:2.6.0-cpu-py312"
ROLE = "arn:aws:iam::123456789012:role/bench-sagemaker"
TIMEOUT = 900.0


def _request(name: str, image: str, hyperparameters: dict[str, str], attributes: list[str]) -> dict[str, Any]:
    """CreateTrainingJob as the pipeline's Train state sends it (Pipe-mode augmented manifests)."""
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "Pipe"},
        "RoleArn": ROLE,
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            pipe_manifest_channel(channel, f"s3://{BUCKET}/splits/{channel}.manifest", attributes)
            for channel in ("train", "validation")
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def _run(backend: Any, s3: Any, request: dict[str, Any]) -> dict[str, object]:
    """Run one job to its end; its accuracy, seconds and model size."""
    name = request["TrainingJobName"]
    started = time.perf_counter()
    backend.create_training_job(request)
    described = backend.wait_for_job("training", name, timeout=TIMEOUT)
    seconds = time.perf_counter() - started
    if described["TrainingJobStatus"] != "Completed":
        raise RuntimeError(f"{name}: {described['TrainingJobStatus']}: {described.get('FailureReason')}")
    metrics = {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList", [])}
    key = described["ModelArtifacts"]["S3ModelArtifacts"].removeprefix(f"s3://{BUCKET}/")
    return {
        "validation accuracy": round(float(metrics["validation:accuracy"]), 4),
        "job seconds": round(seconds, 1),
        "model.tar.gz bytes": s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"],
    }


def main() -> dict[str, object]:
    """Measure and return the figures (both jobs in one run, one after the other)."""
    use_fake_aws_credentials()  # moto's in-process S3, never a real account
    import boto3
    from gtpipe_shared.metric_definitions import METRIC_DEFINITIONS
    from gtpipe_shared.tasks import TaskType
    from moto import mock_aws

    from infra.constructs.pytorch_algorithm import source_files, sourcedir_archive
    from local.sagemaker import LocalSageMaker

    lock = threading.Lock()
    workdir = Path(tempfile.mkdtemp(prefix="gtpipe-bench-algorithms-"))
    figures: dict[str, object] = {}
    with mock_aws():

        def s3_client() -> Any:
            with lock:  # boto3 sessions are not thread-safe; job threads make their clients through this
                return boto3.client("s3", region_name=REGION)

        s3 = s3_client()
        s3.create_bucket(Bucket=BUCKET)
        records = write_digits_dataset(workdir / "digits", bucket=BUCKET, holdout_fraction=0.0, seed=0)
        for record in records:
            s3.upload_file(str(record.path), BUCKET, record.source_ref.removeprefix(f"s3://{BUCKET}/"))
        train, validation = _split(records)
        for channel, part in (("train", train), ("validation", validation)):
            lines = [json.dumps(augmented_manifest_line(r, "category", "bench")) for r in part]
            s3.put_object(Bucket=BUCKET, Key=f"splits/{channel}.manifest", Body="\n".join(lines) + "\n")
        archive = sourcedir_archive(source_files(TaskType.IMAGE_CLASSIFICATION.value))
        s3.put_object(Bucket=BUCKET, Key="code/sourcedir.tar.gz", Body=archive)
        hyperparameters = {
            **DEMO_HYPERPARAMETERS,
            "num_classes": "10",
            "num_training_samples": str(len(train)),
        }
        backend = LocalSageMaker(s3_client, workdir / "work", lambda *_: None, region=REGION)
        try:
            builtin = _run(
                backend,
                s3,
                _request("bench-builtin", BUILTIN_IMAGE, hyperparameters, ["source-ref", "category"]),
            )
            pytorch_request = _request(
                "bench-pytorch",
                PYTORCH_IMAGE,
                {
                    **hyperparameters,
                    "sagemaker_program": json.dumps("gtpipe_entry.py"),
                    "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/code/sourcedir.tar.gz"),
                },
                ["source-ref", "category", "category-metadata"],
            )
            pytorch_request["AlgorithmSpecification"]["MetricDefinitions"] = METRIC_DEFINITIONS[
                TaskType.IMAGE_CLASSIFICATION
            ]
            pytorch = _run(backend, s3, pytorch_request)
        finally:
            backend.shutdown()
    figures["training images"] = len(train)
    figures["validation images"] = len(validation)
    for name, values in (("builtin stand-in", builtin), ("pytorch", pytorch)):
        for figure, value in values.items():
            figures[f"{name} {figure}"] = value
    figures["pytorch source archive bytes"] = len(archive)
    accuracies = [float(str(values["validation accuracy"])) for values in (builtin, pytorch)]
    figures["pytorch accuracy >= builtin stand-in's"] = accuracies[1] >= accuracies[0]
    return figures


if __name__ == "__main__":
    print_figures(main())
