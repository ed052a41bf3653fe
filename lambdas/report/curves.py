"""Training curves from a training job's log text, parsed with SageMaker metric definitions.

SageMaker turns log lines into metrics with ``MetricDefinitions``: each ``Regex`` captures the value in
group 1. The report applies the same regexes to the whole CloudWatch log stream to get every value, not
just the final one. ``DescribeTrainingJob`` returns the definitions of built-in algorithms in
``AlgorithmSpecification.MetricDefinitions``; when it does not, the built-in algorithm's definitions
(:mod:`gtpipe_shared.metric_definitions`, their one home) are used.

The epoch of a value is read from the same log line (``Epoch[3]`` or ``epoch=3``); values logged several
times per epoch (object detection logs losses per batch) are averaged per epoch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gtpipe_shared.metric_definitions import metric_definitions

from report.model import MetricPoint

_EPOCH = re.compile(r"Epoch\[([0-9]+)\]|\bepoch[=:]\s*([0-9]+)", re.IGNORECASE)


@dataclass(frozen=True)
class MetricDefinition:
    """A compiled metric definition."""

    name: str
    regex: re.Pattern[str]


def default_definitions(task_type: str) -> list[dict[str, str]]:
    """The definitions a log is parsed with when its job names none: the built-in algorithm's for
    ``task_type`` (a registered task type)."""
    return metric_definitions(task_type)


def compile_definitions(definitions: Iterable[Mapping[str, Any]]) -> tuple[list[MetricDefinition], list[str]]:
    """Compiled definitions plus one problem string per definition that cannot be used."""
    compiled: list[MetricDefinition] = []
    problems: list[str] = []
    for definition in definitions:
        name, regex = definition.get("Name"), definition.get("Regex")
        if not isinstance(name, str) or not isinstance(regex, str) or not name:
            problems.append(f"metric definition {definition!r:.120} has no Name and Regex")
            continue
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            problems.append(f"metric {name}: regex does not compile ({exc})")
            continue
        if pattern.groups < 1:
            problems.append(f"metric {name}: regex has no capture group")
            continue
        compiled.append(MetricDefinition(name, pattern))
    return compiled, problems


def parse_value(text: str) -> float | None:
    """A captured metric value as a finite float (``(0.5)`` and ``0.5,`` tolerated), else None."""
    cleaned = text.strip().strip("()[],;")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _epoch_of(line: str) -> int | None:
    match = _EPOCH.search(line)
    if not match:
        return None
    return int(match.group(1) or match.group(2))


def parse_metric_log(
    messages: Iterable[str], definitions: Sequence[MetricDefinition]
) -> dict[str, list[MetricPoint]]:
    """Every value each definition finds in the log, in log order, keyed by metric name.

    ``messages`` are log events (a message may hold several lines). Non-finite values (a diverged
    loss) are skipped, as SageMaker cannot report them either. Metrics without any value are absent.
    """
    found: dict[str, list[MetricPoint]] = {}
    for message in messages:
        for line in message.splitlines():
            for definition in definitions:
                for match in definition.regex.finditer(line):
                    value = parse_value(match.group(1))
                    if value is not None:
                        found.setdefault(definition.name, []).append(MetricPoint(value, _epoch_of(line)))
    return found


def per_epoch(points: Sequence[MetricPoint]) -> tuple[list[float], list[float], bool]:
    """``(x, y, averaged)`` for plotting one series.

    When every point names its epoch, x is the epoch and several values of one epoch are averaged
    (``averaged`` True). Otherwise x is the value's position in the log (1, 2, ...).
    """
    if points and all(point.epoch is not None for point in points):
        sums: dict[int, list[float]] = {}
        for point in points:
            assert point.epoch is not None
            sums.setdefault(point.epoch, []).append(point.value)
        epochs = sorted(sums)
        averaged = any(len(values) > 1 for values in sums.values())
        return [float(e) for e in epochs], [sum(sums[e]) / len(sums[e]) for e in epochs], averaged
    return [float(i) for i in range(1, len(points) + 1)], [point.value for point in points], False


def final_metric_series(final_metrics: Iterable[Mapping[str, Any]]) -> dict[str, list[MetricPoint]]:
    """One point per metric from ``DescribeTrainingJob.FinalMetricDataList``."""
    series: dict[str, list[MetricPoint]] = {}
    for metric in final_metrics:
        name, value = metric.get("MetricName"), metric.get("Value")
        if isinstance(name, str) and isinstance(value, int | float) and math.isfinite(value):
            series[name] = [MetricPoint(float(value))]
    return series


def metric_family(name: str) -> tuple[str, str]:
    """``("accuracy", "validation")`` from ``validation:accuracy``: panels group a family's series."""
    split, _, family = name.partition(":")
    return (family or split), (split if family else "")
