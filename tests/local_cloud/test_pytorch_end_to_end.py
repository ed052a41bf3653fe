"""``gtpipe:trainingAlgorithm`` pytorch on the local cloud, end to end (slow: labeling, training, hosting).

The stack synthesized with the PyTorch containers: the training source archive published as a CDK asset,
the Train state naming the PyTorch training image with ``sagemaker_program`` / ``sagemaker_submit_directory``,
the job running the archive's entry point as the job's role, the model served by the PyTorch inference image
from the artifact's ``code/`` -> batch transform, quality gate, endpoint, HTTPS predictions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.drivers.client import PredictionApi
from local.drivers.runs import RunProgress
from tests.local_cloud.conftest import (
    QUALITY_THRESHOLD,
    Dataset,
    follow_dropped,
    jsonl,
    running_cloud,
    small_context,
)

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 420.0
HELD_OUT_ACCURACY = 0.6


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The test configuration with the PyTorch containers (CPU training instance: the cpu image tag)."""
    context = {
        **small_context(),
        "gtpipe:trainingAlgorithm": "pytorch",
        "gtpipe:training": {"instanceType": "ml.m5.xlarge", "instanceCount": 1, "volumeSizeGb": 50},
    }
    with running_cloud(tmp_path_factory.mktemp("pytorch-cloud"), context, "cdk.out-tests-pytorch") as local:
        yield local


@pytest.fixture(scope="module")
def run(cloud: Any, dataset: Dataset) -> RunProgress:
    """An input manifest of the demo digits, labeled by the simulated workforce, trained with PyTorch."""
    put = cloud.client("s3").put_object(
        Bucket=dataset.bucket,
        Key="incoming/pytorch.manifest",
        Body=jsonl([{"source-ref": r.source_ref} for r in dataset.labeled]),
    )
    progress = follow_dropped(cloud, "incoming/pytorch.manifest", put.get("VersionId"), timeout=RUN_TIMEOUT)
    cloud.wait_idle(30)
    return progress


def test_the_pytorch_container_trains_the_source_asset_and_its_model_is_deployed_and_predicts(
    cloud: Any, dataset: Dataset, run: RunProgress
) -> None:
    # Given the stack synthesized with gtpipe:trainingAlgorithm pytorch / When a run of the digits ends
    record = run.run or {}
    # Then it passed the gate like the built-in's stand-in does
    assert run.run_status == "SUCCEEDED", record.get("failure")
    print(f"[quality] pytorch digits validation accuracy {record['metrics']['metric_value']}")
    assert record["metrics"]["metric_value"] >= QUALITY_THRESHOLD
    sagemaker = cloud.client("sagemaker")
    # And training ran in the PyTorch training image with the source archive the deployment published
    job = sagemaker.describe_training_job(TrainingJobName=record["steps"]["train"]["job_name"])
    assert job["AlgorithmSpecification"]["TrainingImage"].split("/")[-1] == "pytorch-training:2.6.0-cpu-py312"
    source = json.loads(job["HyperParameters"]["sagemaker_submit_directory"])
    bucket, key = source.removeprefix("s3://").split("/", 1)
    assert (
        bucket.startswith("cdk-")
        and cloud.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    )
    assert json.loads(job["HyperParameters"]["sagemaker_program"]) == "gtpipe_entry.py"
    metrics = {m["MetricName"] for m in job["FinalMetricDataList"]}
    assert "validation:accuracy" in metrics
    # And the endpoint serves the model from the PyTorch inference image with the artifact's handlers
    endpoint = sagemaker.describe_endpoint(EndpointName=cloud.outputs["EndpointName"])
    assert endpoint["EndpointStatus"] == "InService"
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    container = model["PrimaryContainer"]
    assert container["Image"].split("/")[-1] == "pytorch-inference:2.6.0-cpu-py312"
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    # And the held-out digits are predicted over HTTPS
    api = PredictionApi(cloud.outputs)
    answers = [(image, api.predict(image.path.read_bytes())) for image in dataset.holdout]
    assert all(response.status == 200 for _, response in answers), [r.body for _, r in answers]
    correct = sum(response.json()["label"] == image.class_name for image, response in answers)
    print(f"[quality] pytorch digits held-out accuracy over HTTPS {correct}/{len(answers)}")
    assert correct / len(answers) >= HELD_OUT_ACCURACY
