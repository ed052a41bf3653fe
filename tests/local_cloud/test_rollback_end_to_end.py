"""``gtpipe deploy --package ARN`` on the local cloud, end to end (slow: real training, transform, hosting).

Two runs of one label set register versions 1 and 2 (approval auto), and version 2 serves. ``gtpipe deploy
--package <v1>`` (the CLI, against the local cloud) starts a rollback execution: the registry function (its own
role, IAM enforced from the template) prepares it, the state machine (its role) creates a model from v1's
container and deploys it blue/green through the endpoint lock, and ``@serving`` and the prediction API then
name v1's run. Refusals: a rejected version (exit 8) and a version that does not exist (exit 3).
"""

from __future__ import annotations

import io
import time
from typing import Any

import pytest

from gtpipe_cli.errors import Exit
from gtpipe_cli.main import main as gtpipe
from gtpipe_cli.progress import get_run
from local.drivers.client import PredictionApi
from tests.local_cloud.conftest import Dataset, follow_dropped, jsonl
from training.datasets import augmented_manifest_line

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 420.0


def run_to_success(cloud: Any, dataset: Dataset, key: str) -> dict[str, Any]:
    lines = [augmented_manifest_line(r, "category", job_name="prelabeled") for r in dataset.labeled]
    put = cloud.client("s3").put_object(Bucket=dataset.bucket, Key=key, Body=jsonl(lines))
    progress = follow_dropped(cloud, key, put.get("VersionId"), timeout=RUN_TIMEOUT)
    assert progress.run_status == "SUCCEEDED", progress.run
    return dict(progress.run or {})


def cli(cloud: Any, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = gtpipe(["--local", "--state-dir", str(cloud.state_dir), *args], stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def predicting_run(cloud: Any, image: bytes, *, other_than: str) -> str:
    """The run the prediction API names, once it names another than ``other_than`` (predict caches
    ``@serving`` for SERVING_CACHE_SECONDS, 5); the last answer's after 30 s."""
    deadline = time.monotonic() + 30.0
    while True:
        response = PredictionApi(cloud.outputs).request(image, "image/png")
        assert response.status == 200, response.body
        run_id = str(response.json()["model"]["run_id"])
        if run_id != other_than or time.monotonic() > deadline:
            return run_id
        time.sleep(0.5)


def serving(cloud: Any) -> dict[str, Any]:
    return get_run(cloud.client("dynamodb"), cloud.outputs["RunsTableName"], "@serving") or {}


def test_deploy_package_rolls_the_endpoint_back_to_the_first_version(cloud: Any, dataset: Dataset) -> None:
    cloud.write_outputs()  # what `gtpipe --local` reads
    # Given two runs of one label set: v1, then v2 serving
    first = run_to_success(cloud, dataset, "incoming/versions-a.jsonl")
    second = run_to_success(cloud, dataset, "incoming/versions-b.jsonl")
    v1, v2 = first["model_package"]["arn"], second["model_package"]["arn"]
    assert v1.endswith("/1") and v2.endswith("/2")
    assert serving(cloud)["source_run_id"] == second["run_id"]
    image = dataset.holdout[0].path.read_bytes()
    assert (
        PredictionApi(cloud.outputs).request(image, "image/png").json()["model"]["run_id"] == second["run_id"]
    )

    # When v1 is deployed with the CLI
    code, said = cli(cloud, "deploy", "--package", v1, "--timeout", str(RUN_TIMEOUT))

    # Then the endpoint serves v1's model: the endpoint config's model is made of v1's model data
    assert code == Exit.OK, said
    record = serving(cloud)
    assert record["source_run_id"] == first["run_id"]
    assert record["model_package_arn"] == v1
    sagemaker = cloud.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=cloud.outputs["EndpointName"])
    assert endpoint["EndpointConfigName"] == record["endpoint_config_name"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    package = sagemaker.describe_model_package(ModelPackageName=v1)
    assert (
        model["PrimaryContainer"]["ModelDataUrl"]
        == package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    )
    # and predictions name v1's run (once predict's 5-second cache of @serving has expired)
    assert predicting_run(cloud, image, other_than=second["run_id"]) == first["run_id"]
    # and the ledger records the rollback, what it deployed and what it replaced
    rollback = get_run(cloud.client("dynamodb"), cloud.outputs["RunsTableName"], record["deployed_by_run_id"])
    assert rollback is not None and rollback["status"] == "SUCCEEDED", rollback
    assert rollback["manifest_kind"] == "rollback"
    assert rollback["rollback"]["package_arn"] == v1
    assert rollback["rollback"]["source_run_id"] == first["run_id"]
    assert rollback["rollback"]["replaced"]["source_run_id"] == second["run_id"]

    # Given v2 rejected after the fact / When deploying it / Then refused (exit 8), nothing changes
    sagemaker.update_model_package(ModelPackageArn=v2, ModelApprovalStatus="Rejected")
    code, said = cli(cloud, "deploy", "--package", v2)
    assert code == Exit.DEPLOY_REFUSED, said
    assert "Rejected" in said
    # and a version that does not exist is unknown (exit 3)
    code, said = cli(cloud, "deploy", "--package", v1.rsplit("/", 1)[0] + "/99")
    assert code == Exit.UNKNOWN_RUN, said
    assert serving(cloud)["source_run_id"] == first["run_id"]
