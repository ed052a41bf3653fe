"""report: write ``reports/<run_id>/index.html`` and its PNG figures at the end of every run.

Event: ``{"run_id", "outcome": "succeeded" | "rejected" | "failed", "state": {the execution state}}``.
Answer: ``{"report_uri", "figures": [file names under figures/], "warnings": [...]}``.
Environment: ``DATA_BUCKET``, ``RUNS_TABLE``, optional ``LABELING_PRICES`` (JSON, see
``gtpipe_shared.pricing.LabelingPrices.from_mapping``).

Missing data (a run that failed early, no transform output, empty classes) gives a report with what
exists and the reason for each missing part; only an invalid event or an unwritable bucket raises.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from gtpipe_shared.aws import client, table
from gtpipe_shared.payload import log_run, parse_payload
from gtpipe_shared.pricing import LabelingPrices
from pydantic import BaseModel, ConfigDict, Field, field_validator

from report.figures import render_figures
from report.gather import Clients, Settings, gather_run
from report.page import FIGURES_DIR, render_page

logger = Logger()
tracer = Tracer()

REPORTS_PREFIX = "reports/"
ANSWER_WARNINGS = 20
# Step Functions execution names: 1-80 characters; the run id becomes an S3 key part, so no "/" or "..".
_RUN_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,78}[A-Za-z0-9])?$")


class ReportError(Exception):
    """The report event or configuration is invalid; the message names the problem."""


class ReportRequest(BaseModel):
    """The state machine's payload."""

    model_config = ConfigDict(extra="ignore")

    run_id: str = Field(min_length=1)
    outcome: Literal["succeeded", "rejected", "failed"]
    state: dict[str, Any]

    @field_validator("run_id")
    @classmethod
    def _safe_run_id(cls, value: str) -> str:
        if not _RUN_ID.match(value):
            raise ValueError("must be 1-80 letters, digits, '-' or '_' (it becomes part of an S3 key)")
        return value


def parse_request(event: Any) -> ReportRequest:
    """Validate the event; ReportError names the bad field."""
    return parse_payload(ReportRequest, event, ReportError, "report event")


def report_key(run_id: str, name: str = "index.html") -> str:
    """``reports/<run_id>/<name>``."""
    return f"{REPORTS_PREFIX}{run_id}/{name}"


def settings_from_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> Settings:
    """DATA_BUCKET and LABELING_PRICES; ReportError when missing or malformed."""
    bucket = environ.get("DATA_BUCKET")
    if not bucket:
        raise ReportError("environment variable DATA_BUCKET is not set")
    raw = environ.get("LABELING_PRICES")
    try:
        prices = LabelingPrices.from_mapping(json.loads(raw) if raw else None)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ReportError(f"LABELING_PRICES is not a valid price table: {exc}") from exc
    return Settings(
        data_bucket=bucket,
        prices=prices,
        monitoring=environ.get("MONITORING_WINDOWS", "").strip().lower() == "on",
    )


@tracer.capture_method
def write_report(request: ReportRequest, settings: Settings, clients: Clients) -> dict[str, Any]:
    """Gather, render and upload the report; return the answer."""
    data = gather_run(request.run_id, request.outcome, request.state, settings, clients)
    figures = render_figures(data)
    written: list[str] = []
    for figure in figures:
        if figure.png is None:
            continue
        clients.s3.put_object(
            Bucket=settings.data_bucket,
            Key=report_key(request.run_id, f"{FIGURES_DIR}/{figure.name}"),
            Body=figure.png,
            ContentType="image/png",
            CacheControl="no-cache",
        )
        written.append(figure.name)
    page = render_page(data, figures, datetime.now(tz=UTC))
    key = report_key(request.run_id)
    clients.s3.put_object(
        Bucket=settings.data_bucket,
        Key=key,
        Body=page.encode("utf-8"),
        ContentType="text/html; charset=utf-8",
        CacheControl="no-cache",
    )
    if data.warnings:
        logger.warning("report has warnings", extra={"warnings": data.warnings[:ANSWER_WARNINGS]})
    return {
        "report_uri": f"s3://{settings.data_bucket}/{key}",
        "figures": written,
        "warnings": [w[:300] for w in data.warnings[:ANSWER_WARNINGS]],
    }


def clients_from_env() -> Clients:
    """boto3 clients (cached per execution environment) and the runs table when RUNS_TABLE is set."""
    runs_table = os.environ.get("RUNS_TABLE")
    return Clients(
        s3=client("s3"),
        sagemaker=client("sagemaker"),
        logs=client("logs"),
        runs_table=table(runs_table) if runs_table else None,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Report event -> ``{"report_uri", "figures", "warnings"}``."""
    request = parse_request(event)
    log_run(logger, request.run_id, outcome=request.outcome)
    return write_report(request, settings_from_env(), clients_from_env())
