"""An execution's end is published whole: DescribeExecution never shows a terminal status without its result.

AWS never answers DescribeExecution with SUCCEEDED and no ``output`` (or FAILED without ``error``/``cause``).
moto 5.2.5 assigned the terminal status first and the result after it, from the execution's own thread, so a
client polling in between saw SUCCEEDED and no output (seen once in a suite run with the clock 60 days ahead).
These tests hold the execution's thread right after it publishes the status, which makes that window
deterministic: a client that sees the status must already see the result.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from moto.stepfunctions.parser import models as parser_models
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.backend.execution import Execution

from .harness import Sfn, machine

HOLD_SECONDS = 10.0


class _Gate:
    """Holds an execution's thread just after it sets a terminal status, until the test has looked."""

    def __init__(self) -> None:
        self.released = threading.Event()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Gate]:
    gate = _Gate()

    class HeldExecution(Execution):
        # exec_status is a plain instance attribute in moto; a property lets the test pause the writer.
        @property  # type: ignore[override]
        def exec_status(self) -> ExecutionStatus | None:
            status: ExecutionStatus | None = self.__dict__.get("_held_status")
            return status

        @exec_status.setter
        def exec_status(self, value: ExecutionStatus | None) -> None:
            self.__dict__["_held_status"] = value
            if value not in (None, ExecutionStatus.RUNNING):
                gate.released.wait(HOLD_SECONDS)

    # The parser backend builds executions with the name it imported.
    monkeypatch.setattr(parser_models, "Execution", HeldExecution)
    try:
        yield gate
    finally:
        gate.released.set()


def _first_terminal_describe(sfn: Sfn, execution_arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20.0
    while True:
        described: dict[str, Any] = sfn.client.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        assert time.monotonic() < deadline, "execution still RUNNING after 20 s"
        time.sleep(0.01)


def test_a_succeeded_execution_is_described_with_its_output(sfn: Sfn, gate: _Gate) -> None:
    # given a machine that ends with a known output, its thread held once it publishes its status
    definition = machine(("Done", {"Type": "Pass", "Result": {"answer": 42}, "End": True}))
    execution_arn = sfn.start(definition, {"run_id": "r-1"})

    # when a client polls until the execution is no longer RUNNING
    try:
        described = _first_terminal_describe(sfn, execution_arn)
    finally:
        gate.released.set()

    # then the first terminal answer already carries the output, as in the history's last event
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described.get("output", "null")) == {"answer": 42}
    finished = sfn.wait(execution_arn)
    assert finished.events[-1]["type"] == "ExecutionSucceeded"
    assert json.loads(finished.events[-1]["executionSucceededEventDetails"]["output"]) == {"answer": 42}


def test_a_failed_execution_is_described_with_its_error_and_cause(sfn: Sfn, gate: _Gate) -> None:
    # given a machine that fails with a known error and cause, its thread held once it publishes its status
    definition = machine(("Boom", {"Type": "Fail", "Error": "Split.Failed", "Cause": "no images"}))
    execution_arn = sfn.start(definition)

    # when a client polls until the execution is no longer RUNNING
    try:
        described = _first_terminal_describe(sfn, execution_arn)
    finally:
        gate.released.set()

    # then the first terminal answer already carries the error and the cause, as the history does
    assert described["status"] == "FAILED"
    assert (described.get("error"), described.get("cause")) == ("Split.Failed", "no images")
    failed = sfn.wait(execution_arn).of_type("ExecutionFailed")[0]["executionFailedEventDetails"]
    assert (failed["error"], failed["cause"]) == ("Split.Failed", "no images")
