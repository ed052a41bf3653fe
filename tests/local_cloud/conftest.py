"""One local cloud for the end-to-end tests of this package: synthesized, deployed, with demo data.

The cloud is module-scoped (only the end-to-end module uses it, and it is stopped when that module ends)
because it patches moto process-wide; other tests install their own patches under ``mock_aws()``. The assembly is cached
in ``.local/cdk.out-tests`` (reused while the app's sources and the context are unchanged).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from local.drivers.runs import RunProgress

ROOT = Path(__file__).resolve().parents[2]
IMAGES = 300
HOLDOUT = 0.1
EPOCHS = 6
QUALITY_THRESHOLD = 0.5
FOLLOW_INTERVAL = 1.0
"""Seconds between a test's looks at a run (ledger item, DescribeExecution and the whole execution history).
Each look costs the loaded local cloud CPU that grows with the history (moto serializes every event, each
carrying the state's JSON: about 0.2 s for 120 events of 8 KB on two loaded cores); a run's end is seen
half a second later on average than at 0.5 s, and the run has that CPU back."""


def small_context() -> dict[str, Any]:
    """The demo's configuration, smaller: fewer epochs, and a quality gate a 6-epoch model passes."""
    from local.drivers.demo import demo_context

    return {**demo_context(epochs=EPOCHS), "gtpipe:qualityThreshold": QUALITY_THRESHOLD}


@dataclass
class Dataset:
    """Demo images uploaded to the data bucket."""

    bucket: str
    labeled: list[Any]
    holdout: list[Any]


@contextmanager
def running_cloud(state_dir: Path, context: dict[str, Any], cache: str, **settings: Any) -> Iterator[Any]:
    """A started local cloud with the app synthesized with ``context`` (cached in ``.local/<cache>``);
    ``settings`` are further :class:`local.cloud.CloudSettings` fields. S3 version ids are seeded (seed 0
    unless ``s3_version_seed`` says otherwise), so run ids, splits and simulated labelers repeat. The
    deployed alarms are not evaluated on a background tick unless ``alarm_tick_seconds`` says so: a test
    that checks an alarm evaluates it when it means to (``cloud.evaluate_alarms``), and the 1-second tick,
    reading every alarm's metrics, cost an end-to-end run tens of CPU-seconds it never looked at."""
    from local.cloud import CloudSettings, LocalCloud
    from local.synth import synthesize

    assembly = synthesize(ROOT / ".local" / cache, context)
    settings.setdefault("s3_version_seed", 0)
    settings.setdefault("alarm_tick_seconds", 0)
    with LocalCloud(CloudSettings(state_dir=state_dir, **settings)) as local_cloud:
        local_cloud.deploy(assembly)
        if local_cloud.runtime is not None:
            local_cloud.runtime.prewarm()
        yield local_cloud


def follow_dropped(cloud: Any, key: str, version_id: str | None, *, timeout: float) -> RunProgress:
    """Follow the run of the manifest dropped at ``key`` (that ``version_id``) in ``cloud`` until it ends or
    ``timeout`` seconds pass (:func:`local.drivers.runs.follow_run`, every ``FOLLOW_INTERVAL`` seconds)."""
    from local.drivers.runs import follow_run

    return follow_run(
        cloud.client("dynamodb"),
        cloud.client("stepfunctions"),
        cloud.outputs["RunsTableName"],
        key,
        version_id,
        timeout=timeout,
        interval=FOLLOW_INTERVAL,
    )


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A started local cloud with both stacks deployed (the test configuration, IAM auth)."""
    with running_cloud(
        tmp_path_factory.mktemp("local-cloud"), small_context(), "cdk.out-tests"
    ) as local_cloud:
        yield local_cloud


@pytest.fixture(scope="module")
def dataset(cloud: Any, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """Digits uploaded under images/, reference labels written for the simulated workforce."""
    return upload_digits(cloud, tmp_path_factory.mktemp("digits"))


def upload_digits(
    cloud: Any, directory: Path, *, limit: int = IMAGES, holdout_fraction: float = HOLDOUT
) -> Dataset:
    """``limit`` digits written to ``directory`` and uploaded under the data bucket's images/ (a seeded
    ``holdout_fraction`` held out of the manifests), their true labels the simulated workforce's
    reference answers."""
    from local.drivers.demo import upload_dataset
    from local.drivers.demo_tasks import TASKS, digit_reference, write_reference_answers
    from training.datasets import write_digits_dataset

    bucket = str(cloud.outputs["DataBucketName"])
    records = write_digits_dataset(
        directory,
        bucket=bucket,
        prefix=TASKS["image-classification"].image_prefix,
        holdout_fraction=holdout_fraction,
        limit=limit,
    )
    upload_dataset(cloud, bucket, records)
    labeled = [r for r in records if not r.holdout]
    write_reference_answers(cloud.settings.reference_labels_path, [digit_reference(r) for r in labeled])
    return Dataset(bucket=bucket, labeled=labeled, holdout=[r for r in records if r.holdout])


def manifest_versions(cloud: Any, bucket: str, key: str) -> dict[str, Any]:
    """Every version and delete marker of one object."""
    response = cloud.client("s3").list_object_versions(Bucket=bucket, Prefix=key)
    return {
        "versions": [v for v in response.get("Versions", []) if v["Key"] == key],
        "delete_markers": [m for m in response.get("DeleteMarkers", []) if m["Key"] == key],
    }


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


@dataclass
class Inbox:
    """An SQS queue subscribed to the stack's notification topic: what the run notifications said."""

    cloud: Any
    queue_url: str

    @classmethod
    def subscribe(cls, cloud: Any, name: str) -> Inbox:
        """A new queue named ``name`` subscribed to ``NotificationTopicArn`` (it receives what is published
        from now on)."""
        sqs = cloud.client("sqs")
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        cloud.client("sns").subscribe(
            TopicArn=cloud.outputs["NotificationTopicArn"],
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "false"},
        )
        return cls(cloud, queue_url)

    def drain(self) -> list[dict[str, Any]]:
        """Every notification received since the last drain: the message fields plus its ``subject``."""
        return drain_notifications(self.cloud.client("sqs"), self.queue_url)


def drain_notifications(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Receive and delete every SNS notification waiting in ``queue_url`` (a raw-delivery-off
    subscription): each message's fields plus its ``subject``."""
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            envelope = json.loads(message["Body"])
            found.append({"subject": envelope.get("Subject"), **json.loads(envelope["Message"])})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


__all__ = ["Dataset", "Inbox", "dataclasses", "drain_notifications", "jsonl", "manifest_versions"]
