"""Following pipeline runs through the runs ledger and Step Functions, as an operator would.

The logic is generic over boto3 clients and lives in :mod:`gtpipe_cli.progress` (``gtpipe follow`` uses
it against AWS and the local cloud); this module keeps the names the demo, the benchmarks and the tests
import.
"""

from __future__ import annotations

from gtpipe_shared.ledger import from_dynamo as plain
from gtpipe_shared.ledger import from_low_level_item as item

from gtpipe_cli.progress import (
    TERMINAL_EXECUTION_STATUSES,
    TERMINAL_RUN_STATUSES,
    RunProgress,
    current_state,
    execution_history,
    find_run,
    follow_run,
    get_run,
    parse_time,
    state_durations,
    step_durations,
)

__all__ = [
    "TERMINAL_EXECUTION_STATUSES",
    "TERMINAL_RUN_STATUSES",
    "RunProgress",
    "current_state",
    "execution_history",
    "find_run",
    "follow_run",
    "get_run",
    "item",
    "parse_time",
    "plain",
    "state_durations",
    "step_durations",
]
