"""Shared pieces of the report Lambda's unit tests."""

from __future__ import annotations

from datetime import UTC, datetime

# The run's reference time: labeling iterations, step timings and page timestamps are set relative to it.
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
