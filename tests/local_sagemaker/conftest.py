"""Fixtures: moto with a LocalSageMaker, demo digits, and one model trained once per session."""

from __future__ import annotations

import json
import tarfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.sagemaker import LocalSageMaker, install_sagemaker_api
from local.sagemaker.training_job import pipe_manifest_channel
from training import train
from training.artifact import package_model
from training.datasets import DigitRecord, augmented_manifest_line, label_categories, write_digits_dataset

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "demo-bucket"
IMAGE = f"811284229777.dkr.ecr.{REGION}.amazonaws.com/image-classification:1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/gtpipe-sagemaker"

# Small enough to train in seconds on two cores, big enough to be a real run.
TINY_HYPERPARAMETERS = {
    "num_classes": "10",
    "image_shape": "1,16,16",
    "num_layers": "18",
    "epochs": "1",
    "mini_batch_size": "16",
    "learning_rate": "0.05",
    "seed": "0",
}


@pytest.fixture(scope="session")
def boto_session() -> boto3.Session:
    # One session: its loader caches service models (mock_aws resets boto3's default session).
    return boto3.Session(region_name=REGION)


def _write_digits(tmp_path_factory: pytest.TempPathFactory, limit: int) -> list[DigitRecord]:
    """``limit`` class-balanced 16x16 demo digits (PNG) in a new folder, none held out."""
    folder = tmp_path_factory.mktemp(f"digits-{limit}")
    return write_digits_dataset(
        folder, bucket=BUCKET, limit=limit, holdout_fraction=0.0, seed=3, image_size=16
    )


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> list[DigitRecord]:
    """200 class-balanced 16x16 demo digits (PNG), written once."""
    return _write_digits(tmp_path_factory, 200)


@pytest.fixture(scope="session")
def digits_400(tmp_path_factory: pytest.TempPathFactory) -> list[DigitRecord]:
    """400 class-balanced 16x16 demo digits (PNG), written once: enough for automated labeling's model
    to be clearly right about its most confident objects (see tests/local_sagemaker/test_auto_labeling.py)."""
    return _write_digits(tmp_path_factory, 400)


@pytest.fixture(scope="session")
def model_tar(tmp_path_factory: pytest.TempPathFactory, digits: list[DigitRecord]) -> Path:
    """A model.tar.gz trained once, in-process, on 60 digits (for transform and endpoint tests)."""
    from training.datasets import write_channel

    root = tmp_path_factory.mktemp("model")
    data = root / "input" / "data"
    write_channel(digits[:60], data / "train", "train.manifest")
    write_channel(digits[60:80], data / "validation", "validation.manifest")
    hyperparameters = {**TINY_HYPERPARAMETERS, "epochs": "2", "num_training_samples": "60"}
    env = {
        "SM_HPS": json.dumps(hyperparameters),
        "SM_INPUT_DIR": str(root / "input"),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
    }
    assert train.main(argv=[], environ=env) == 0, (root / "output" / "failure").read_text()
    return package_model(root / "model", root / "model.tar.gz")


@pytest.fixture(scope="session")
def broken_model_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model.tar.gz that is a valid archive but not a model (model_fn fails on it)."""
    root = tmp_path_factory.mktemp("broken")
    (root / "README.txt").write_text("not a model")
    target = root / "model.tar.gz"
    with tarfile.open(target, "w:gz") as tar:
        tar.add(root / "README.txt", arcname="README.txt")
    return target


Event = tuple[str, dict[str, Any], list[str]]


@dataclass
class Cloud:
    """moto S3 plus a LocalSageMaker whose events are recorded."""

    session: boto3.Session
    s3: Any
    backend: LocalSageMaker
    events: list[Event] = field(default_factory=list)
    uploaded: set[str] = field(default_factory=set)

    def client(self, service: str, **kwargs: Any) -> Any:
        return self.session.client(service, region_name=REGION, **kwargs)

    def put(self, key: str, body: bytes | str) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return f"s3://{BUCKET}/{key}"

    def upload_images(self, records: Sequence[DigitRecord]) -> None:
        for record in records:
            if record.source_ref not in self.uploaded:
                self.s3.upload_file(str(record.path), BUCKET, record.source_ref[len(f"s3://{BUCKET}/") :])
                self.uploaded.add(record.source_ref)

    def augmented_manifest(self, records: Sequence[DigitRecord], key: str) -> str:
        """Upload the images and an augmented manifest of them; returns the manifest's URI."""
        self.upload_images(records)
        lines = [json.dumps(augmented_manifest_line(r, "category", "seed-job")) for r in records]
        return self.put(key, "\n".join(lines) + "\n")

    def label_categories(self, key: str = "labeling/categories.json") -> str:
        return self.put(key, json.dumps(label_categories()))

    def events_of(self, detail_type: str) -> list[Event]:
        assert self.backend.flush_events(10), "events were not delivered in time"
        return [event for event in self.events if event[0] == detail_type]

    def read(self, uri: str) -> bytes:
        bucket, _, key = uri[len("s3://") :].partition("/")
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def keys(self, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture
def cloud(boto_session: boto3.Session, tmp_path: Path) -> Iterator[Cloud]:
    """A fresh mock_aws (Step Functions execution enabled) with a bucket and a LocalSageMaker."""
    lock = threading.Lock()

    def s3_client() -> Any:
        # boto3 sessions are not thread-safe; job threads create their clients through this lock.
        with lock:
            return boto_session.client("s3", region_name=REGION)

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = s3_client()
        s3.create_bucket(Bucket=BUCKET)
        events: list[Event] = []
        backend = LocalSageMaker(
            s3_client,
            tmp_path / "work",
            lambda detail_type, detail, resources: events.append((detail_type, detail, resources)),
            region=REGION,
            account_id=ACCOUNT,
            stop_grace_seconds=2.0,
        )
        try:
            yield Cloud(boto_session, s3, backend, events)
        finally:
            # Jobs must end while moto is still mocking: a thread outliving mock_aws would reach for AWS.
            backend.shutdown()


@pytest.fixture
def api(cloud: Cloud) -> Iterator[Cloud]:
    """``cloud`` with boto3's sagemaker and sagemaker-runtime routed to its backend."""
    with install_sagemaker_api(cloud.backend):
        yield cloud


def training_request(
    name: str,
    train_uri: str,
    validation_uri: str,
    *,
    hyperparameters: dict[str, str] | None = None,
    max_runtime: int = 600,
    image: str = IMAGE,
) -> dict[str, Any]:
    """A CreateTrainingJob request shaped like the pipeline's Train state."""
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "Pipe"},
        "RoleArn": ROLE,
        "HyperParameters": hyperparameters or {**TINY_HYPERPARAMETERS, "num_training_samples": "40"},
        "InputDataConfig": [
            pipe_manifest_channel("train", train_uri, ["source-ref", "category"]),
            pipe_manifest_channel("validation", validation_uri, ["source-ref", "category"]),
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
        "EnableInterContainerTrafficEncryption": True,
        "Tags": [{"Key": "gtpipe:run-id", "Value": "demo-0123456789abcdef"}],
    }


def create_model(cloud: Cloud, name: str, tar: Path, key: str | None = None) -> str:
    """Upload a model.tar.gz and CreateModel it through the backend; returns the model name."""
    uri = cloud.put(key or f"models/{name}/model.tar.gz", tar.read_bytes())
    cloud.backend.create_model(
        {
            "ModelName": name,
            "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": uri},
            "ExecutionRoleArn": ROLE,
        }
    )
    return name


def endpoint_config(cloud: Cloud, name: str, model_name: str) -> str:
    cloud.backend.create_endpoint_config(
        {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model_name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.xlarge",
                    "InitialVariantWeight": 1.0,
                }
            ],
        }
    )
    return name
