"""TrainIncremental (gtpipe:harvest.warmStart) in the definition: ChooseTraining sends a run whose split found a
compatible serving model there, its request is Train's plus the 'model' channel of that model's artifact,
its failures are training failures, the pytorch fit leaves the channel alone, and the split's dataset version
and decision and the training job's hyperparameters travel on in the state."""

from __future__ import annotations

import copy

from tests.pipeline.asl_paths import render
from tests.pipeline.test_definition_contract import STATES, definition_with_substitutions, sample_state
from tests.pipeline.test_definition_contract import pipeline_config_json as pipeline_config_json  # fixture
from tests.pipeline.test_tuning_contract import choose

CONTEXT = {"State": {"RetryCount": 0}, "Task": {"Token": "t"}}


def test_choose_training_warm_starts_only_a_split_with_a_model_and_no_tuning(
    pipeline_config_json: str,
) -> None:
    # Given the state after the split of a warm-started feedback run, without tuning
    state = sample_state(pipeline_config_json, "augmented")
    state["config"].pop("tuning", None)
    # When ChooseTraining decides (its third rule: a model URI string in the split's warm_start)
    rule = STATES["ChooseTraining"]["Choices"][2]
    assert rule["And"] == [
        {"Variable": "$.split.warm_start.model_uri", "IsPresent": True},
        {"Variable": "$.split.warm_start.model_uri", "IsString": True},
    ]
    # Then TrainIncremental
    assert choose(state) == "TrainIncremental"
    # and a split that trains from scratch (a reason instead of a model) goes to Train
    cold = copy.deepcopy(state)
    cold["split"]["warm_start"] = {"reason": "no model serves"}
    assert choose(cold) == "Train"
    # and tuning comes first (warm start is refused with tuning at synth; the order says it anyway)
    tuned = copy.deepcopy(state)
    tuned["config"]["tuning"] = sample_state(pipeline_config_json, "augmented")["config"]["tuning"]
    assert choose(tuned) in ("Tune", "TuneWarmStart")


def test_train_incremental_is_train_plus_the_serving_model_s_channel(pipeline_config_json: str) -> None:
    # Given one sample state / When Train and TrainIncremental render their requests
    state = sample_state(pipeline_config_json, "augmented")
    definition = definition_with_substitutions()["States"]
    train = render(definition["Train"]["Parameters"], state, CONTEXT)
    incremental = render(definition["TrainIncremental"]["Parameters"], state, CONTEXT)
    # Then everything is Train's but one more channel: the serving model's artifact, as SageMaker takes it
    *channels, model = incremental.pop("InputDataConfig")
    assert channels == train.pop("InputDataConfig") and incremental == train
    assert model == {
        "ChannelName": "model",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": state["split"]["warm_start"]["model_uri"],
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "ContentType": "application/x-sagemaker-model",
        "InputMode": "File",
        "CompressionType": "None",
    }
    # and what follows is Train's: the same result, the same retries, failures at training, then CreateModel
    for key in ("Resource", "ResultSelector", "ResultPath", "TimeoutSeconds", "Retry", "Catch", "Next"):
        assert STATES["TrainIncremental"][key] == STATES["Train"][key], key
    assert [c["Next"] for c in STATES["TrainIncremental"]["Catch"]] == ["FailedTraining"]


def test_the_split_s_decision_and_the_training_job_s_network_travel_on() -> None:
    # Split keeps the dataset version and the decision; Train and the best trial keep the hyperparameters
    # Publish records in @serving (it gets $.training whole: a rollback's has the package's network instead)
    assert STATES["Split"]["ResultSelector"]["dataset.$"] == "$.Payload.dataset"
    assert STATES["Split"]["ResultSelector"]["warm_start.$"] == "$.Payload.warm_start"
    assert STATES["Split"]["Parameters"]["Payload"]["training_image.$"] == "$.config.training.image"
    for name in ("Train", "DescribeBestTrainingJob"):
        assert STATES[name]["ResultSelector"]["hyperparameters.$"] == "$.HyperParameters"
    assert STATES["Publish"]["Parameters"]["Payload"]["training.$"] == "$.training"


def test_the_pytorch_fit_adjusts_train_incremental_like_train_and_leaves_the_model_channel() -> None:
    # Given gtpipe:trainingAlgorithm pytorch / When the definition is fitted at synth
    from infra.config import StackConfig
    from infra.constructs.definition import fitted_definition

    context = {"gtpipe:trainingAlgorithm": "pytorch"}
    states = fitted_definition(StackConfig.from_context(context.get))["States"]
    train, incremental = states["Train"], states["TrainIncremental"]
    # Then both declare the metric definitions and record the inference image
    assert (
        incremental["Parameters"]["AlgorithmSpecification"] == train["Parameters"]["AlgorithmSpecification"]
    )
    assert incremental["ResultSelector"] == train["ResultSelector"]
    # and the streamed channels get the label attributes, the model channel (a file, not a stream) none
    *channels, model = incremental["Parameters"]["InputDataConfig"]
    assert channels == train["Parameters"]["InputDataConfig"]
    assert "AttributeNames.$" not in model["DataSource"]["S3DataSource"]
