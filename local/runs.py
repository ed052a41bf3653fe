"""Following pipeline runs through the runs ledger and Step Functions, as an operator would.

Everything here reads the deployed resources (the ledger table, the state machine's executions, the
SageMaker APIs) through the local endpoint; nothing peeks into the local cloud's internals.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

_DESERIALIZER = TypeDeserializer()
TERMINAL_RUN_STATUSES = frozenset({"SUCCEEDED", "FAILED", "REJECTED"})
TERMINAL_EXECUTION_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


def plain(value: Any) -> Any:
    """A DynamoDB item (or part) with Decimals turned into int/float."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def item(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Deserialize a low-level DynamoDB item."""
    return plain({key: _DESERIALIZER.deserialize(value) for key, value in raw.items()})


def get_run(dynamodb: Any, table: str, run_id: str) -> dict[str, Any] | None:
    """One ledger item (consistent read), or None."""
    raw = dynamodb.get_item(TableName=table, Key={"run_id": {"S": run_id}}, ConsistentRead=True).get("Item")
    return item(raw) if raw else None


def find_run(dynamodb: Any, table: str, key: str, version_id: str | None = None) -> dict[str, Any] | None:
    """The ledger item of the run started by manifest ``key`` (that version, when given)."""
    pages = dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    for page in pages:
        for raw in page.get("Items", []):
            run = item(raw)
            if run.get("input_key") == key and (
                version_id is None or run.get("input_version_id") == version_id
            ):
                return run
    return None


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO-8601 ledger timestamp as an aware datetime (None when absent or unreadable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def step_durations(run: Mapping[str, Any]) -> list[tuple[str, str, float | None]]:
    """``(step, status, seconds)`` for each step of a ledger item, in start order."""
    rows = []
    for name, step in (run.get("steps") or {}).items():
        started, ended = parse_time(step.get("started_at")), parse_time(step.get("ended_at"))
        seconds = (ended - started).total_seconds() if started and ended else None
        rows.append(
            (started or dt.datetime.max.replace(tzinfo=dt.UTC), name, str(step.get("status")), seconds)
        )
    rows.sort(key=lambda row: row[0])
    return [(name, status, seconds) for _, name, status, seconds in rows]


def state_durations(history: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]:
    """``(state, seconds)`` from an execution history (entered -> exited), in order."""
    entered: dict[str, dt.datetime] = {}
    rows: list[tuple[str, float]] = []
    for event in history:
        if "stateEnteredEventDetails" in event:
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            if name in entered:
                rows.append((name, (event["timestamp"] - entered.pop(name)).total_seconds()))
    return rows


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """The whole history of an execution, oldest first."""
    events: list[dict[str, Any]] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        events.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token:
            return events


def current_state(history: Sequence[Mapping[str, Any]]) -> str | None:
    """The state most recently entered."""
    for event in reversed(history):
        if "stateEnteredEventDetails" in event:
            return str(event["stateEnteredEventDetails"]["name"])
    return None


@dataclass
class RunProgress:
    """A snapshot of a run for progress displays."""

    run_id: str | None
    run_status: str | None
    execution_status: str | None
    state: str | None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    elapsed: float = 0.0
    run: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        """The ledger says the run ended (and so does its execution, when it has one)."""
        if self.run_status not in TERMINAL_RUN_STATUSES:
            return False
        return self.execution_status is None or self.execution_status in TERMINAL_EXECUTION_STATUSES

    def line(self) -> str:
        """One line: elapsed time, state, and each SageMaker job's status/secondary status."""
        jobs = []
        for name, step in self.steps.items():
            text = f"{name}={step.get('status')}"
            secondary = step.get("secondary_status")
            if secondary and secondary != step.get("status"):
                text += f"/{secondary}"
            jobs.append(text)
        state = self.state or ("waiting for the run to start" if not self.run_id else "-")
        return f"[{self.elapsed:6.1f}s] {self.execution_status or self.run_status or 'PENDING':9} {state:22} {' '.join(jobs)}"


def follow_run(
    dynamodb: Any,
    sfn: Any,
    table: str,
    key: str,
    version_id: str | None,
    *,
    timeout: float = 900.0,
    interval: float = 1.0,
    on_progress: Callable[[RunProgress], None] | None = None,
    started: float | None = None,
) -> RunProgress:
    """Poll until the run of ``key``/``version_id`` ends (or ``timeout``); returns the last snapshot."""
    begin = started if started is not None else time.monotonic()
    deadline = time.monotonic() + timeout
    run_id: str | None = None
    progress = RunProgress(None, None, None, None)
    while True:
        run = get_run(dynamodb, table, run_id) if run_id else find_run(dynamodb, table, key, version_id)
        execution_status = state = None
        if run is not None:
            run_id = str(run["run_id"])
            arn = run.get("execution_arn")
            if arn:
                execution_status = sfn.describe_execution(executionArn=arn)["status"]
                state = current_state(execution_history(sfn, arn))
        progress = RunProgress(
            run_id=run_id,
            run_status=run.get("status") if run else None,
            execution_status=execution_status,
            state=state,
            steps=dict((run or {}).get("steps") or {}),
            elapsed=time.monotonic() - begin,
            run=run,
        )
        if on_progress is not None:
            on_progress(progress)
        if progress.finished or time.monotonic() > deadline:
            return progress
        time.sleep(interval)
