"""Training logs reach CloudWatch Logs as SageMaker writes them (the report parses curves from them)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from local.sagemaker.training_logs import LOG_GROUP, LogEventsRejected, publish_log


def _events(logs, stream: str) -> list[str]:
    messages: list[str] = []
    token = None
    while True:
        kwargs = {"logGroupName": LOG_GROUP, "logStreamName": stream, "startFromHead": True}
        if token:
            kwargs["nextToken"] = token
        page = logs.get_log_events(**kwargs)
        messages += [event["message"] for event in page["events"]]
        if not page["events"] or page["nextForwardToken"] == token:
            return messages
        token = page["nextForwardToken"]


@mock_aws
def test_log_is_copied_line_by_line_in_order_across_batches(tmp_path: Path) -> None:
    # Given a training log longer than one PutLogEvents batch
    log = tmp_path / "algo-1.log"
    lines = [f"Epoch[{i}] Validation-accuracy={i / 20000:.5f}" for i in range(12_000)]
    log.write_text("\n".join(lines) + "\n")
    logs = boto3.client("logs", region_name="us-east-1")
    started = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=30)
    # When it is published for job "digits-train-0"
    stream = publish_log(logs, "digits-train-0", log, started)
    # Then SageMaker's stream name holds every line in order
    assert stream == f"digits-train-0/algo-1-{int(started.timestamp())}"
    described = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix="digits-train-0/")
    assert [s["logStreamName"] for s in described["logStreams"]] == [stream]
    assert _events(logs, stream) == lines


@mock_aws
def test_missing_log_publishes_nothing(tmp_path: Path) -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    assert publish_log(logs, "job", tmp_path / "absent.log", dt.datetime.now(dt.UTC)) is None
    assert logs.describe_log_groups()["logGroups"] == []


@mock_aws
def test_a_log_older_than_cloudwatch_keeps_is_an_error_not_a_silent_gap(tmp_path: Path) -> None:
    # Given a training log whose job started 15 days ago (CloudWatch Logs drops events older than 14 days)
    log = tmp_path / "algo-1.log"
    log.write_text("Epoch[0] Validation-accuracy=0.5\n")
    logs = boto3.client("logs", region_name="us-east-1")
    started = dt.datetime.now(dt.UTC) - dt.timedelta(days=15)
    # When it is published / Then the rejected events raise, naming what was dropped
    with pytest.raises(LogEventsRejected, match="tooOldLogEventEndIndex"):
        publish_log(logs, "old-job", log, started)
