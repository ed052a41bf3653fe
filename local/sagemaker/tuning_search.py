"""The local tuning job's search: which hyperparameters each trial gets, and which trial is best (no I/O).

SageMaker's strategies are its own; the local SageMaker runs a seeded random search for ``Random`` and
``Bayesian`` alike (the same request always gives the same trials), sampling each range with its scaling as
"Define Hyperparameter Ranges" describes it
(https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-define-ranges.html): ``Linear`` (and
``Auto``, which SageMaker may also treat as linear) uniformly, ``Logarithmic`` uniformly in log space,
``ReverseLogarithmic`` uniformly in log space of ``1 - value``.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RANGE_KINDS = ("ContinuousParameterRanges", "IntegerParameterRanges", "CategoricalParameterRanges")


def tuned_names(ranges: Mapping[str, Any]) -> list[str]:
    """The names of every range of a ``ParameterRanges`` object, in request order."""
    return [str(item["Name"]) for kind in RANGE_KINDS for item in ranges.get(kind, [])]


def search_seed(tuning_job_name: str, random_seed: int | None) -> int:
    """The search's seed: the request's ``RandomSeed``, else one derived from the job name (never the clock)."""
    if random_seed is not None:
        return int(random_seed)
    return int.from_bytes(hashlib.sha256(tuning_job_name.encode()).digest()[:8], "big")


def _continuous(item: Mapping[str, Any], rng: random.Random) -> float:
    low, high = float(item["MinValue"]), float(item["MaxValue"])
    scaling = item.get("ScalingType", "Auto")
    if scaling == "Logarithmic":
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    if scaling == "ReverseLogarithmic":
        return 1.0 - math.exp(rng.uniform(math.log(1.0 - high), math.log(1.0 - low)))
    return rng.uniform(low, high)


def _integer(item: Mapping[str, Any], rng: random.Random) -> int:
    low, high = int(float(item["MinValue"])), int(float(item["MaxValue"]))
    if item.get("ScalingType") == "Logarithmic":
        return min(high, max(low, round(math.exp(rng.uniform(math.log(low), math.log(high))))))
    return rng.randint(low, high)


def sample_trials(ranges: Mapping[str, Any], count: int, seed: int) -> list[dict[str, str]]:
    """``count`` trials' tuned hyperparameters (string values, as SageMaker passes them), seeded."""
    rng = random.Random(seed)
    trials = []
    for _ in range(count):
        values: dict[str, str] = {}
        for item in ranges.get("ContinuousParameterRanges", []):
            values[str(item["Name"])] = f"{_continuous(item, rng):.6g}"
        for item in ranges.get("IntegerParameterRanges", []):
            values[str(item["Name"])] = str(_integer(item, rng))
        for item in ranges.get("CategoricalParameterRanges", []):
            values[str(item["Name"])] = str(rng.choice(list(item["Values"])))
        trials.append(values)
    return trials


@dataclass(frozen=True)
class TrialResult:
    """One finished trial: its training job name, status and objective value (None: not reported)."""

    name: str
    status: str
    objective: float | None


def best_trial(results: Sequence[TrialResult], objective_type: str) -> TrialResult | None:
    """The completed trial with the best objective (``Maximize``: highest); ties go to the earlier trial;
    None when no trial completed with an objective value."""
    scored = [
        r
        for r in results
        if r.status == "Completed" and r.objective is not None and math.isfinite(r.objective)
    ]
    if not scored:
        return None
    sign = 1.0 if objective_type == "Maximize" else -1.0
    return max(scored, key=lambda r: (sign * float(r.objective or 0.0), -results.index(r)))


def objective_value(final_metrics: Sequence[Mapping[str, Any]], metric_name: str) -> float | None:
    """The objective's value in a training job's ``FinalMetricDataList``, or None."""
    for metric in final_metrics:
        if metric.get("MetricName") == metric_name:
            try:
                return float(metric["Value"])
            except (TypeError, ValueError, KeyError):
                return None
    return None
