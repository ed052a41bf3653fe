"""Shared pieces of the fault-injection tests (``test_faults*.py``): a small local cloud, a tiny dataset,
manifest drops followed to the end of their run, notifications, and execution-history helpers.

Everything is sized for 2 shared CPU cores: 60 digits (32x32), 1 training epoch, augmented manifests (no
labeling job) and a quality gate of 0 so every healthy run deploys.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.drivers.runs import RunProgress, execution_history, follow_run, get_run
from tests.local_cloud.conftest import FOLLOW_INTERVAL, drain_notifications

ROOT = Path(__file__).resolve().parents[2]
ASSEMBLY_CACHE = "cdk.out-reliability"
IMAGES = 60
RUN_TIMEOUT = 240.0
START_RUN_HANDLER = "start_run.handler.lambda_handler"
ENDPOINT_EVENT = "SageMaker Endpoint State Change"
RUN_FINAL_STATUSES = ("SUCCEEDED", "FAILED", "REJECTED")


def tiny_context(endpoint_timing: tuple[int, int] | None = None) -> dict[str, Any]:
    """The demo's configuration with one epoch and a quality gate every run passes."""
    from local.drivers.demo import demo_context

    context = demo_context(epochs=1)
    context["gtpipe:hyperparameters"] = {**context["gtpipe:hyperparameters"], "mini_batch_size": "16"}
    context = {**context, "gtpipe:qualityThreshold": 0.0}
    if endpoint_timing is not None:
        heartbeat, timeout = endpoint_timing
        context["gtpipe:endpoint"] = {"heartbeatSeconds": heartbeat, "timeoutSeconds": timeout}
    return context


@dataclass
class Cloud:
    """A started local cloud plus what the tests need around it."""

    cloud: Any
    bucket: str
    records: list[Any]
    queue_url: str

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self.cloud.outputs)

    def client(self, name: str) -> Any:
        return self.cloud.client(name)

    @property
    def faults(self) -> Any:
        return self.cloud.sagemaker.faults

    @property
    def endpoint_name(self) -> str:
        return str(self.cloud.outputs["EndpointName"])

    def notifications(self) -> list[dict[str, Any]]:
        """Every run notification published so far (SNS -> SQS subscription), drained."""
        return drain_notifications(self.client("sqs"), self.queue_url)

    def run_notifications(self, run_id: str) -> list[dict[str, Any]]:
        """The run-level notifications (SUCCEEDED / FAILED / REJECTED) of one run; the job_status
        function also publishes a job-level one (``status`` Failed, ``step`` train/xform) per failed job."""
        return [
            n for n in self.notifications() if n["run_id"] == run_id and n["status"] in RUN_FINAL_STATUSES
        ]

    def serving(self) -> dict[str, Any] | None:
        return get_run(self.client("dynamodb"), self.outputs["RunsTableName"], "@serving")

    def endpoint_lock(self) -> dict[str, Any] | None:
        """The endpoint lock item in the task-token table (held from DeployEndpoint to ReleaseEndpoint)."""
        dynamodb = self.client("dynamodb")
        (table_name,) = [name for name in dynamodb.list_tables()["TableNames"] if "TaskTokenTable" in name]
        item = dynamodb.get_item(
            TableName=table_name, Key={"id": {"S": f"endpoint#{self.endpoint_name}"}}, ConsistentRead=True
        ).get("Item")
        return dict(item) if item else None

    def endpoint(self) -> dict[str, Any]:
        """DescribeEndpoint of the serving endpoint; ``{}`` while it does not exist."""
        try:
            return dict(self.client("sagemaker").describe_endpoint(EndpointName=self.endpoint_name))
        except self.client("sagemaker").exceptions.ClientError:
            return {}

    def augmented_manifest(self, job_name: str) -> bytes:
        """An augmented manifest of the labeled images (skips labeling); ``job_name`` varies the body."""
        from training.datasets import augmented_manifest_line

        lines = [augmented_manifest_line(r, "category", job_name=job_name) for r in self.records]
        return "".join(json.dumps(line) + "\n" for line in lines).encode()


@contextmanager
def running_cloud(
    state_dir: Path, data_dir: Path, endpoint_timing: tuple[int, int] | None = None
) -> Iterator[Cloud]:
    """One started local cloud (the tiny context), with the tiny dataset uploaded and a queue subscribed
    to the notification topic; ``endpoint_timing`` = (heartbeat, timeout) seconds of DeployEndpoint."""
    from local.cloud import CloudSettings, LocalCloud
    from local.drivers.demo import upload_dataset
    from local.drivers.demo_tasks import TASKS
    from local.synth import synthesize
    from training.datasets import write_digits_dataset

    cache = (
        ASSEMBLY_CACHE
        if endpoint_timing is None
        else f"{ASSEMBLY_CACHE}-{endpoint_timing[0]}-{endpoint_timing[1]}"
    )
    assembly = synthesize(ROOT / ".local" / cache, tiny_context(endpoint_timing))
    with LocalCloud(CloudSettings(state_dir=state_dir, s3_version_seed=0)) as cloud:
        cloud.deploy(assembly)
        if cloud.runtime is not None:
            cloud.runtime.prewarm()
        bucket = str(cloud.outputs["DataBucketName"])
        records = write_digits_dataset(
            data_dir,
            bucket=bucket,
            prefix=TASKS["image-classification"].image_prefix,
            holdout_fraction=0.1,
            limit=IMAGES,
        )
        upload_dataset(cloud, bucket, records)
        sqs, sns = cloud.client("sqs"), cloud.client("sns")
        queue_url = sqs.create_queue(QueueName="reliability-notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=cloud.outputs["NotificationTopicArn"],
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "false"},
        )
        yield Cloud(cloud, bucket, [r for r in records if not r.holdout], queue_url)


@dataclass
class Drop:
    """A manifest dropped under incoming/ and what became of its run."""

    key: str
    version_id: str | None
    progress: RunProgress
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def run(self) -> dict[str, Any]:
        return self.progress.run or {}

    @property
    def run_id(self) -> str:
        return str(self.progress.run_id)


def put_manifest(env: Cloud, key: str, body: bytes) -> str | None:
    """Drop a manifest; returns its version id."""
    put = env.client("s3").put_object(Bucket=env.bucket, Key=key, Body=body)
    return put.get("VersionId")


def follow(env: Cloud, key: str, version_id: str | None, started: float) -> Drop:
    """Follow the run of one dropped manifest until it ends (or RUN_TIMEOUT)."""
    progress = follow_run(
        env.client("dynamodb"),
        env.client("stepfunctions"),
        env.outputs["RunsTableName"],
        key,
        version_id,
        timeout=RUN_TIMEOUT,
        interval=FOLLOW_INTERVAL,
    )
    seconds = time.monotonic() - started
    arn = (progress.run or {}).get("execution_arn")
    history = execution_history(env.client("stepfunctions"), arn) if arn else []
    return Drop(key, version_id, progress, seconds, history)


def drop_and_follow(env: Cloud, key: str, body: bytes) -> Drop:
    """Drop a manifest, follow its run to the end, and wait for the events it caused to settle."""
    started = time.monotonic()
    drop = follow(env, key, put_manifest(env, key, body), started)
    env.cloud.wait_idle(30)
    return drop


def states_entered(drop: Drop) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in drop.history if "stateEnteredEventDetails" in e]


def state_events(drop: Drop, state: str) -> list[dict[str, Any]]:
    """The history events between entering and leaving ``state`` (every entry of it)."""
    inside = False
    found: list[dict[str, Any]] = []
    for event in drop.history:
        if event.get("stateEnteredEventDetails", {}).get("name") == state:
            inside = True
        elif event.get("stateExitedEventDetails", {}).get("name") == state:
            inside = False
        elif inside:
            found.append(event)
    return found


def state_exited_at(drop: Drop, state: str) -> Any:
    """The timestamp of the last ``StateExited`` event of ``state`` in the run's history (None if never left)."""
    times = [
        e["timestamp"] for e in drop.history if e.get("stateExitedEventDetails", {}).get("name") == state
    ]
    return max(times) if times else None


def task_failures(drop: Drop, state: str) -> list[dict[str, Any]]:
    """``TaskFailed`` / ``TaskTimedOut`` details while in ``state`` (each one a failed attempt)."""
    return [
        e.get("taskFailedEventDetails") or e.get("taskTimedOutEventDetails") or {}
        for e in state_events(drop, state)
        if e["type"] in ("TaskFailed", "TaskTimedOut")
    ]


def wait_for(predicate: Any, timeout: float, interval: float = 0.5) -> bool:
    """Poll ``predicate()`` until true; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def record_outcome(drop: Drop, scenario: str) -> None:
    """Print one line per run for the report (shown with ``pytest -s`` / ``-rP``)."""
    failure = drop.run.get("failure") or {}
    metrics = drop.run.get("metrics") or {}
    print(
        f"[reliability] {scenario}: {drop.progress.run_status} step={failure.get('step')} "
        f"error={failure.get('error')} {metrics.get('metric_name')}={metrics.get('metric_value')} "
        f"seconds={drop.seconds:.1f}"
    )
