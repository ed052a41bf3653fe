"""Headless Chromium for the browser tests: Debian's ``chromium`` driven by Playwright.

One home for finding the browser (failing, never skipping, when it or Playwright is missing) and for
launching it. Under ``make test-clock-ahead`` the test process runs with libfaketime preloaded; Chromium
is launched without it (with the host's real clock), because libfaketime makes it about 25 times slower,
enough to time every browser test out. The browser's clock is then ``CLOCK_AHEAD_DAYS`` behind the
local cloud's, as a labeler's laptop with a wrong clock is behind AWS: the web app must not depend on
the two agreeing, and the labeling test proves it does not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from local.lambda_runtime import HOST_CLOCK_PREFIX, HOST_CLOCK_VARIABLES

CHROMIUM = Path("/usr/bin/chromium")


def require_browser() -> Any:
    """Playwright's sync API; fails (never skips) naming the fix when it or Chromium is missing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make install` (target `browser` installs Debian's chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: run `make install` (requirements-dev.txt pins it)")
    return sync_playwright


def real_clock_environment() -> dict[str, str]:
    """This process's environment without the variables that move a process's clock (libfaketime's)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in HOST_CLOCK_VARIABLES and not name.startswith(HOST_CLOCK_PREFIX)
    }


def launch(playwright: Any) -> Any:
    """Headless Chromium on the host's real clock (see the module docstring)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, env=real_clock_environment()
    )
