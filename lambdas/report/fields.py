"""Typed reads of loosely shaped JSON: the execution state, runs-ledger items and evaluation reports.

Pure: a value of the wrong type reads as None (or an empty mapping), never as an error, because a
report shows what it can (see :mod:`report.gather`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gtpipe_shared.aws import error_code

from report.model import Evaluation


def dig(mapping: Any, *path: str) -> Any:
    """``mapping[path[0]][path[1]]...`` or None when any step is missing or not a mapping."""
    value = mapping
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def as_map(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_text(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def as_int(value: Any) -> int | None:
    """``value`` as an int when it is one (or an integral float; never a bool), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def as_float(value: Any) -> float | None:
    """``value`` as a float when it is a number (not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def error_text(exc: BaseException) -> str:
    """An AWS error's code, else the exception's type and message (at most 300 characters)."""
    code = error_code(exc)
    return code or f"{type(exc).__name__}: {exc}"[:300]


def evaluation_from_report(report: Mapping[str, Any], *, source: str) -> Evaluation:
    """An :class:`Evaluation` from an evaluate report (``metrics.json``) or recomputed metrics."""
    matrix = dig(report, "confusion_matrix", "matrix")
    labels = dig(report, "confusion_matrix", "labels")
    per_class = as_map(report.get("per_class"))
    passed = report.get("passed")
    return Evaluation(
        metric_name=str(report.get("metric_name") or "score"),
        metric_value=float(report["metric_value"]),
        quality_threshold=as_float(report.get("quality_threshold")),
        passed=passed if isinstance(passed, bool) else None,
        count=as_int(report.get("count")) or 0,
        missing=as_int(report.get("missing")) or 0,
        per_class={str(k): dict(v) for k, v in per_class.items() if isinstance(v, Mapping)},
        confusion_labels=[str(x) for x in labels] if isinstance(labels, list) else None,
        confusion_matrix=[[int(c) for c in row] for row in matrix] if isinstance(matrix, list) else None,
        source=source,
    )
