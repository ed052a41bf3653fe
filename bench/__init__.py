"""Benchmarks (python -m bench.<name>)."""

from __future__ import annotations

from collections.abc import Mapping


def print_figures(figures: Mapping[str, object]) -> None:
    """Print a benchmark's figures as an aligned two-column table."""
    width = max(len(key) for key in figures)
    print(f"{'figure':<{width}}  value")
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
