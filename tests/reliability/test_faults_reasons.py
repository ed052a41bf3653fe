"""Every recorded failure has a reason, including a task timeout, which Step Functions reports without a
cause (found by the endpoint fault-injection tests: heartbeat timeouts were recorded with cause "")."""

from __future__ import annotations

import pytest
from notify.handler import failure_cause


def test_given_a_timeout_without_cause_then_the_reason_names_the_timeout() -> None:
    # given/when: DeployEndpoint timed out (no heartbeat), Step Functions gives no cause
    reason = failure_cause("States.Timeout", None)
    # then
    assert reason.startswith("States.Timeout: ") and "heartbeat" in reason


@pytest.mark.parametrize("cause", [None, ""])
def test_given_any_error_without_cause_then_the_reason_is_not_empty(cause: str | None) -> None:
    assert failure_cause("EndpointFailed", cause) == "EndpointFailed (no cause was reported)"


def test_given_a_cause_then_it_is_kept_readable() -> None:
    cause = '{"errorMessage": "endpoint gtpipe-endpoint serves a, not b", "errorType": "EndpointRolledBack"}'
    assert failure_cause("EndpointRolledBack", cause) == "endpoint gtpipe-endpoint serves a, not b"
    assert failure_cause("States.Timeout", "plain text") == "plain text"
