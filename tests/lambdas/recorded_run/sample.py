"""A sample report rendered with moto from a generated run (the package's command line)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.lambdas.recorded_run import __doc__ as PACKAGE_DOC
from tests.lambdas.recorded_run.classification import build_run
from tests.lambdas.recorded_run.common import BUCKET, RUNS_TABLE
from tests.lambdas.recorded_run.resources import create_resources, download_report, install


def render_sample(
    target: Path, *, classes: int = 10, detection: bool = False, outcome: str = "succeeded"
) -> dict[str, Any]:
    """Render a generated run's report with moto and download it into ``target``."""
    import os

    import boto3
    from moto import mock_aws

    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    os.environ.update({"DATA_BUCKET": BUCKET, "RUNS_TABLE": RUNS_TABLE, "POWERTOOLS_TRACE_DISABLED": "1"})
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "gtpipe")
    with mock_aws():
        s3 = boto3.client("s3")
        dynamodb = boto3.resource("dynamodb")
        create_resources(s3, dynamodb)
        per_class = None
        if not detection and classes > 2:
            per_class = [30] * classes
            per_class[-1] = 0
            per_class[1] = 1
        run = build_run(classes=classes, per_class=per_class, detection=detection, outcome=outcome)
        install(run, s3, dynamodb, boto3.client("logs"))
        from gtpipe_shared.aws import reset_clients
        from report import handler

        reset_clients()
        answer = handler.lambda_handler(run.event(), _Context())
        download_report(s3, run.run_id, target)
        reset_clients()
    return answer


@dataclass
class _Context:
    function_name: str = "gtpipe-report"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:gtpipe-report"
    aws_request_id: str = "sample"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def main() -> None:
    """Command line: render a sample report into a folder (``lambdas/`` on ``PYTHONPATH``: the report
    function's package, as pytest's ``pythonpath`` has it)."""
    parser = argparse.ArgumentParser(description=PACKAGE_DOC.splitlines()[0] if PACKAGE_DOC else None)
    parser.add_argument("target", type=Path)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--detection", action="store_true")
    parser.add_argument("--outcome", choices=("succeeded", "rejected"), default="succeeded")
    args = parser.parse_args()
    answer = render_sample(args.target, classes=args.classes, detection=args.detection, outcome=args.outcome)
    print(json.dumps(answer, indent=2))
