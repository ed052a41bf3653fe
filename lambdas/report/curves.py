"""Training curves from a training job's log text, parsed with SageMaker metric definitions.

SageMaker turns log lines into metrics with ``MetricDefinitions``: each ``Regex`` captures the value in
group 1. The report applies the same regexes to the whole CloudWatch log stream to get every value, not
just the final one. ``DescribeTrainingJob`` returns the definitions of built-in algorithms in
``AlgorithmSpecification.MetricDefinitions``; when it does not, the built-in tables below are used.

The epoch of a value is read from the same log line (``Epoch[3]`` or ``epoch=3``); values logged several
times per epoch (object detection logs losses per batch) are averaged per epoch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gtpipe_shared.tasks import TaskType, task_spec

from report.model import MetricPoint

# A number as Python's repr prints it, including nan/inf so a diverged run still parses.
_NUMBER = r"([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan|inf))"

CLASSIFICATION_METRIC_DEFINITIONS: tuple[dict[str, str], ...] = (
    {"Name": "train:accuracy", "Regex": r"Epoch\[[0-9]+\] Train-accuracy=" + _NUMBER},
    {"Name": "validation:accuracy", "Regex": r"Epoch\[[0-9]+\] Validation-accuracy=" + _NUMBER},
    {"Name": "train:loss", "Regex": r"Epoch\[[0-9]+\] Train-loss=" + _NUMBER},
    {"Name": "validation:loss", "Regex": r"Epoch\[[0-9]+\] Validation-loss=" + _NUMBER},
    {"Name": "train:top_k_accuracy", "Regex": r"Epoch\[[0-9]+\] Train-top_k_accuracy_[0-9]+=" + _NUMBER},
    {
        "Name": "validation:top_k_accuracy",
        "Regex": r"Epoch\[[0-9]+\] Validation-top_k_accuracy_[0-9]+=" + _NUMBER,
    },
)
"""The image-classification algorithm's definitions (a copy of ``training.contracts.METRIC_DEFINITIONS``:
the Lambda asset does not ship the training package; a test keeps the two equal)."""

# "#quality_metric: host=algo-1, epoch=3, validation mAP <score>=(0.81)"; training lines may name the batch,
# with or without a comma ("epoch=3, batch=20 train ..."), and the local detector leaves it out.
_QUALITY = r"#quality_metric: host=\S+, epoch=[0-9]+, (?:batch=[0-9]+,? )?"

DETECTION_METRIC_DEFINITIONS: tuple[dict[str, str], ...] = (
    {"Name": "validation:mAP", "Regex": _QUALITY + r"validation mAP <score>=\(" + _NUMBER + r"\)"},
    {"Name": "train:cross_entropy", "Regex": _QUALITY + r"train cross_entropy <loss>=\(" + _NUMBER + r"\)"},
    {"Name": "train:smooth_l1", "Regex": _QUALITY + r"train smooth_l1 <loss>=\(" + _NUMBER + r"\)"},
)
"""The object-detection algorithm's metrics (names as SageMaker reports them for the built-in image);
the regexes accept the built-in's log lines and those of ``training.detection`` (the local detector)."""

DEFAULT_DEFINITIONS: dict[TaskType, tuple[dict[str, str], ...]] = {
    TaskType.IMAGE_CLASSIFICATION: CLASSIFICATION_METRIC_DEFINITIONS,
    TaskType.OBJECT_DETECTION: DETECTION_METRIC_DEFINITIONS,
}
"""The built-in algorithms' metric definitions, by task type."""

_EPOCH = re.compile(r"Epoch\[([0-9]+)\]|\bepoch[=:]\s*([0-9]+)", re.IGNORECASE)


@dataclass(frozen=True)
class MetricDefinition:
    """A compiled metric definition."""

    name: str
    regex: re.Pattern[str]


def default_definitions(task_type: str) -> tuple[dict[str, str], ...]:
    """The built-in algorithm's metric definitions for ``task_type`` (a registered task type)."""
    return DEFAULT_DEFINITIONS[task_spec(task_type).task_type]


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
