"""Shared test settings: offline AWS defaults, quiet jsii, and an optional moved clock.

``GTPIPE_TEST_CLOCK_SHIFT_DAYS=N`` runs this pytest process with the wall clock moved N days ahead
(time-machine, still ticking; monotonic clocks unchanged): ``tests/test_clock_ahead.py`` uses it to
run the clock-sensitive modules a year from now, so no test can depend on today's date.
``make test-clock-ahead`` moves the whole machine's clock instead (libfaketime, every process).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized

EVENTS = Path(__file__).resolve().parent / "events"

# Tests never reach AWS: fake credentials and a fixed region for boto3 and moto.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SECURITY_TOKEN"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)


CLOCK_SHIFT_VARIABLE = "GTPIPE_TEST_CLOCK_SHIFT_DAYS"
_travels: list[Any] = []


def pytest_configure(config: pytest.Config) -> None:
    """Move the wall clock when ``GTPIPE_TEST_CLOCK_SHIFT_DAYS`` asks for it (see the module docstring), and
    make moto's in-process S3 safe for concurrent requests, as S3 is (``local.moto_locks``)."""
    from local.moto_locks import serialize_s3_url_reload

    serialize_s3_url_reload()
    days = os.environ.get(CLOCK_SHIFT_VARIABLE)
    if days:
        import datetime as dt

        import time_machine

        travel = time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=float(days)), tick=True)
        travel.start()
        _travels.append(travel)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _travels:
        _travels.pop().stop()


def pytest_report_header(config: pytest.Config) -> list[str]:
    import datetime as dt

    lines = []
    if "libfaketime" in os.environ.get("LD_PRELOAD", "") and os.environ.get("FAKETIME"):
        # `make test-clock-ahead`: the header says which day every process of the run believes it is.
        lines.append(f"libfaketime FAKETIME={os.environ['FAKETIME']}: today is {dt.date.today().isoformat()}")
    if _travels:
        lines.append(
            f"clock moved {os.environ[CLOCK_SHIFT_VARIABLE]} days ahead: today is {dt.date.today().isoformat()}"
        )
    return lines


@pytest.fixture(scope="session")
def synth() -> Synthesized:
    """Both stacks synthesized with the configuration in cdk.json."""
    from tests.infra.conftest import synthesize

    return synthesize()


@pytest.fixture(scope="session")
def synth_api_key() -> Synthesized:
    """API-key authentication, an existing private workteam and automated labeling."""
    from tests.infra.conftest import synthesize

    return synthesize(
        apiAuth="api-key",
        workforce={
            "type": "private",
            "workteamArn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/team",
        },
        labeling={"autoLabeling": True, "workersPerObject": 1},
    )


@pytest.fixture(scope="session")
def load_event() -> Callable[[str], dict[str, Any]]:
    """Load a sample event from tests/events/."""

    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS / name).read_text())

    return load
