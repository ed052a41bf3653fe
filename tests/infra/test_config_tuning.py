"""gtpipe:tuning: defaults, SageMaker's rules, and what reaches the execution config."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gtpipe_shared.config import PipelineConfig, load_pipeline_config
from gtpipe_shared.tasks import TaskType

from infra.config import ConfigError, StackConfig

RANGES = {
    "learning_rate": {"type": "continuous", "min": 0.001, "max": 0.5, "scaling": "Logarithmic"},
    "mini_batch_size": {"type": "integer", "min": 8, "max": 64},
    "optimizer": {"type": "categorical", "values": ["sgd", "adam"]},
}


def execution_input_config(config: StackConfig) -> dict[str, Any]:
    """PIPELINE_CONFIG as execution_config builds it, reloaded as start_run does: the execution input's config."""
    functions = PipelineConfig(
        task_type=TaskType(config.task_type),
        label_categories=list(config.label_categories),
        data_bucket="bucket",
        training=config.training,
        tuning=config.tuning,
    )
    reloaded = load_pipeline_config(json.dumps(functions.environment_json()), label_categories=["cat", "dog"])
    return reloaded.execution_config()


def build(**context: Any) -> StackConfig:
    values = {f"gtpipe:{key}": value for key, value in context.items()}
    return StackConfig.from_context(values.get)


def test_absent_means_no_tuning_and_no_key_in_the_pipeline_config() -> None:
    # Given no gtpipe:tuning / When the stack config is read / Then there is no tuning anywhere.
    config = build()
    assert config.tuning is None
    assert "tuning" not in execution_input_config(config)


def test_ranges_become_sagemaker_parameter_ranges_with_classification_defaults() -> None:
    # Given three ranges of each kind / When read / Then SageMaker's ParameterRanges shape, accuracy maximized.
    tuning = build(tuning={"ranges": RANGES, "maxJobs": 6, "maxParallelJobs": 2}).tuning
    assert tuning is not None
    assert tuning.objective_metric == "validation:accuracy" and tuning.objective_type == "Maximize"
    assert tuning.parameter_ranges == {
        "ContinuousParameterRanges": [
            {"Name": "learning_rate", "MinValue": "0.001", "MaxValue": "0.5", "ScalingType": "Logarithmic"}
        ],
        "IntegerParameterRanges": [
            {"Name": "mini_batch_size", "MinValue": "8", "MaxValue": "64", "ScalingType": "Auto"}
        ],
        "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}],
    }
    assert (tuning.max_jobs, tuning.max_parallel_jobs, tuning.early_stopping) == (6, 2, "Off")
    assert tuning.strategy == "Random"


def test_warm_start_is_off_by_default_and_reaches_the_execution_config_when_on() -> None:
    # Given gtpipe:tuning without and with warmStart / When read / Then off by default, on when set
    assert build(tuning={"ranges": RANGES}).tuning.warm_start is False  # type: ignore[union-attr]
    config = build(tuning={"ranges": RANGES, "warmStart": True})
    assert config.tuning is not None and config.tuning.warm_start is True
    # and the execution config carries it, with no parent until start_run finds one
    block = execution_input_config(config)
    assert block["tuning"]["warm_start"] is True and "parent_tuning_jobs" not in block["tuning"]


def test_detection_defaults_to_map() -> None:
    tuning = build(
        taskType="object-detection",
        tuning={"ranges": {"learning_rate": {"type": "continuous", "min": 0.0001, "max": 0.1}}},
    ).tuning
    assert tuning is not None and tuning.objective_metric == "validation:mAP"


def test_tuned_hyperparameters_leave_the_static_ones_and_reach_the_execution_config() -> None:
    # Given a fixed learning rate that is also tuned / When read / Then the static set no longer holds it.
    config = build(
        hyperparameters={"learning_rate": 0.0001, "epochs": 3},
        tuning={"ranges": {"learning_rate": RANGES["learning_rate"]}},
    )
    assert "learning_rate" not in config.training.hyperparameters
    assert config.training.hyperparameters["epochs"] == "3"
    block = execution_input_config(config)
    assert block["tuning"]["parameter_ranges"]["ContinuousParameterRanges"][0]["Name"] == "learning_rate"
    assert "learning_rate" not in block["training"]["hyperparameters"]


@pytest.mark.parametrize(
    ("tuning", "message"),
    [
        ({"ranges": {}}, "tuning.ranges must be an object"),
        ({"ranges": RANGES, "warmstart": True}, "unknown keys warmstart"),
        ({"ranges": RANGES, "warmStart": "yes"}, "tuning.warmStart must be true or false"),
        (
            {"ranges": {"num_classes": {"type": "integer", "min": 2, "max": 3}}},
            "computed from the labeled data",
        ),
        (
            {"ranges": {"learnin_rate": {"type": "continuous", "min": 0.1, "max": 0.2}}},
            "not a image-classification hyperparameter",
        ),
        (
            {"ranges": {"learning_rate": {"type": "continuous", "min": 0.2, "max": 0.1}}},
            "min (0.2) must be below max",
        ),
        (
            {
                "ranges": {
                    "learning_rate": {"type": "continuous", "min": 0, "max": 0.1, "scaling": "Logarithmic"}
                }
            },
            "above 0",
        ),
        (
            {"ranges": {"epochs": {"type": "integer", "min": 1, "max": 9, "scaling": "ReverseLogarithmic"}}},
            "continuous range within [0, 1)",
        ),
        ({"ranges": {"epochs": {"type": "integer", "min": 1.5, "max": 9}}}, "must be an integer"),
        (
            {"ranges": {"optimizer": {"type": "categorical", "values": [str(i) for i in range(31)]}}},
            "1 to 30",
        ),
        ({"ranges": {"optimizer": {"type": "grid", "values": ["sgd"]}}}, "type one of continuous"),
        ({"ranges": RANGES, "maxJobs": 2, "maxParallelJobs": 3}, "must not exceed tuning.maxJobs"),
        ({"ranges": RANGES, "maxJobs": 0}, "tuning.maxJobs"),
        (
            {"ranges": RANGES, "objective": {"metric": "validation:mAP"}},
            "must be a metric of the image-classification",
        ),
        ({"ranges": RANGES, "objective": {"metric": "validation:loss"}}, "objective.type is required"),
        ({"ranges": RANGES, "earlyStopping": "On"}, "earlyStopping must be one of Off, Auto"),
    ],
)
def test_bad_settings_fail_synth_naming_the_key(tuning: dict[str, Any], message: str) -> None:
    # Given a setting SageMaker (or the pipeline) would refuse / When read / Then ConfigError names it.
    with pytest.raises(ConfigError) as error:
        build(tuning=tuning)
    assert message in str(error.value)


def test_more_than_thirty_ranges_in_all_are_refused() -> None:
    # ParameterRanges: the sum over all range kinds is at most 30 (names need not be valid to count first).
    ranges = {f"p{i}": {"type": "integer", "min": 1, "max": 2} for i in range(31)}
    with pytest.raises(ConfigError, match="at most 30"):
        build(tuning={"ranges": ranges})


def test_a_tuning_job_whose_worst_case_exceeds_the_budget_fails_synth() -> None:
    # Given 6 trials of at most 2 h on 1 instance at $0.75 per instance-hour: at most $9.00
    tuning = {"ranges": RANGES, "maxJobs": 6, "trainingHourlyUsd": 0.75}
    training = {"maxRuntimeSeconds": 7200}
    # When the budget is below that / Then synth refuses, showing the estimate and its formula
    with pytest.raises(ConfigError) as error:
        build(tuning={**tuning, "budgetUsd": 8.99}, training=training)
    assert "may cost $9.00 (6 trials x 1 instances x 2 h" in str(error.value)
    assert "above tuning.budgetUsd $8.99" in str(error.value)
    # and a budget that covers it passes; a budget without a price is refused
    assert build(tuning={**tuning, "budgetUsd": 9}, training=training).tuning is not None
    with pytest.raises(ConfigError, match=r"needs tuning\.trainingHourlyUsd"):
        build(tuning={"ranges": RANGES, "budgetUsd": 9})
