"""Gathering the training curves: the training job's metric definitions (DescribeTrainingJob) applied
to its CloudWatch log (at most ``MAX_LOG_EVENTS`` events), else its final metrics."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared.aws import error_code

from report import curves as curve_parsing
from report.fields import as_text, dig, error_text
from report.gather_base import RunSource
from report.model import (
    CURVES,
    TrainingCurves,
)

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
MAX_LOG_EVENTS = 200_000


class CurveParts(RunSource):
    """The training-curves part (see the module docstring)."""

    # -- training curves --------------------------------------------------------------------------

    def _training_job_name(self) -> str | None:
        return as_text(dig(self.state, "training", "job_name")) or as_text(
            dig(self.ledger, "steps", "train", "job_name")
        )

    def _curves(self) -> None:
        job = self._training_job_name()
        if job is None:
            failure = self.data.failure or {}
            reason = "no training job ran"
            if failure.get("step"):
                reason += f" (the run failed at {failure['step']})"
            self.data.missing(CURVES, reason)
            return
        describe: dict[str, Any] = {}
        describe_problem: str | None = None
        try:
            describe = self.clients.sagemaker.describe_training_job(TrainingJobName=job)
        except (ClientError, BotoCoreError) as exc:
            describe_problem = f"DescribeTrainingJob {job} failed ({error_text(exc)})"
        definitions = dig(
            describe, "AlgorithmSpecification", "MetricDefinitions"
        ) or curve_parsing.default_definitions(self.data.task_type)
        compiled, problems = curve_parsing.compile_definitions(definitions)
        for problem in problems:
            self.data.warn(problem)
        log_problem: str | None = None
        try:
            messages = self._log_messages(job)
            series = curve_parsing.parse_metric_log(messages, compiled)
            if series:
                self.data.curves = TrainingCurves(job_name=job, source="log", series=series)
                return
            log_problem = "its log has no line matching the metric definitions"
        except (ClientError, BotoCoreError) as exc:
            log_problem = f"its CloudWatch log could not be read ({error_text(exc)})"
        final = curve_parsing.final_metric_series(describe.get("FinalMetricDataList") or [])
        if final:
            self.data.curves = TrainingCurves(
                job_name=job,
                source="final",
                series=final,
                note=f"final values only: {log_problem}",
            )
            return
        if describe_problem:
            self.data.warn(describe_problem)
        self.data.missing(CURVES, f"training job {job} reported no metrics: {log_problem}")

    def _log_messages(self, job: str) -> list[str]:
        """The messages of the job's first host stream (``<job>/algo-1-...``), oldest first.

        Streams are found with DescribeLogStreams; without that permission, FilterLogEvents with the
        stream-name prefix reads the same events (on AWS; moto ignores the prefix, hence the preference).
        """
        logs = self.clients.logs
        try:
            streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job}/").get(
                "logStreams", []
            )
        except ClientError as exc:
            if error_code(exc) not in ("AccessDeniedException", "AccessDenied"):
                raise
            return self._filtered_log_messages(job)
        names = sorted(stream["logStreamName"] for stream in streams)
        if not names:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": f"no log stream {job}/*"}},
                "DescribeLogStreams",
            )
        if len(names) > 1:
            self.data.warn(f"training job {job} has {len(names)} log streams; curves use {names[0]}")
        messages: list[str] = []
        token: str | None = None
        while len(messages) < MAX_LOG_EVENTS:
            params: dict[str, Any] = {
                "logGroupName": LOG_GROUP,
                "logStreamName": names[0],
                "startFromHead": True,
            }
            if token:
                params["nextToken"] = token
            page = logs.get_log_events(**params)
            messages.extend(str(event.get("message", "")) for event in page.get("events", []))
            next_token = page.get("nextForwardToken")
            if not page.get("events") or next_token == token:
                break
            token = next_token
        return messages[:MAX_LOG_EVENTS]

    def _filtered_log_messages(self, job: str) -> list[str]:
        messages: list[str] = []
        params: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{job}/algo-1"}
        while len(messages) < MAX_LOG_EVENTS:
            page = self.clients.logs.filter_log_events(**params)
            messages.extend(str(event.get("message", "")) for event in page.get("events", []))
            token = page.get("nextToken")
            if not token:
                break
            params["nextToken"] = token
        if not messages:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ResourceNotFoundException",
                        "Message": f"no log events in {job}/algo-1*",
                    }
                },
                "FilterLogEvents",
            )
        return messages[:MAX_LOG_EVENTS]
