"""The tuning states of the definition (gtpipe:tuning): ChooseTraining routes, Tune's trials are Train's job,
its name fits SageMaker's 32 characters, DescribeBestTrainingJob leaves $.training as Train does, and every
failure goes to FailedTraining."""

from __future__ import annotations

import hashlib
from typing import Any

from botocore.session import get_session
from botocore.validate import ParamValidator

from tests.pipeline.asl_paths import render
from tests.pipeline.test_definition_contract import (
    LONGEST_RUN_ID,
    STATES,
    definition_with_substitutions,
    sample_state,
)
from tests.pipeline.test_definition_contract import pipeline_config_json as pipeline_config_json  # fixture

CONTEXT = {"State": {"RetryCount": 0}, "Task": {"Token": "t"}}
SHARED = (
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableInterContainerTrafficEncryption",
)


def choose(state: dict[str, Any]) -> str:
    """ChooseTraining's decision for ``state`` (its two rules: config.tuning.parent_tuning_jobs present and not
    null -> TuneWarmStart; config.tuning present and not null -> Tune)."""
    warm_rule, rule, incremental_rule = STATES["ChooseTraining"]["Choices"]
    # (the third rule, TrainIncremental for a warm-started feedback run, is asserted in test_incremental_contract)
    assert incremental_rule["Next"] == "TrainIncremental"
    tuning = state.get("config", {}).get("tuning", "absent")
    assert [c["Variable"] for c in warm_rule["And"]] == ["$.config.tuning.parent_tuning_jobs"] * 2
    assert [(c.get("IsPresent"), c.get("IsNull")) for c in warm_rule["And"]] == [(True, None), (None, False)]
    assert [c["Variable"] for c in rule["And"]] == ["$.config.tuning", "$.config.tuning"]
    if isinstance(tuning, dict) and tuning.get("parent_tuning_jobs") is not None:
        return str(warm_rule["Next"])
    if tuning not in ("absent", None):
        return str(rule["Next"])
    warm_start = state.get("split", {}).get("warm_start") or {}
    return str(incremental_rule["Next"] if "model_uri" in warm_start else STATES["ChooseTraining"]["Default"])


def test_split_goes_to_the_choice_which_tunes_only_with_a_tuning_section(pipeline_config_json: str) -> None:
    # Given the state after Split / When ChooseTraining decides / Then Tune with config.tuning, else Train
    state = sample_state(pipeline_config_json, "augmented")
    state["split"]["warm_start"] = {"reason": "not a cumulative run"}  # (not a warm-started feedback run)
    assert STATES["Split"]["Next"] == "ChooseTraining"
    # (the sample run has a parent tuning job: warm start; without one, Tune)
    assert choose(state) == "TuneWarmStart"
    state["config"]["tuning"] = {
        k: v for k, v in state["config"]["tuning"].items() if k != "parent_tuning_jobs"
    }
    assert choose(state) == "Tune"
    assert (
        choose(
            {
                **state,
                "config": {
                    **state["config"],
                    "tuning": {**state["config"]["tuning"], "parent_tuning_jobs": None},
                },
            }
        )
        == "Tune"
    )
    assert choose({**state, "config": {**state["config"], "tuning": None}}) == "Train"
    without = {k: v for k, v in state["config"].items() if k != "tuning"}
    assert choose({**state, "config": without}) == "Train"
    # Train's model goes on to CreateModel (through ChooseLabelErrors: gtpipe:labelErrors is refused with tuning)
    assert (
        STATES["Train"]["Next"] == "ChooseLabelErrors"
        and STATES["ChooseLabelErrors"]["Default"] == "CreateModel"
        and STATES["DescribeBestTrainingJob"]["Next"] == "CreateModel"
    )


def test_the_trials_are_train_s_job_with_the_split_step_s_hyperparameters(pipeline_config_json: str) -> None:
    # Given one sample state / When Train and Tune render their requests
    state = sample_state(pipeline_config_json, "augmented")
    definition = definition_with_substitutions()["States"]
    train = render(definition["Train"]["Parameters"], state, CONTEXT)
    tune = render(definition["Tune"]["Parameters"], state, CONTEXT)
    trial = tune["TrainingJobDefinition"]
    # Then the trials' image, role, channels, output, resources and limits are Train's
    assert {key: trial[key] for key in SHARED} == {key: train[key] for key in SHARED}
    assert trial["StaticHyperParameters"] == train["HyperParameters"] == state["split"]["hyperparameters"]
    assert tune["Tags"] == train["Tags"]
    # and the tuning settings are config.tuning's
    config = tune["HyperParameterTuningJobConfig"]
    tuning = state["config"]["tuning"]
    assert config["ParameterRanges"] == tuning["parameter_ranges"]
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2}
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize",
        "MetricName": "validation:accuracy",
    }
    assert config["TrainingJobEarlyStoppingType"] == "Auto" and config["Strategy"] == "Random"


def test_the_tuning_job_name_is_the_run_id_s_md5_within_32_characters(pipeline_config_json: str) -> None:
    # Given the longest run id / Then the name is 32 hex digits, the same on every retry
    state = sample_state(pipeline_config_json, "input", run_id=LONGEST_RUN_ID)
    tune = render(definition_with_substitutions()["States"]["Tune"]["Parameters"], state, CONTEXT)
    assert tune["HyperParameterTuningJobName"] == hashlib.md5(LONGEST_RUN_ID.encode()).hexdigest()
    assert len(tune["HyperParameterTuningJobName"]) == 32


def test_the_best_job_is_described_into_train_s_result_shape(pipeline_config_json: str) -> None:
    # Given Tune's result (the tuning job and its best training job)
    state = sample_state(pipeline_config_json, "augmented")
    state["tuning_job"] = {"job_name": "0" * 32, "best_training_job": "0" * 32 + "-002-1a2b3c4d"}
    describe = STATES["DescribeBestTrainingJob"]
    request = render(describe["Parameters"], state, CONTEXT)
    # Then DescribeTrainingJob gets a request botocore accepts, for the best training job
    shape = get_session().get_service_model("sagemaker").operation_model("DescribeTrainingJob").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert request == {"TrainingJobName": state["tuning_job"]["best_training_job"]}
    # and its result is selected exactly as Train's .sync result is, into the same place
    assert describe["ResultSelector"] == STATES["Train"]["ResultSelector"]
    assert describe["ResultPath"] == STATES["Train"]["ResultPath"] == "$.training"
    assert STATES["Tune"]["ResultSelector"] == {
        "job_name.$": "$.HyperParameterTuningJobName",
        "best_training_job.$": "$.BestTrainingJob.TrainingJobName",
    }


def test_every_tuning_failure_is_a_training_failure() -> None:
    for name in ("Tune", "TuneWarmStart", "DescribeBestTrainingJob"):
        catchers = STATES[name]["Catch"]
        assert [c["Next"] for c in catchers] == ["FailedTraining"] and catchers[0]["ErrorEquals"] == [
            "States.ALL"
        ]


def test_with_the_pytorch_algorithm_the_trials_and_the_best_model_are_fitted_like_train() -> None:
    # Given gtpipe:trainingAlgorithm pytorch with tuning / When the definition is fitted at synth
    from infra.config import StackConfig
    from infra.constructs.definition import fitted_definition

    context = {
        "gtpipe:trainingAlgorithm": "pytorch",
        "gtpipe:tuning": {"ranges": {"learning_rate": {"type": "continuous", "min": 0.001, "max": 0.1}}},
    }
    states = fitted_definition(StackConfig.from_context(context.get))["States"]
    train, tune = states["Train"]["Parameters"], states["Tune"]["Parameters"]["TrainingJobDefinition"]
    # Then the trials declare Train's metric definitions and stream Train's attributes
    assert tune["AlgorithmSpecification"] == train["AlgorithmSpecification"]
    assert "MetricDefinitions" in tune["AlgorithmSpecification"]
    assert tune["InputDataConfig"] == train["InputDataConfig"]
    # and the best trial's model names the inference image, as Train's result does
    assert states["DescribeBestTrainingJob"]["ResultSelector"] == states["Train"]["ResultSelector"]
    # and the warm start variant's trials are fitted the same way
    warm = states["TuneWarmStart"]["Parameters"]["TrainingJobDefinition"]
    assert warm == states["Tune"]["Parameters"]["TrainingJobDefinition"]


def test_the_warm_start_variant_is_tune_plus_a_transfer_learning_warm_start_from_the_parent(
    pipeline_config_json: str,
) -> None:
    # Given the sample run with a parent tuning job / When Tune and TuneWarmStart render their requests
    state = sample_state(pipeline_config_json, "augmented")
    definition = definition_with_substitutions()["States"]
    tune = render(definition["Tune"]["Parameters"], state, CONTEXT)
    warm = render(definition["TuneWarmStart"]["Parameters"], state, CONTEXT)
    # Then they differ only by WarmStartConfig: the parent, TransferLearning (each run's data is new)
    assert {k: v for k, v in warm.items() if k != "WarmStartConfig"} == tune
    assert warm["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": state["config"]["tuning"]["parent_tuning_jobs"],
        "WarmStartType": "TransferLearning",
    }
    # and the rest of the state is Tune's: same result, retries, failure state and next state
    for key in ("Resource", "ResultSelector", "ResultPath", "TimeoutSeconds", "Retry", "Catch", "Next"):
        assert STATES["TuneWarmStart"][key] == STATES["Tune"][key], key
    # and botocore accepts the request
    model = get_session().get_service_model("sagemaker").operation_model("CreateHyperParameterTuningJob")
    report = ParamValidator().validate(warm, model.input_shape)
    assert not report.has_errors(), report.generate_report()
