"""``gtpipe:tuning``: hyperparameter tuning of the training step (README "Hyperparameter tuning"; schema
``gtpipe_shared.config.TuningConfig``).

Context::

    {"objective": {"metric": "validation:accuracy", "type": "Maximize"},
     "ranges": {"learning_rate": {"type": "continuous", "min": 0.001, "max": 0.5, "scaling": "Logarithmic"},
                "mini_batch_size": {"type": "integer", "min": 8, "max": 64},
                "optimizer": {"type": "categorical", "values": ["sgd", "adam"]}},
     "maxJobs": 6, "maxParallelJobs": 2, "earlyStopping": "Off", "strategy": "Random", "warmStart": true}

The rules checked here are SageMaker's, so a bad setting fails ``cdk synth`` instead of the run:

- the objective is one of the built-in algorithm's metrics (``gtpipe_shared.metric_definitions``: the
  built-ins' tuning objectives are ``validation:accuracy`` and ``validation:mAP``);
- ranges name the algorithm's hyperparameters (infra/config.py ``ALLOWED_HYPERPARAMETERS``), never one the
  split step computes; at most 30 ranges in all ("the sum of the number of hyperparameters for all the ranges
  can't exceed the maximum number specified", 30,
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ParameterRanges.html), at most 30 values per
  categorical range (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CategoricalParameterRange.html);
- scaling ``Auto|Linear|Logarithmic|ReverseLogarithmic``; logarithmic scaling only for ranges above 0, reverse
  logarithmic only for continuous ranges within [0, 1)
  (https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-define-ranges.html);
- ``maxJobs`` and ``maxParallelJobs`` at least 1 (``ResourceLimits``,
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceLimits.html); more parallel jobs than
  jobs is refused (they could never run);
- ``warmStart`` is a boolean (default false): true warm-starts each run's tuning job from the newest earlier
  tuning job of the same label set (``WarmStartType`` ``TransferLearning``: every run trains on a new manifest's
  data, and "The new hyperparameter tuning job can include input data ... that are different than those of its
  parent", https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-warm-start.html).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from gtpipe_shared.config import TrainingConfig, TuningConfig
from gtpipe_shared.metric_definitions import metric_definitions
from gtpipe_shared.pricing import estimate_tuning_cost
from gtpipe_shared.tasks import TaskType, task_spec

from infra.config_reader import PREFIX, ConfigError, build_section, int_setting, parse_number

ALLOWED_KEYS = (
    "objective",
    "ranges",
    "maxJobs",
    "maxParallelJobs",
    "earlyStopping",
    "strategy",
    "randomSeed",
    "trainingHourlyUsd",
    "budgetUsd",
    "warmStart",
)
RANGE_TYPES = ("continuous", "integer", "categorical")
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
MAX_RANGES = 30
MAX_CATEGORICAL_VALUES = 30
# The built-ins' documented tuning objectives, the default objective of each task type.
DEFAULT_OBJECTIVES: dict[TaskType, str] = {
    TaskType.IMAGE_CLASSIFICATION: "validation:accuracy",
    TaskType.OBJECT_DETECTION: "validation:mAP",
}
# Hyperparameters the split step computes from the labeled data: never tuned.
COMPUTED = frozenset({"num_classes", "num_training_samples", "label_width"})
_AWS_LIST = {
    "continuous": "ContinuousParameterRanges",
    "integer": "IntegerParameterRanges",
    "categorical": "CategoricalParameterRanges",
}


def read_tuning(
    raw: Mapping[str, Any] | None, task_type: str, hyperparameters: Mapping[TaskType, Collection[str]]
) -> TuningConfig | None:
    """The validated tuning section; None when ``gtpipe:tuning`` is absent or empty (no tuning).

    ``hyperparameters``: each task type's hyperparameter names (infra/config.py ``ALLOWED_HYPERPARAMETERS``);
    ConfigError names the bad key."""
    if not raw:
        return None
    allowed = hyperparameters[task_spec(task_type).task_type]
    unknown = sorted(set(raw) - set(ALLOWED_KEYS))
    if unknown:
        raise ConfigError(
            f"{PREFIX}tuning has unknown keys {', '.join(unknown)}; allowed: {', '.join(ALLOWED_KEYS)}"
        )
    metric, objective_type = _objective(raw.get("objective"), task_type)
    ranges = raw.get("ranges")
    if not isinstance(ranges, Mapping) or not ranges:
        raise ConfigError(
            f"{PREFIX}tuning.ranges must be an object of hyperparameter name -> range; got {ranges!r}"
        )
    if len(ranges) > MAX_RANGES:
        raise ConfigError(
            f"{PREFIX}tuning.ranges has {len(ranges)} ranges; SageMaker allows at most {MAX_RANGES}"
        )
    parameter_ranges: dict[str, list[dict[str, Any]]] = {}
    for name, spec in ranges.items():
        kind, item = _range(str(name), spec, task_type, allowed)
        parameter_ranges.setdefault(_AWS_LIST[kind], []).append(item)
    max_jobs = int_setting(raw, "tuning.maxJobs", 6, 1, 10_000)
    max_parallel = int_setting(raw, "tuning.maxParallelJobs", 1, 1, 10_000)
    if max_parallel > max_jobs:
        raise ConfigError(
            f"{PREFIX}tuning.maxParallelJobs ({max_parallel}) must not exceed tuning.maxJobs ({max_jobs})"
        )
    return build_section(
        TuningConfig,
        "tuning",
        objective_metric=metric,
        objective_type=objective_type,
        parameter_ranges=parameter_ranges,
        max_jobs=max_jobs,
        max_parallel_jobs=max_parallel,
        early_stopping=_choice(raw, "earlyStopping", ("Off", "Auto"), "Off"),
        strategy=_choice(raw, "strategy", ("Random", "Bayesian"), "Random"),
        random_seed=int_setting(raw, "tuning.randomSeed", 0, 0, 2**31 - 1),
        warm_start=_flag(raw, "warmStart"),
    )


def training_for_tuning(
    training: TrainingConfig, tuning: TuningConfig | None, raw: Mapping[str, Any] | None
) -> TrainingConfig:
    """``training`` for a stack that tunes: the tuned hyperparameters left out (the tuning job's
    ``StaticHyperParameters`` are the split step's hyperparameters, i.e. these plus the computed ones), after
    the tuning budget check: with ``budgetUsd`` (which needs ``trainingHourlyUsd``, the price of one training
    instance-hour), synth refuses a tuning job whose worst case, ``maxJobs`` trials each billed for
    ``training.maxRuntimeSeconds`` on ``training.instanceCount`` instances, exceeds it."""
    if tuning is None:
        return training
    _check_budget(training, tuning, raw or {})
    tuned = set(tuning.tuned_names())
    static = {name: value for name, value in training.hyperparameters.items() if name not in tuned}
    return training.model_copy(update={"hyperparameters": static})


def _check_budget(training: TrainingConfig, tuning: TuningConfig, raw: Mapping[str, Any]) -> None:
    if raw.get("budgetUsd") is None:
        return
    budget = parse_number(raw["budgetUsd"], f"{PREFIX}tuning.budgetUsd", 0.0, 1e9)
    if raw.get("trainingHourlyUsd") is None:
        raise ConfigError(
            f"{PREFIX}tuning.budgetUsd needs tuning.trainingHourlyUsd (USD per training instance-hour)"
        )
    hourly = parse_number(raw["trainingHourlyUsd"], f"{PREFIX}tuning.trainingHourlyUsd", 0.0, 1e6)
    estimate = estimate_tuning_cost(
        tuning.max_jobs, training.instance_count, training.max_runtime_seconds, hourly
    )
    if estimate > budget:
        raise ConfigError(
            f"{PREFIX}tuning: the tuning job may cost ${estimate:,.2f} ({tuning.max_jobs} trials x "
            f"{training.instance_count} instances x {training.max_runtime_seconds / 3600:g} h "
            f"(training.maxRuntimeSeconds) x ${hourly:g} per instance-hour), above tuning.budgetUsd "
            f"${budget:,.2f}; lower maxJobs or training.maxRuntimeSeconds, or raise the budget"
        )


def _flag(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{PREFIX}tuning.{key} must be true or false; got {value!r}")
    return value


def _choice(raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise ConfigError(f"{PREFIX}tuning.{key} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


def _objective(raw: Any, task_type: str) -> tuple[str, str]:
    spec = task_spec(task_type)
    if raw is None:
        return DEFAULT_OBJECTIVES[spec.task_type], "Maximize"
    if not isinstance(raw, Mapping) or set(raw) - {"metric", "type"}:
        raise ConfigError(
            f'{PREFIX}tuning.objective must be {{"metric": NAME, "type": "Maximize"|"Minimize"}}'
        )
    names = [definition["Name"] for definition in metric_definitions(task_type)]
    metric = raw.get("metric", DEFAULT_OBJECTIVES[spec.task_type])
    if metric not in names:
        raise ConfigError(
            f"{PREFIX}tuning.objective.metric must be a metric of the {task_type} algorithm; "
            f"got {metric!r}; allowed: {', '.join(names)}"
        )
    if "type" not in raw and metric != DEFAULT_OBJECTIVES[spec.task_type]:
        raise ConfigError(f"{PREFIX}tuning.objective.type is required for {metric} (Maximize or Minimize)")
    objective_type = raw.get("type", "Maximize")
    if objective_type not in ("Maximize", "Minimize"):
        raise ConfigError(
            f"{PREFIX}tuning.objective.type must be Maximize or Minimize; got {objective_type!r}"
        )
    return str(metric), str(objective_type)


def _range(name: str, spec: Any, task_type: str, allowed: Collection[str]) -> tuple[str, dict[str, Any]]:
    key = f"{PREFIX}tuning.ranges.{name}"
    if name in COMPUTED:
        raise ConfigError(
            f"{key}: {name} is computed from the labeled data by the split step; it cannot be tuned"
        )
    if name not in allowed:
        raise ConfigError(
            f"{key}: {name} is not a {task_type} hyperparameter; allowed: {', '.join(sorted(allowed))}"
        )
    if not isinstance(spec, Mapping) or spec.get("type") not in RANGE_TYPES:
        raise ConfigError(f"{key} must be an object with type one of {', '.join(RANGE_TYPES)}; got {spec!r}")
    kind = str(spec["type"])
    if kind == "categorical":
        values = spec.get("values")
        if (
            set(spec) - {"type", "values"}
            or not isinstance(values, list)
            or not 1 <= len(values) <= MAX_CATEGORICAL_VALUES
            or any(isinstance(v, bool | dict | list) or v is None for v in values)
        ):
            raise ConfigError(
                f"{key}: a categorical range has 'values', 1 to {MAX_CATEGORICAL_VALUES} strings or numbers"
            )
        return kind, {"Name": name, "Values": [str(v) for v in values]}
    if set(spec) - {"type", "min", "max", "scaling"}:
        raise ConfigError(f"{key}: a {kind} range has min, max and optionally scaling")
    low, high = _bound(spec.get("min"), f"{key}.min", kind), _bound(spec.get("max"), f"{key}.max", kind)
    if low >= high:
        raise ConfigError(f"{key}: min ({low}) must be below max ({high})")
    scaling = spec.get("scaling", "Auto")
    if scaling not in SCALING_TYPES:
        raise ConfigError(f"{key}.scaling must be one of {', '.join(SCALING_TYPES)}; got {scaling!r}")
    if scaling == "Logarithmic" and low <= 0:
        raise ConfigError(f"{key}: Logarithmic scaling needs a range above 0 (min {low})")
    if scaling == "ReverseLogarithmic" and (kind != "continuous" or low < 0 or high >= 1):
        raise ConfigError(f"{key}: ReverseLogarithmic scaling needs a continuous range within [0, 1)")
    return kind, {"Name": name, "MinValue": _text(low), "MaxValue": _text(high), "ScalingType": scaling}


def _bound(value: Any, key: str, kind: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number; got {value!r}")
    if kind == "integer" and not float(value).is_integer():
        raise ConfigError(f"{key} must be an integer for an integer range; got {value!r}")
    return float(value)


def _text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
