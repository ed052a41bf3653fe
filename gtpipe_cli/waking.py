"""``gtpipe predict`` on a parked endpoint (README "Idle endpoints"): the API answers 503
``{"code": "Waking", "retry_after"}`` while the endpoint wakes; the CLI says so on stderr, waits ``retry_after``
seconds (the ``Retry-After`` header when the body has none; at least 1, at most 60) and asks again, for at most
``--wake-timeout`` seconds in all (default 900: SageMaker takes minutes to create an endpoint). Still waking then:
exit 4 (not there yet), naming how long it waited."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from gtpipe_cli.api import ApiResponse, PredictionClient, image_content_type
from gtpipe_cli.errors import CliError, Exit

DEFAULT_WAKE_TIMEOUT = 900.0
MIN_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0


def add_wake_option(parser: argparse.ArgumentParser) -> None:
    """``--wake-timeout S`` on ``predict``."""
    parser.add_argument(
        "--wake-timeout",
        type=float,
        default=DEFAULT_WAKE_TIMEOUT,
        help=f"seconds to wait for a parked endpoint to wake up (default {DEFAULT_WAKE_TIMEOUT:g})",
    )


def retry_after(response: ApiResponse) -> float | None:
    """Seconds to wait when ``response`` is the 503 Waking (bounded), None for any other answer."""
    if response.status != 503:
        return None
    answer = response.answer()
    if not isinstance(answer, dict) or answer.get("code") != "Waking":
        return None
    raw = answer.get("retry_after")
    if not isinstance(raw, int | float):
        raw = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
    try:
        seconds = float(raw) if raw is not None else MIN_RETRY_SECONDS
    except (TypeError, ValueError):
        seconds = MIN_RETRY_SECONDS
    return min(max(seconds, MIN_RETRY_SECONDS), MAX_RETRY_SECONDS)


def until_awake(
    send: Callable[..., ApiResponse],
    *args: Any,
    max_wait: float,
    err: TextIO | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    **kwargs: Any,
) -> ApiResponse:
    """``send(*args, **kwargs)`` until it is not the 503 Waking; CliError (exit 4) once ``max_wait`` seconds have passed."""
    stream = err or sys.stderr
    started = clock()
    while True:
        response = send(*args, **kwargs)
        wait = retry_after(response)
        if wait is None:
            return response
        waited = clock() - started
        if waited + wait > max_wait:
            raise CliError(
                f"the endpoint is still waking up after {waited:.0f} s (--wake-timeout {max_wait:g}); "
                "try again in a few minutes",
                Exit.NOT_YET,
            )
        stream.write(f"the endpoint is waking up (it was parked after idling); retrying in {wait:g} s\n")
        stream.flush()
        (sleep or time.sleep)(wait)


def predict_awake(
    client: PredictionClient, data: bytes, path: Path, query: Mapping[str, str] | None, max_wait: float
) -> ApiResponse:
    """``client.predict_any`` of one image file, waiting for a parked endpoint (:func:`until_awake`)."""
    content_type = image_content_type(data, path)
    return until_awake(client.predict_any, data, content_type, query=query, max_wait=max_wait)
