"""The deployed stacks on the local cloud, end to end (slow: real labeling, training, transform, hosting).

input manifest -> simulated labeling -> split -> training -> model -> batch transform -> evaluation ->
endpoint -> HTTPS predict; then an augmented manifest whose run skips labeling and updates the endpoint
while the API keeps answering; an invalid manifest that fails in the ledger without an execution; a
manifest whose labels are shuffled (the model trains but learns nothing) that the quality gate rejects;
an input manifest the workforce cannot label, whose run fails at labeling.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from local.drivers.client import PredictionApi
from local.drivers.runs import RunProgress, execution_history, follow_run, get_run
from tests.local_cloud.conftest import (
    FOLLOW_INTERVAL,
    QUALITY_THRESHOLD,
    Dataset,
    Inbox,
    jsonl,
    manifest_versions,
)
from training.datasets import augmented_manifest_line

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 420.0
HELD_OUT_ACCURACY = 0.6
SHUFFLE_SEED = 20240607


@dataclass
class Drop:
    """A manifest dropped under incoming/ and what became of it."""

    key: str
    body: bytes
    etag: str
    version_id: str | None
    progress: RunProgress
    history: list[dict[str, Any]] = field(default_factory=list)


def drop_and_follow(cloud: Any, key: str, body: bytes) -> Drop:
    outputs = cloud.outputs
    put = cloud.client("s3").put_object(Bucket=outputs["DataBucketName"], Key=key, Body=body)
    progress = follow_run(
        cloud.client("dynamodb"),
        cloud.client("stepfunctions"),
        outputs["RunsTableName"],
        key,
        put.get("VersionId"),
        timeout=RUN_TIMEOUT,
        interval=FOLLOW_INTERVAL,
    )
    arn = (progress.run or {}).get("execution_arn")
    history = execution_history(cloud.client("stepfunctions"), arn) if arn else []
    cloud.wait_idle(30)
    return Drop(key, body, put["ETag"], put.get("VersionId"), progress, history)


def states_entered(drop: Drop) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in drop.history if "stateEnteredEventDetails" in e]


@pytest.fixture(scope="module")
def first_run(cloud: Any, dataset: Dataset) -> Drop:
    """An input manifest: the run labels with the simulated workforce."""
    body = jsonl([{"source-ref": r.source_ref} for r in dataset.labeled])
    return drop_and_follow(cloud, "incoming/first.manifest", body)


@dataclass
class Polls:
    """Prediction calls made while the second run deployed: (answered at, status, body), and when each was
    sent (``sent[i]`` for ``calls[i]``)."""

    calls: list[tuple[float, int, Any]] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)


@pytest.fixture(scope="module")
def second_run(cloud: Any, dataset: Dataset, first_run: Drop) -> tuple[Drop, Polls]:
    """An augmented manifest dropped while the first model serves; the API is polled throughout."""
    assert first_run.progress.run_status == "SUCCEEDED", first_run.progress.run
    api = PredictionApi(cloud.outputs)
    image = dataset.holdout[0].path.read_bytes()
    polls = Polls()
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            sent = time.time()
            response = api.request(image, "image/png")
            body = response.json() if response.body.startswith(b"{") else response.body
            polls.sent.append(sent)
            polls.calls.append((time.time(), response.status, body))
            # A short pause: the local update (DeployEndpoint to VerifyEndpoint) lasts about 0.1 s
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        lines = [augmented_manifest_line(r, "category", job_name="prelabeled") for r in dataset.labeled]
        drop = drop_and_follow(cloud, "incoming/prelabeled.jsonl", jsonl(lines))
    finally:
        stop.set()
        poller.join(30)
    return drop, polls


def test_input_manifest_is_labeled_trained_evaluated_deployed_and_served_over_https(
    cloud: Any, dataset: Dataset, first_run: Drop
) -> None:
    progress = first_run.progress
    run = progress.run or {}
    assert progress.run_status == "SUCCEEDED", run
    assert progress.execution_status == "SUCCEEDED"
    assert run["manifest_kind"] == "input"
    entered = states_entered(first_run)
    for state in (
        "Label",
        "Split",
        "Train",
        "CreateModel",
        "Transform",
        "Evaluate",
        "DeployEndpoint",
        "Publish",
        "ReleaseEndpoint",
    ):
        assert state in entered
    steps = run["steps"]
    assert {steps[name]["status"] for name in ("label", "train", "xform")} == {"Completed"}
    assert run["metrics"]["metric_name"] == "accuracy"
    print(f"[quality] digits validation accuracy {run['metrics']['metric_value']} (gate {QUALITY_THRESHOLD})")
    assert run["metrics"]["metric_value"] >= QUALITY_THRESHOLD
    assert run["metrics"]["passed"] is True
    serving = get_run(cloud.client("dynamodb"), cloud.outputs["RunsTableName"], "@serving")
    assert serving and serving["source_run_id"] == progress.run_id
    endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.outputs["EndpointName"])
    assert endpoint["EndpointStatus"] == "InService"

    api = PredictionApi(cloud.outputs)
    answers = [(record, api.predict(record.path.read_bytes())) for record in dataset.holdout]
    assert all(response.status == 200 for _, response in answers), [r.body for _, r in answers]
    correct = sum(response.json()["label"] == record.class_name for record, response in answers)
    print(f"[quality] digits held-out accuracy over HTTPS {correct}/{len(answers)}")
    assert correct / len(answers) >= HELD_OUT_ACCURACY, f"{correct}/{len(answers)} held-out images right"
    first = answers[0][1].json()
    assert set(first) >= {"label", "confidence", "probabilities", "model"}
    assert first["model"]["run_id"] == progress.run_id


def test_https_api_enforces_iam_auth_and_answers_json_errors(
    cloud: Any, dataset: Dataset, first_run: Drop
) -> None:
    api = PredictionApi(cloud.outputs)
    unsigned = api.request(dataset.holdout[0].path.read_bytes(), "image/png", sign=False)
    assert unsigned.status == 403 and unsigned.json() == {"message": "Missing Authentication Token"}
    not_an_image = api.request(b"hello", "image/png")
    assert not_an_image.status == 400 and not_an_image.json()["code"] == "NotAnImage"


def test_augmented_manifest_skips_labeling(second_run: tuple[Drop, Polls]) -> None:
    drop, _ = second_run
    run = drop.progress.run or {}
    assert drop.progress.run_status == "SUCCEEDED", run
    assert run["manifest_kind"] == "augmented"
    entered = states_entered(drop)
    assert "UseDroppedManifest" in entered and "Label" not in entered
    assert "label" not in run["steps"] and run["steps"]["train"]["status"] == "Completed"


def test_second_run_updates_the_endpoint_while_the_api_keeps_answering(
    cloud: Any, first_run: Drop, second_run: tuple[Drop, Polls]
) -> None:
    drop, polls = second_run
    assert drop.progress.run_status == "SUCCEEDED"
    statuses = [status for _, status, _ in polls.calls]
    assert statuses, "the API was not polled"
    assert not [s for s in statuses if s >= 500], f"5xx during the update: {sorted(set(statuses))}"
    assert set(statuses) == {200}
    deploy = [
        e for e in drop.history if e.get("stateEnteredEventDetails", {}).get("name") == "DeployEndpoint"
    ]
    verify = [
        e for e in drop.history if e.get("stateEnteredEventDetails", {}).get("name") == "VerifyEndpoint"
    ]
    start, end = deploy[0]["timestamp"].timestamp(), verify[0]["timestamp"].timestamp()
    # A call overlaps the update when it was in flight at any moment of it (sent before its end, answered
    # after its start): on a fast update a single call can span it all, answering at neither edge inside it
    during = [
        status
        for sent, (answered, status, _) in zip(polls.sent, polls.calls, strict=True)
        if sent <= end and answered >= start
    ]
    spans = [f"{a - b:.2f}" for b, (a, _, _) in zip(polls.sent, polls.calls, strict=True)]
    print(f"[update] window {end - start:.2f} s, {len(during)} calls overlapping; call seconds {spans[-5:]}")
    assert during, f"no prediction call overlapped the endpoint update ({end - start:.2f} s; calls: {spans})"
    endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.outputs["EndpointName"])
    second_config = f"{drop.progress.run_id}-epc-0"
    assert endpoint["EndpointStatus"] == "InService" and endpoint["EndpointConfigName"] == second_config
    serving = get_run(cloud.client("dynamodb"), cloud.outputs["RunsTableName"], "@serving")
    assert serving and serving["source_run_id"] == drop.progress.run_id


def test_invalid_manifest_fails_in_the_ledger_with_its_reason_and_starts_no_execution(cloud: Any) -> None:
    body = b'{"source-ref": "s3://some-other-bucket/x.png"}\n{not json\n'
    drop = drop_and_follow(cloud, "incoming/broken.manifest", body)
    run = drop.progress.run or {}
    assert drop.progress.run_status == "FAILED"
    assert "execution_arn" not in run
    assert run["failure"]["step"] == "validate" and run["failure"]["error"] == "InvalidManifest"
    assert "some-other-bucket" in run["failure"]["cause"]
    assert len(run["errors"]) == 2 and "invalid JSON" in run["errors"][1]
    executions = cloud.client("stepfunctions").list_executions(
        stateMachineArn=cloud.outputs["StateMachineArn"]
    )
    assert drop.progress.run_id not in {e["name"] for e in executions["executions"]}


def test_dropped_manifests_are_never_modified_or_deleted(
    cloud: Any, first_run: Drop, second_run: tuple[Drop, Polls]
) -> None:
    s3 = cloud.client("s3")
    for drop in (first_run, second_run[0]):
        versions = manifest_versions(cloud, cloud.outputs["DataBucketName"], drop.key)
        assert versions["delete_markers"] == []
        assert [v["VersionId"] for v in versions["versions"]] == [drop.version_id]
        assert versions["versions"][0]["ETag"] == drop.etag
        body = s3.get_object(Bucket=cloud.outputs["DataBucketName"], Key=drop.key)["Body"].read()
        assert body == drop.body


def test_functions_run_with_the_templates_environment_resolved_to_local_resources(cloud: Any) -> None:
    functions = cloud.deployment.functions
    start_run = next(
        spec for spec in functions.values() if spec.handler == "start_run.handler.lambda_handler"
    )
    assert start_run.environment["STATE_MACHINE_ARN"] == cloud.outputs["StateMachineArn"]
    assert start_run.environment["DATA_BUCKET"] == cloud.outputs["DataBucketName"]
    assert start_run.environment["RUNS_TABLE"] == cloud.outputs["RunsTableName"]
    assert (start_run.code_dir / "start_run" / "handler.py").is_file(), "code comes from the CDK asset"
    not_emulated = {
        reason.split(": ", 1)[0]
        for stack in cloud.deployment.stacks.values()
        for reason in stack.not_emulated.values()
    }
    assert {"AWS::IAM::Role", "AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm"} <= not_emulated


@pytest.fixture(scope="module")
def inbox(cloud: Any) -> Inbox:
    """The notifications published from the first of the runs below on."""
    return Inbox.subscribe(cloud, "end-to-end-notifications")


@dataclass
class Outcome:
    """A run that must leave the serving model alone: what served before it, and what it notified."""

    drop: Drop
    serving_before: dict[str, Any] | None
    endpoint_config_before: str
    notifications: list[dict[str, Any]]


def serving_now(cloud: Any) -> tuple[dict[str, Any] | None, str]:
    """``@serving`` and the endpoint's current configuration name."""
    serving = get_run(cloud.client("dynamodb"), cloud.outputs["RunsTableName"], "@serving")
    endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.outputs["EndpointName"])
    return serving, str(endpoint["EndpointConfigName"])


def drop_beside_the_serving_model(cloud: Any, inbox: Inbox, key: str, body: bytes) -> Outcome:
    serving, config = serving_now(cloud)
    drop = drop_and_follow(cloud, key, body)
    notifications = [n for n in inbox.drain() if n["run_id"] == drop.progress.run_id]
    return Outcome(drop, serving, config, notifications)


@pytest.fixture(scope="module")
def rejected_run(cloud: Any, dataset: Dataset, second_run: tuple[Drop, Polls], inbox: Inbox) -> Outcome:
    """An augmented manifest of the labeled images whose labels are a seeded shuffle of the true ones,
    dropped while the second run's model serves: training runs, but nothing it learns holds on the
    validation split, so accuracy stays near chance (0.1), far below the gate."""
    assert second_run[0].progress.run_status == "SUCCEEDED", second_run[0].progress.run
    others = list(dataset.labeled)
    random.Random(SHUFFLE_SEED).shuffle(others)
    lines = [
        augmented_manifest_line(
            dataclasses.replace(record, label=other.label, class_name=other.class_name),
            "category",
            job_name="shuffled",
        )
        for record, other in zip(dataset.labeled, others, strict=True)
    ]
    return drop_beside_the_serving_model(cloud, inbox, "incoming/shuffled.jsonl", jsonl(lines))


@pytest.fixture(scope="module")
def unlabelable_run(cloud: Any, dataset: Dataset, first_run: Drop, inbox: Inbox) -> Outcome:
    """An input manifest of the held-out images, for which the simulated workforce has no reference
    answers: the local labeling job cannot label any object and fails."""
    assert first_run.progress.run_status == "SUCCEEDED", first_run.progress.run
    body = jsonl([{"source-ref": r.source_ref} for r in dataset.holdout])
    return drop_beside_the_serving_model(cloud, inbox, "incoming/unlabelable.manifest", body)


def test_a_model_below_the_quality_threshold_is_rejected_and_never_deployed(
    cloud: Any, rejected_run: Outcome
) -> None:
    # given a manifest with shuffled labels (see rejected_run) / when its run ends
    drop = rejected_run.drop
    run = drop.progress.run or {}
    print(f"[quality] shuffled-label validation accuracy {(run.get('metrics') or {}).get('metric_value')}")
    # then the ledger says REJECTED; the execution succeeds through the gate's Rejected branch
    assert drop.progress.run_status == "REJECTED", run
    assert drop.progress.execution_status == "SUCCEEDED"
    entered = states_entered(drop)
    assert entered[-4:] == ["QualityGate", "ReportOnRejection", "RecordRejected", "Rejected"], entered
    assert not {"CreateEndpointConfig", "DeployEndpoint", "VerifyEndpoint", "Publish"} & set(entered)
    # and the model was trained, transformed and evaluated: the gate stopped it, not a failure
    assert {run["steps"][name]["status"] for name in ("train", "xform")} == {"Completed"}
    assert "failure" not in run
    metrics = run["metrics"]
    assert metrics["metric_name"] == "accuracy" and metrics["passed"] is False
    assert metrics["metric_value"] < QUALITY_THRESHOLD
    assert run["report_uri"].endswith(f"reports/{drop.progress.run_id}/index.html")
    # and no endpoint configuration was created for it; the endpoint and @serving are unchanged
    configs = cloud.client("sagemaker").list_endpoint_configs(NameContains=drop.progress.run_id)
    assert configs["EndpointConfigs"] == []
    serving, config = serving_now(cloud)
    assert serving == rejected_run.serving_before and config == rejected_run.endpoint_config_before
    endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.outputs["EndpointName"])
    assert endpoint["EndpointStatus"] == "InService"
    # and one notification says the run was rejected by the gate, naming the metric
    assert [n["status"] for n in rejected_run.notifications] == ["REJECTED"], rejected_run.notifications
    notice = rejected_run.notifications[0]
    assert "rejected by the quality gate" in notice["subject"]
    assert notice["reason"].startswith("accuracy ") and "below the quality threshold" in notice["reason"]
    assert notice["metrics"]["passed"] is False
    assert notice["report_uri"] == run["report_uri"]


def test_a_labeling_job_that_fails_fails_the_run_at_labeling_and_leaves_the_manifest_alone(
    cloud: Any, unlabelable_run: Outcome
) -> None:
    # given an input manifest of images the workforce has no answers for / when its run ends
    drop = unlabelable_run.drop
    run = drop.progress.run or {}
    # then the run and its execution FAILED at labeling, with the labeling job's reason in the ledger
    assert drop.progress.run_status == "FAILED", run
    assert drop.progress.execution_status == "FAILED"
    entered = states_entered(drop)
    assert "Label" in entered
    assert entered[-4:] == ["FailedLabeling", "SkipReport", "RecordFailure", "PipelineFailed"], entered
    assert "Split" not in entered and "Train" not in entered
    failure = run["failure"]
    assert failure["step"] == "labeling" and failure["error"]
    assert "no data object could be labeled" in failure["cause"]
    assert "no reference answer" in failure["cause"], failure
    assert run["steps"]["label"]["status"] == "Failed"
    job = cloud.client("sagemaker").describe_labeling_job(LabelingJobName=run["steps"]["label"]["job_name"])
    assert job["LabelingJobStatus"] == "Failed"
    # and nothing was trained or deployed; the endpoint and @serving are unchanged
    jobs = cloud.client("sagemaker").list_training_jobs(NameContains=drop.progress.run_id)
    assert jobs["TrainingJobSummaries"] == []
    serving, config = serving_now(cloud)
    assert serving == unlabelable_run.serving_before and config == unlabelable_run.endpoint_config_before
    # and one run notification says it failed at labeling, with the ledger's reason
    finals = [n for n in unlabelable_run.notifications if n["status"] == "FAILED"]
    assert [(n["step"], n["reason"]) for n in finals] == [("labeling", failure["cause"])], (
        unlabelable_run.notifications
    )
    assert "failed at labeling" in finals[0]["subject"]
    # and the dropped manifest is the one version that was put, unchanged
    versions = manifest_versions(cloud, cloud.outputs["DataBucketName"], drop.key)
    assert versions["delete_markers"] == []
    assert [v["VersionId"] for v in versions["versions"]] == [drop.version_id]
    assert versions["versions"][0]["ETag"] == drop.etag
    body = cloud.client("s3").get_object(Bucket=cloud.outputs["DataBucketName"], Key=drop.key)["Body"].read()
    assert body == drop.body
