"""Warm start of the local SageMaker's tuning jobs (``WarmStartConfig``): AWS's rules, and the parents' trials
seeding the search (no I/O; ``tuning_job.py`` gathers the parents).

Refused as SageMaker refuses them ("Warm Start Tuning Restrictions",
https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-warm-start.html; 1 to 5 parents,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_HyperParameterTuningJobWarmStartConfig.html):

- more than 5 parents, a parent named twice, a parent that does not exist or is not in a terminal state
  (``Completed``, ``Stopped`` or ``Failed``);
- an objective metric other than the parents';
- a total number of static plus tunable hyperparameters other than a parent's (SageMaker's own
  ``_tuning_objective_metric`` is not counted);
- a hyperparameter tuned in a parent and in the new job with another type (continuous, integer, categorical);
- the parents' training jobs plus ``MaxNumberOfTrainingJobs`` above 500 (the parents' trials "count against the
  500 maximum training jobs for a tuning job").

Not checked: the limit of 10 changes from tunable to static plus changes of static values (a run's computed
``num_training_samples`` is one such change per warm start).

The search: the first trial takes the parents' best trial's values for every range that still contains them
(the rest, and every other trial, come from the seeded random search), so a warm-started job starts from the
best configuration its parents found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .tuning_search import RANGE_KINDS

MAX_PARENTS = 5
MAX_TRAINING_JOBS = 500
PARENT_STATES = ("Completed", "Stopped", "Failed")
_KIND = {
    "ContinuousParameterRanges": "continuous",
    "IntegerParameterRanges": "integer",
    "CategoricalParameterRanges": "categorical",
}


class WarmStartRefused(ValueError):
    """A ``WarmStartConfig`` SageMaker refuses; the message names the rule."""


@dataclass(frozen=True)
class ParentJob:
    """What the rules and the search need of one parent: its request, status and finished trials
    (tuned values, status, objective value or None)."""

    name: str
    status: str
    request: Mapping[str, Any]
    trials: Sequence[tuple[Mapping[str, str], str, float | None]] = field(default_factory=tuple)


def range_kinds(ranges: Mapping[str, Any]) -> dict[str, str]:
    """Each tuned hyperparameter's type (``continuous``, ``integer``, ``categorical``) in ``ParameterRanges``."""
    return {str(item["Name"]): _KIND[kind] for kind in RANGE_KINDS for item in ranges.get(kind, [])}


def _hyperparameter_count(request: Mapping[str, Any]) -> int:
    static = request["TrainingJobDefinition"].get("StaticHyperParameters", {})
    tuned = range_kinds(request["HyperParameterTuningJobConfig"].get("ParameterRanges", {}))
    return len({name for name in static if not name.startswith("_")} | set(tuned))


def check_warm_start(request: Mapping[str, Any], parents: Mapping[str, ParentJob | None]) -> None:
    """Raise :class:`WarmStartRefused` when SageMaker would refuse ``request``'s ``WarmStartConfig``.

    ``parents`` maps each named parent to what the local SageMaker knows of it (None: no such tuning job)."""
    names = [
        str(p["HyperParameterTuningJobName"])
        for p in request["WarmStartConfig"]["ParentHyperParameterTuningJobs"]
    ]
    if not 1 <= len(names) <= MAX_PARENTS:
        raise WarmStartRefused(f"WarmStartConfig names {len(names)} parent tuning jobs; 1 to {MAX_PARENTS}")
    if len(set(names)) != len(names):
        raise WarmStartRefused("WarmStartConfig names a parent tuning job more than once")
    config = request["HyperParameterTuningJobConfig"]
    metric = config["HyperParameterTuningJobObjective"]["MetricName"]
    kinds = range_kinds(config.get("ParameterRanges", {}))
    count = _hyperparameter_count(request)
    parent_trials = 0
    for name in names:
        parent = parents.get(name)
        if parent is None:
            raise WarmStartRefused(f"WarmStartConfig names parent tuning job {name}, which does not exist")
        if parent.status not in PARENT_STATES:
            raise WarmStartRefused(
                f"WarmStartConfig parent tuning job {name} is {parent.status}; a parent must be Completed, "
                "Stopped or Failed"
            )
        parent_config = parent.request["HyperParameterTuningJobConfig"]
        parent_metric = parent_config["HyperParameterTuningJobObjective"]["MetricName"]
        if parent_metric != metric:
            raise WarmStartRefused(
                f"WarmStartConfig: the objective metric {metric} differs from parent {name}'s {parent_metric}"
            )
        if _hyperparameter_count(parent.request) != count:
            raise WarmStartRefused(
                f"WarmStartConfig: {count} static plus tunable hyperparameters, parent {name} has "
                f"{_hyperparameter_count(parent.request)}; the total must stay the same"
            )
        for hyperparameter, kind in range_kinds(parent_config.get("ParameterRanges", {})).items():
            if kinds.get(hyperparameter, kind) != kind:
                raise WarmStartRefused(
                    f"WarmStartConfig: {hyperparameter} is {kinds[hyperparameter]} here and {kind} in parent "
                    f"{name}; a hyperparameter's type must not change"
                )
        parent_trials += len(parent.trials)
    total = parent_trials + int(config["ResourceLimits"].get("MaxNumberOfTrainingJobs", 0))
    if total > MAX_TRAINING_JOBS:
        raise WarmStartRefused(
            f"WarmStartConfig: the parents' {parent_trials} training jobs plus MaxNumberOfTrainingJobs make "
            f"{total}; at most {MAX_TRAINING_JOBS}"
        )


def _fits(item: Mapping[str, Any], kind: str, value: str) -> bool:
    if kind == "categorical":
        return value in [str(v) for v in item["Values"]]
    try:
        number = float(value)
    except ValueError:
        return False
    if kind == "integer" and not number.is_integer():
        return False
    return math.isfinite(number) and float(item["MinValue"]) <= number <= float(item["MaxValue"])


def best_parent_values(
    parents: Sequence[ParentJob], ranges: Mapping[str, Any], objective_type: str
) -> dict[str, str]:
    """The parents' best completed trial's values that the new ``ranges`` still contain ({} without one)."""
    sign = 1.0 if objective_type == "Maximize" else -1.0
    scored = [
        (sign * value, tuned)
        for parent in parents
        for tuned, status, value in parent.trials
        if status == "Completed" and value is not None and math.isfinite(value)
    ]
    if not scored:
        return {}
    best = max(scored, key=lambda pair: pair[0])[1]
    return {
        str(item["Name"]): str(best[item["Name"]])
        for kind in RANGE_KINDS
        for item in ranges.get(kind, [])
        if item["Name"] in best and _fits(item, _KIND[kind], str(best[item["Name"]]))
    }


def seed_trials(trials: list[dict[str, str]], best: Mapping[str, str]) -> list[dict[str, str]]:
    """``trials`` (the random search's) with the first one starting from the parents' ``best`` values."""
    if not trials or not best:
        return trials
    return [{**trials[0], **best}, *trials[1:]]
