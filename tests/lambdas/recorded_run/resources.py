"""Putting a generated run where the report reads it (S3, the runs table, CloudWatch Logs), and reading the report back."""

from __future__ import annotations

import contextlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from local.sagemaker.training_logs import put_log_events
from tests.lambdas.recorded_run.common import BUCKET, LOG_GROUP, RUNS_TABLE, RecordedRun


def install(run: RecordedRun, s3: Any, dynamodb: Any, logs: Any) -> None:
    """Put the run into S3 (bucket must exist), the runs table and CloudWatch Logs."""
    from gtpipe_shared.ledger import to_dynamo

    for key, body in run.objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    dynamodb.Table(RUNS_TABLE).put_item(Item=to_dynamo(run.ledger_item))
    if run.training_job and run.log_lines:
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=LOG_GROUP)
        stream = f"{run.training_job}/algo-1-{int(run.started.timestamp())}"
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        put_log_events(logs, LOG_GROUP, stream, log_events(run))


def log_events(run: RecordedRun) -> list[dict[str, Any]]:
    """The training log as CloudWatch events: one a line, 1 ms apart from the run's start."""
    base = int(run.started.timestamp() * 1000)
    return [{"timestamp": base + i, "message": line} for i, line in enumerate(run.log_lines)]


def create_resources(s3: Any, dynamodb: Any) -> None:
    """The data bucket and the runs table, as the stateful stack names them in the Lambda tests."""
    s3.create_bucket(Bucket=BUCKET)
    dynamodb.create_table(
        TableName=RUNS_TABLE,
        KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "run_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def download_report(s3: Any, run_id: str, target: Path) -> list[Path]:
    """Copy ``reports/<run_id>/`` to ``target`` (as a user would download it); return the files."""
    files = []
    prefix = f"reports/{run_id}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            path = target / item["Key"][len(prefix) :]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
            files.append(path)
    return files


class PageImages(HTMLParser):
    """The ``<img>`` elements of a page: ``sources`` and ``alts`` in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.alts: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            values = dict(attrs)
            self.sources.append(values.get("src") or "")
            self.alts.append(values.get("alt"))


def images_of(html: str) -> PageImages:
    """Parse a page's images."""
    parser = PageImages()
    parser.feed(html)
    return parser
