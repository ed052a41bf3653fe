"""Guard against date bombs: the clock-sensitive modules pass with the clock a year ahead.

CloudWatch Logs drops events older than 14 days without an error, tokens and leases expire, and
reports print dates: a test that builds its data from a fixed date passes today and fails some day
later on every machine. This module runs those modules again in a child pytest with the wall clock
moved 365 days ahead (``GTPIPE_TEST_CLOCK_SHIFT_DAYS``, see ``tests/conftest.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CLOCK_SHIFT_VARIABLE

ROOT = Path(__file__).resolve().parent.parent
CLOCK_SENSITIVE = [
    "tests/lambdas/test_report_render.py",
    "tests/lambdas/test_report_handler.py",
    "tests/local_sagemaker/test_training_logs.py",
    "tests/lambdas/test_handler_endpoint.py",
    "tests/lambdas/test_shared_labeling_store.py",
]
DAYS = 365


@pytest.mark.slow
def test_report_and_log_tests_pass_a_year_from_now() -> None:
    # Given the modules that write CloudWatch logs, render reports or compare stored times
    # When they run in a child pytest with the clock moved 365 days ahead
    expected_day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=DAYS)).date()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *CLOCK_SENSITIVE],
        cwd=ROOT,
        env={**os.environ, CLOCK_SHIFT_VARIABLE: str(DAYS)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    tail = result.stdout[-4000:] + result.stderr[-2000:]
    # Then the child really ran a year ahead
    header = next((line for line in result.stdout.splitlines() if line.startswith("clock moved")), "")
    assert header.startswith(f"clock moved {DAYS} days ahead: today is "), tail
    seen = dt.date.fromisoformat(header.rsplit(" ", 1)[-1])
    assert abs((seen - expected_day).days) <= 1, header
    # And every test in those modules passed, as it does today
    assert result.returncode == 0, tail
    assert " passed" in result.stdout and " failed" not in result.stdout, tail
