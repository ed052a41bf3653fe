"""Manual approval on the local cloud, end to end (slow: real training, transform, hosting).

Given the stacks synthesized with ``gtpipe:approval: manual``, a run whose model passes the gate registers a
pending model package and waits, with nothing deployed; ``gtpipe approve RUN`` (the CLI, against the local
cloud) approves it, the local SageMaker announces the change on EventBridge, the stack's rule invokes the
registry function with its own role, and the run deploys the model, which answers ``POST /predict``. A second
run's package rejected with ``gtpipe reject RUN --reason`` ends that run FAILED at step approval with the
reason, and the endpoint keeps serving the first run's model.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gtpipe_cli.main import main as gtpipe
from gtpipe_cli.progress import execution_history, find_run
from local.drivers.client import PredictionApi
from tests.local_cloud.conftest import Dataset, follow_dropped, jsonl, running_cloud, small_context
from training.datasets import augmented_manifest_line

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 420.0


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The local cloud with the stacks synthesized for manual approval (conftest's ``dataset`` uses it)."""
    context = {**small_context(), "gtpipe:approval": "manual"}
    with running_cloud(tmp_path_factory.mktemp("approval"), context, "cdk.out-approval") as local_cloud:
        local_cloud.write_outputs()  # what `gtpipe --local` reads (make local-up writes it too)
        yield local_cloud


def drop(cloud: Any, dataset: Dataset, key: str) -> tuple[str, str | None]:
    lines = [augmented_manifest_line(r, "category", job_name="prelabeled") for r in dataset.labeled]
    put = cloud.client("s3").put_object(Bucket=dataset.bucket, Key=key, Body=jsonl(lines))
    return key, put.get("VersionId")


def waiting_run(cloud: Any, key: str, version_id: str | None) -> dict[str, Any]:
    """The run of ``key`` once its execution has entered WaitForApproval."""
    dynamodb, sfn = cloud.client("dynamodb"), cloud.client("stepfunctions")
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = find_run(dynamodb, cloud.outputs["RunsTableName"], key, version_id)
        if run and run.get("execution_arn"):
            entered = [
                e["stateEnteredEventDetails"]["name"]
                for e in execution_history(sfn, run["execution_arn"])
                if "stateEnteredEventDetails" in e
            ]
            assert "FailedApproval" not in entered and "PipelineFailed" not in entered, entered
            if "WaitForApproval" in entered:
                return run
        time.sleep(1.0)
    raise AssertionError(f"the run of {key} never waited for approval")


def cli(cloud: Any, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = gtpipe(["--local", "--state-dir", str(cloud.state_dir), *args], stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def endpoint_exists(cloud: Any) -> bool:
    names = [e["EndpointName"] for e in cloud.client("sagemaker").list_endpoints()["Endpoints"]]
    return str(cloud.outputs["EndpointName"]) in names


def test_approve_deploys_the_waiting_model_and_reject_fails_the_next_run(
    cloud: Any, dataset: Dataset
) -> None:
    # Given a run whose model passed the gate
    key, version = drop(cloud, dataset, "incoming/approve-me.jsonl")
    run = waiting_run(cloud, key, version)
    run_id = str(run["run_id"])
    # Then it waits with a pending package and nothing is deployed
    assert run["model_package"]["approval_status"] == "PendingManualApproval"
    arn = run["model_package"]["arn"]
    assert cloud.client("sagemaker").describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == (
        "PendingManualApproval"
    )
    assert not endpoint_exists(cloud)
    # When someone approves it with the CLI
    code, said = cli(cloud, "approve", run_id, "--reason", "metrics reviewed")
    assert code == 0, said
    # Then the run deploys the model, which answers predictions
    progress = follow_dropped(cloud, key, version, timeout=RUN_TIMEOUT)
    assert progress.run_status == "SUCCEEDED", progress.run
    assert (progress.run or {})["model_package"]["approval_status"] == "Approved"
    response = PredictionApi(cloud.outputs).request(dataset.holdout[0].path.read_bytes(), "image/png")
    assert response.status == 200, response.body
    assert response.json()["model"]["run_id"] == run_id

    # Given a second run waiting for approval
    key2, version2 = drop(cloud, dataset, "incoming/reject-me.jsonl")
    second = str(waiting_run(cloud, key2, version2)["run_id"])
    # When someone rejects it with a reason
    code, said = cli(cloud, "reject", second, "--reason", "labels of batch 3 are wrong")
    assert code == 0, said
    # Then that run fails at step approval with the reason, and the endpoint still serves the first model
    progress = follow_dropped(cloud, key2, version2, timeout=RUN_TIMEOUT)
    failed = progress.run or {}
    assert failed.get("status") == "FAILED", failed
    assert failed["failure"]["step"] == "approval" and failed["failure"]["error"] == "ModelRejected"
    assert "labels of batch 3 are wrong" in failed["failure"]["cause"]
    response = PredictionApi(cloud.outputs).request(dataset.holdout[0].path.read_bytes(), "image/png")
    assert response.json()["model"]["run_id"] == run_id
