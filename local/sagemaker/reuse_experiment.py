"""Does labeling with a reused model pay? Ground Truth's seed experiment, on the local SageMaker.

Seed 001 labels a first dataset with automated labeling, then labels a second dataset twice: once
starting from the first job's model (``InitialActiveLearningModelArn`` = its
``FinalActiveLearningModelArn``) and once without (the control). This module does the same with
scikit-learn's digits (image classification), in moto, and counts the human labels each job needed::

    .venv/bin/python -m local.sagemaker.reuse_experiment --first 1000 --second 600

Job A labels ``first`` digits with automated labeling; job B (reuse) and job C (control) label the
next ``second`` digits with the same settings. The digits of the two datasets are disjoint.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from training.datasets import DigitRecord, label_categories, write_digits_dataset

from .service import LocalSageMaker
from .workforce import WorkforceSettings

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "reuse-experiment"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/labeling"
ALGORITHM_SPEC = (
    f"arn:aws:sagemaker:{REGION}:027400017018:labeling-job-algorithm-specification/image-classification"
)
PRE = f"arn:aws:lambda:{REGION}:432418664414:function:PRE-ImageMultiClass"
ACS = f"arn:aws:lambda:{REGION}:432418664414:function:ACS-ImageMultiClass"
FAST_HYPERPARAMETERS: Mapping[str, str] = {
    "image_shape": "1,16,16",
    "num_layers": "18",
    "epochs": "15",
    "mini_batch_size": "32",
    "learning_rate": "0.05",
}
"""Training settings of the automated labeling models: 16x16 grey digits, a few epochs."""


def labeling_request(
    name: str,
    manifest_uri: str,
    categories_uri: str,
    *,
    initial_model_arn: str | None = None,
    workers: int = 3,
    concurrency: int = 100,
) -> dict[str, Any]:
    """A CreateLabelingJob request with automated data labeling (image classification)."""
    algorithms: dict[str, Any] = {"LabelingJobAlgorithmSpecificationArn": ALGORITHM_SPEC}
    if initial_model_arn:
        algorithms["InitialActiveLearningModelArn"] = initial_model_arn
    return {
        "LabelingJobName": name,
        "LabelAttributeName": "category",
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": manifest_uri}}},
        "OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/labeling/"},
        "RoleArn": ROLE,
        "LabelCategoryConfigS3Uri": categories_uri,
        "LabelingJobAlgorithmsConfig": algorithms,
        "HumanTaskConfig": {
            "WorkteamArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/labelers",
            "UiConfig": {"UiTemplateS3Uri": f"s3://{BUCKET}/labeling/template.liquid"},
            "PreHumanTaskLambdaArn": PRE,
            "TaskTitle": "Which digit?",
            "TaskDescription": "Pick the digit shown",
            "NumberOfHumanWorkersPerDataObject": workers,
            "TaskTimeLimitInSeconds": 300,
            "MaxConcurrentTaskCount": concurrency,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": ACS},
        },
    }


@dataclass
class JobOutcome:
    """One labeling job's DescribeLabelingJob response, output lines and wall time."""

    name: str
    described: dict[str, Any]
    lines: list[dict[str, Any]]
    seconds: float

    @property
    def counters(self) -> dict[str, int]:
        """``LabelCounters``."""
        return dict(self.described["LabelCounters"])

    def accuracy(self, truth: Mapping[str, int], *, human: bool | None = None) -> float:
        """Share of (human or machine, or all) labels equal to the truth (NaN when there are none)."""
        wanted = {True: "yes", False: "no"}.get(human) if human is not None else None
        picked = [
            line
            for line in self.lines
            if "category" in line
            and (wanted is None or line["category-metadata"]["human-annotated"] == wanted)
        ]
        if not picked:
            return float("nan")
        return sum(line["category"] == truth[line["source-ref"]] for line in picked) / len(picked)


@dataclass
class ReuseMeasurement:
    """The three jobs of the experiment (see the module docstring)."""

    first: JobOutcome
    reuse: JobOutcome
    control: JobOutcome
    truth: dict[str, int] = field(default_factory=dict)

    @property
    def saving(self) -> float:
        """1 - human labels with reuse / human labels of the control."""
        return 1.0 - self.reuse.counters["HumanLabeled"] / max(1, self.control.counters["HumanLabeled"])

    def summary(self) -> str:
        """A small table of the counters, accuracies and times."""
        rows = [
            f"{'job':<10}{'objects':>8}{'human':>7}{'machine':>8}{'failed':>7}{'acc(all)':>9}"
            f"{'acc(machine)':>13}{'seconds':>9}"
        ]
        for label, job in (("A first", self.first), ("B reuse", self.reuse), ("C control", self.control)):
            counters = job.counters
            rows.append(
                f"{label:<10}{len(job.lines):>8}{counters['HumanLabeled']:>7}{counters['MachineLabeled']:>8}"
                f"{counters['FailedNonRetryableError']:>7}{job.accuracy(self.truth):>9.3f}"
                f"{job.accuracy(self.truth, human=False):>13.3f}{job.seconds:>9.1f}"
            )
        rows.append(f"human labels saved by reusing job A's model: {self.saving:.1%}")
        return "\n".join(rows)


def run_job(backend: LocalSageMaker, s3: Any, request: dict[str, Any], timeout: float) -> JobOutcome:
    """Run one labeling job to its end; returns its outcome (its output lines when Completed)."""
    started = time.monotonic()
    backend.create_labeling_job(request)
    described = backend.wait_for_job("labeling", request["LabelingJobName"], timeout=timeout)
    lines: list[dict[str, Any]] = []
    output = described.get("LabelingJobOutput", {}).get("OutputDatasetS3Uri")
    if output:
        bucket, _, key = output[len("s3://") :].partition("/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    return JobOutcome(request["LabelingJobName"], described, lines, time.monotonic() - started)


def upload(s3: Any, records: Sequence[DigitRecord], key: str) -> str:
    """Upload the images (once) and an input manifest of them; returns the manifest's URI."""
    for record in records:
        s3.upload_file(str(record.path), BUCKET, record.source_ref[len(f"s3://{BUCKET}/") :])
    body = "".join(json.dumps({"source-ref": r.source_ref}) + "\n" for r in records)
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode("utf-8"))
    return f"s3://{BUCKET}/{key}"


def measure_model_reuse(
    backend: LocalSageMaker,
    s3: Any,
    data_dir: Path,
    *,
    first: int,
    second: int,
    settings: WorkforceSettings,
    workers: int = 3,
    concurrency: int = 100,
    timeout: float = 1800.0,
) -> ReuseMeasurement:
    """Run jobs A, B and C (see the module docstring) on ``backend`` (with its model store wired) and an
    S3 client ``s3`` of the same cloud, whose bucket ``BUCKET`` must exist."""
    records = write_digits_dataset(data_dir, bucket=BUCKET, holdout_fraction=0.0, seed=7, image_size=16)
    if first + second > len(records):
        raise ValueError(f"first + second must be at most {len(records)} (the digits available)")
    dataset_a, dataset_b = records[:first], records[first : first + second]
    reference = data_dir / "reference.jsonl"
    reference.write_text(
        "".join(json.dumps({"source-ref": r.source_ref, "label": r.label}) + "\n" for r in records)
    )
    backend.workforce = replace(settings, reference_labels=reference)
    s3.put_object(Bucket=BUCKET, Key="labeling/categories.json", Body=json.dumps(label_categories()).encode())
    categories = f"s3://{BUCKET}/labeling/categories.json"
    manifest_a = upload(s3, dataset_a, "incoming/first.manifest")
    manifest_b = upload(s3, dataset_b, "incoming/second.manifest")

    def request(name: str, manifest: str, initial: str | None = None) -> dict[str, Any]:
        return labeling_request(
            name, manifest, categories, initial_model_arn=initial, workers=workers, concurrency=concurrency
        )

    job_a = run_job(backend, s3, request("first-auto", manifest_a), timeout)
    model_arn = job_a.described.get("LabelingJobOutput", {}).get("FinalActiveLearningModelArn")
    if not model_arn:
        raise RuntimeError(
            f"job A produced no FinalActiveLearningModelArn: {job_a.described.get('FailureReason', job_a.counters)}"
        )
    job_b = run_job(backend, s3, request("second-reuse", manifest_b, model_arn), timeout)
    job_c = run_job(backend, s3, request("second-control", manifest_b), timeout)
    return ReuseMeasurement(job_a, job_b, job_c, {r.source_ref: r.label for r in records})


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the experiment in moto and print the human-label counts."""
    import boto3
    from moto import mock_aws

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--first", type=int, default=1000, help="objects of dataset 1 (job A)")
    parser.add_argument("--second", type=int, default=600, help="objects of dataset 2 (jobs B and C)")
    parser.add_argument("--batch", type=int, default=100, help="objects people label per iteration")
    parser.add_argument("--validation", type=int, default=100, help="human-labeled validation sample")
    parser.add_argument("--min-objects", type=int, default=100, help="auto_labeling_min_objects")
    parser.add_argument("--rounds", type=int, default=3, help="auto_labeling_max_rounds")
    parser.add_argument("--epochs", type=int, default=15, help="epochs of each model training")
    parser.add_argument("--error-rate", type=float, default=0.1, help="a worker's error rate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = WorkforceSettings(
        error_rate=args.error_rate,
        seed=args.seed,
        auto_labeling_min_objects=args.min_objects,
        auto_labeling_batch_size=args.batch,
        auto_labeling_validation_size=args.validation,
        auto_labeling_max_rounds=args.rounds,
        auto_labeling_hyperparameters={**FAST_HYPERPARAMETERS, "epochs": str(args.epochs)},
    )
    session = boto3.Session(region_name=REGION)
    lock = threading.Lock()

    def s3_client() -> Any:
        with lock:
            return session.client("s3", region_name=REGION)

    with tempfile.TemporaryDirectory() as scratch, mock_aws():
        s3 = s3_client()
        s3.create_bucket(Bucket=BUCKET)
        backend = LocalSageMaker(s3_client, Path(scratch) / "work", region=REGION, account_id=ACCOUNT)
        with backend:
            started = time.monotonic()
            result = measure_model_reuse(
                backend, s3, Path(scratch) / "data", first=args.first, second=args.second, settings=settings
            )
            print(result.summary())
            print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
