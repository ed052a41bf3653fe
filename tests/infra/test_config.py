"""Configuration validation: bad context values fail synth with a message naming the key."""

from __future__ import annotations

import re
from typing import Any

import pytest
from gtpipe_shared.pricing import BuiltinPricing

from infra.config import ConfigError, StackConfig


def build(**context: Any) -> StackConfig:
    values = {f"gtpipe:{key}": value for key, value in context.items()}
    return StackConfig.from_context(values.get)


def test_defaults_are_valid() -> None:
    config = build()
    assert config.task_type == "image-classification"
    assert config.api_auth == "iam"
    assert config.endpoint_name == "gtpipe-endpoint"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"taskType": "segmentation"},
            "gtpipe:taskType must be one of image-classification, object-detection",
        ),
        ({"labelingBackend": "mturk"}, "gtpipe:labelingBackend must be one of"),
        ({"apiAuth": "none"}, "gtpipe:apiAuth must be one of iam, api-key"),
        ({"labelCategories": []}, "labelCategories must hold 1 to 1000 names"),
        ({"labelCategories": ["cat", "cat"]}, "labelCategories has duplicates: cat"),
        ({"labelCategories": "cat,dog"}, None),
        ({"validationSplitRatio": 1.5}, "gtpipe:validationSplitRatio must be between 0.01 and 0.9"),
        ({"qualityThreshold": "high"}, "gtpipe:qualityThreshold must be a number"),
        (
            {"training": {"instanceType": "p3.2xlarge"}},
            "training.instanceType must be a SageMaker instance type",
        ),
        ({"training": {"instanceCount": 0}}, "training.instanceCount must be between 1 and 20"),
        ({"labeling": {"workersPerObject": 2.5}}, "labeling.workersPerObject must be a whole number"),
        ({"labeling": {"autoLabeling": "yes"}}, "labeling.autoLabeling must be true or false"),
        (
            {"hyperparameters": {"epoch": 3}},
            "hyperparameters.epoch is not a image-classification hyperparameter",
        ),
        ({"hyperparameters": {"num_classes": 3}}, "hyperparameters.num_classes is computed"),
        ({"labelAttributeName": "my label"}, "gtpipe:labelAttributeName must be letters, digits and dashes"),
        ({"workforce": {"type": "private"}}, "workforce.workteamArn must be a SageMaker workteam ARN"),
        ({"workforce": {"type": "create-private", "workerEmails": ["not-an-email"]}}, "workerEmails"),
        ({"notificationEmails": ["ops@"]}, "notificationEmails: 'ops@' is not an e-mail address"),
        (
            {"allowedSourceBuckets": ["Bad_Bucket"]},
            "allowedSourceBuckets: 'Bad_Bucket' is not a valid S3 bucket",
        ),
        ({"labelingPrices": {"perObjectUSD": 0.1}}, "labelingPrices has unknown keys perObjectUSD"),
        ({"labelingPrices": {"perObjectUsd": -0.01}}, "labelingPrices: labeling price per_object_usd"),
        ({"labelingPrices": {"perObjectUsd": "0.1"}}, "labelingPrices.perObjectUsd must be a number"),
        (
            {"labelingPrices": {"perAnswerUsd": {"object-detection": "cheap"}}},
            "labelingPrices: labeling price per_answer_usd",
        ),
        ({"labelingPrices": {"perAnswerUsd": 0.012}}, "labelingPrices: labeling price perAnswerUsd must map"),
        ({"labelingPrices": [0.08]}, "gtpipe:labelingPrices must be an object"),
        ({"labelingBudgetUsd": -5}, "gtpipe:labelingBudgetUsd must be between 0.0 and"),
        ({"labelingBudgetUsd": "lots"}, "gtpipe:labelingBudgetUsd must be a number"),
        (
            {"labeling": {"reuseModel": True, "autoLabeling": False}},
            "labeling.reuseModel needs automated labeling",
        ),
    ],
)
def test_invalid_values_name_the_key(context: dict[str, Any], message: str | None) -> None:
    if message is None:
        # A comma-separated string (from `cdk synth -c`) is accepted as a list.
        assert build(**context).label_categories == ("cat", "dog")
        return
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build(**context)


@pytest.mark.parametrize(
    "workforce",
    [
        {"type": "public"},
        {
            "type": "vendor",
            "workteamArn": "arn:aws:sagemaker:us-east-1:394669845002:workteam/public-crowd/default",
        },
    ],
)
def test_mechanical_turk_public_workforce_is_refused(workforce: dict[str, Any]) -> None:
    with pytest.raises(
        ConfigError, match="Mechanical Turk public workforce closed permanently on 2026-09-30"
    ):
        build(workforce=workforce)


def test_overrides_are_typed() -> None:
    config = build(
        taskType="object-detection",
        hyperparameters={"epochs": 30, "base_network": "resnet-50"},
        endpoint={"instanceCount": 2},
        labeling={"autoLabeling": True},
    )
    assert config.hyperparameters == {"epochs": "30", "base_network": "resnet-50"}
    assert config.endpoint.instance_count == 2
    assert config.endpoint.max_instance_count == 2
    assert config.labeling.auto_labeling is True


def test_json_strings_from_the_command_line_are_parsed() -> None:
    # Given values as `cdk deploy -c key=value` passes them: strings
    config = build(
        labelCategories='["cat", "dog"]',
        workforce='{"type": "private", "workteamArn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/t"}',
        training='{"instanceType": "ml.p3.8xlarge"}',
    )
    assert config.label_categories == ("cat", "dog")
    assert config.workforce.type == "private"
    assert config.training.instance_type == "ml.p3.8xlarge"


def test_malformed_json_string_names_the_key() -> None:
    with pytest.raises(ConfigError, match="gtpipe:workforce is not valid JSON"):
        build(workforce='{"type": ')


def test_prices_budget_and_reuse_defaults() -> None:
    config = build()
    assert config.labeling_prices.per_object_usd == 0.08
    assert config.labeling_prices.answer_price("image-classification") == 0.012
    assert config.labeling_budget_usd is None
    assert config.labeling.reuse_model is False and config.labeling.auto_labeling is False


def test_prices_and_budget_are_typed_and_merge_with_the_seed_prices() -> None:
    config = build(
        labelingPrices='{"perObjectUsd": 0.1, "perAnswerUsd": {"object-detection": 0.05}}',
        labelingBudgetUsd="120.5",
    )
    assert config.labeling_prices.per_object_usd == 0.1
    assert config.labeling_prices.answer_price("object-detection") == 0.05
    assert config.labeling_prices.answer_price("image-classification") == 0.012
    assert config.labeling_budget_usd == 120.5
    # A zero budget is a budget: it refuses every labeling job (augmented manifests still run).
    assert build(labelingBudgetUsd=0).labeling_budget_usd == 0.0


def test_model_reuse_turns_automated_labeling_on() -> None:
    config = build(labeling={"reuseModel": True})
    assert config.labeling.reuse_model is True
    assert config.labeling.auto_labeling is True


BUILTIN = {"labelingBackend": "builtin"}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"labeling": {"instructions": "   "}}, "gtpipe:labeling.instructions must be a non-empty string"),
        ({"labeling": {"instructions": ["a"]}}, "gtpipe:labeling.instructions must be a non-empty string"),
        ({"labeling": {"instructions": "x" * 2001}}, "labeling.instructions must be at most 2000 characters"),
        (
            {"labeling": {"minLabeledShare": 1.2}},
            "gtpipe:labeling.minLabeledShare must be between 0.0 and 1.0",
        ),
        ({"labeling": {"minLabeledShare": "most"}}, "gtpipe:labeling.minLabeledShare must be a number"),
        ({"labelingTeam": ["a@example.com"]}, "gtpipe:labelingTeam must be an object"),
        ({"labelingTeam": {"workers": ["a@example.com"]}}, "labelingTeam has unknown keys workers; allowed"),
        ({"labelingTeam": {"labelers": "a@example.com"}}, "labelingTeam.labelers must be a list of e-mail"),
        ({"labelingTeam": {"admins": ["boss"]}}, "labelingTeam.admins: 'boss' is not an e-mail address"),
        (
            {"labelingTeam": {"labelers": ["a@example.com", "A@example.com"]}},
            "labelingTeam.labelers lists a@example.com more than once",
        ),
        ({"labeling": {"hotkeys": {"cat": "c"}}}, "labeling.hotkeys sets keys in the builtin labeling app"),
        ({**BUILTIN, "labeling": {"hotkeys": ["c"]}}, "labeling.hotkeys must be an object of class name"),
        (
            {**BUILTIN, "labeling": {"hotkeys": {"cat": "ca"}}},
            "gtpipe:labeling: hotkeys: Value error, the key of class 'cat' must be one letter or digit",
        ),
        (
            {**BUILTIN, "labeling": {"hotkeys": {"cat": "c", "car": "C"}}},
            "hotkeys: Value error, key 'c' is given to more than one class",
        ),
        (
            {**BUILTIN, "labeling": {"autoLabelingBatchSize": 50}},
            "labeling.autoLabelingBatchSize configures the builtin labeling service's automated labeling",
        ),
        (
            {"labeling": {"autoLabeling": True, "autoLabelingMaxRounds": 3}},
            "labeling.autoLabelingMaxRounds configures the builtin labeling service's automated labeling",
        ),
        (
            {**BUILTIN, "labeling": {"autoLabeling": True, "autoLabelingValidationSize": 10}},
            "gtpipe:labeling.autoLabelingValidationSize must be between 20",
        ),
        (
            {**BUILTIN, "labeling": {"autoLabeling": True, "autoLabelingMaxRounds": 21}},
            "gtpipe:labeling.autoLabelingMaxRounds must be between 1",
        ),
        ({"labeling": {"labelerHourlyRate": 15}}, "labeling.labelerHourlyRate prices the builtin labeling"),
        ({"labeling": {"secondsPerTask": 10}}, "labeling.secondsPerTask prices the builtin labeling"),
        ({**BUILTIN, "labeling": {"labelerHourlyRate": -1}}, "gtpipe:labeling.labelerHourlyRate must be"),
        ({**BUILTIN, "labeling": {"secondsPerTask": 0}}, "gtpipe:labeling.secondsPerTask must be"),
        (
            {"labeling": {"adaptiveRedundancy": True}},
            "labeling.adaptiveRedundancy is the builtin labeling service's",
        ),
        (
            {**BUILTIN, "labeling": {"adaptiveRedundancy": {"confidenceThreshold": 1.5}}},
            "gtpipe:labeling.adaptiveRedundancy.confidenceThreshold must be between 0.01 and 1.0",
        ),
        (
            {**BUILTIN, "labeling": {"adaptiveRedundancy": {"threshold": 0.9}}},
            "labeling.adaptiveRedundancy has unknown keys threshold; allowed: confidenceThreshold",
        ),
        (
            {**BUILTIN, "labeling": {"adaptiveRedundancy": "on"}},
            "labeling.adaptiveRedundancy must be true, false or",
        ),
    ],
)
def test_invalid_builtin_labeling_values_name_the_key(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build(**context)


def test_builtin_backend_accepts_automated_labeling_and_model_reuse() -> None:
    # Given the builtin backend with reuseModel (which turns automated labeling on) and the loop's sizes
    config = build(
        **BUILTIN,
        labeling={
            "reuseModel": True,
            "autoLabelingBatchSize": 50,
            "autoLabelingValidationSize": 40,
            "autoLabelingMaxRounds": 4,
            "autoLabelingEpochs": 5,
        },
    )
    # Then both are on and the loop's settings reach the functions' labeling section
    labeling = config.labeling
    assert labeling.auto_labeling is True and labeling.reuse_model is True
    assert (labeling.auto_batch_size, labeling.auto_validation_size) == (50, 40)
    assert (labeling.auto_max_rounds, labeling.auto_epochs) == (4, 5)
    # And autoLabeling alone leaves the sizes to the loop's defaults (absent from the section)
    plain = build(**BUILTIN, labeling={"autoLabeling": True}).labeling
    assert plain.auto_labeling is True and plain.reuse_model is False
    assert "auto_batch_size" not in plain.model_dump()


def test_the_labeling_models_hyperparameters_are_read_as_the_runs_algorithms() -> None:
    # Given the builtin loop with hyperparameters for its labeling model (numbers and strings)
    config = build(
        **BUILTIN,
        labeling={
            "autoLabeling": True,
            "autoLabelingHyperparameters": {"mini_batch_size": 8, "learning_rate": "0.02"},
        },
    )
    # Then they reach the loop's settings as strings, as SageMaker passes them
    assert config.labeling.auto_hyperparameters == {"mini_batch_size": "8", "learning_rate": "0.02"}
    # And a name the algorithm does not have, a computed one, or a value that is not one are named
    for overrides, problem in (
        (
            {"mini_batch": 8},
            "autoLabelingHyperparameters.mini_batch is not a image-classification hyperparameter",
        ),
        ({"num_classes": 3}, "autoLabelingHyperparameters.num_classes is computed from the labeled data"),
        ({"epochs": [3]}, "autoLabelingHyperparameters.epochs must be a string or number"),
        (["epochs"], "autoLabelingHyperparameters must be an object of hyperparameter names and values"),
    ):
        with pytest.raises(ConfigError, match=re.escape(problem)):
            build(**BUILTIN, labeling={"autoLabeling": True, "autoLabelingHyperparameters": overrides})
    # And without the builtin loop the setting is refused, not ignored
    with pytest.raises(
        ConfigError, match="autoLabelingHyperparameters configures the builtin labeling service"
    ):
        build(**BUILTIN, labeling={"autoLabelingHyperparameters": {"epochs": 3}})


@pytest.mark.parametrize("task_type", ["image-classification", "object-detection"])
def test_builtin_backend_labels_both_task_types_automatically(task_type: str) -> None:
    # Given the builtin backend, automated labeling with reuse, and a classification or a box task
    config = build(**BUILTIN, taskType=task_type, labeling={"reuseModel": True, "autoLabelingEpochs": 60})
    # Then the loop is on for it, with its settings
    labeling = config.labeling
    assert labeling.auto_labeling is True and labeling.reuse_model is True
    assert labeling.auto_epochs == 60


def test_builtin_backend_defaults_and_team() -> None:
    # Given the builtin backend, a detection task and a team (one person in both groups)
    config = build(
        **BUILTIN,
        taskType="object-detection",
        labelingTeam={"labelers": ["Ann@Example.com", "bo@example.com"], "admins": ["ann@example.com"]},
        labeling={"minLabeledShare": 0.75},
    )
    # Then the instructions default to the task type's, the share is typed, addresses are lowercased
    assert "box" in config.labeling.instructions
    assert config.labeling.min_labeled_share == 0.75
    assert config.labeling_team.labelers == ("ann@example.com", "bo@example.com")
    assert config.labeling_team.admins == ("ann@example.com",)
    assert config.labeling_team.members == ("ann@example.com", "bo@example.com")
    # and classification gets its own default, which configured text replaces
    assert "category" in build(**BUILTIN).labeling.instructions
    assert build(labeling={"instructions": " Pick one. "}).labeling.instructions == "Pick one."
    assert build().labeling.min_labeled_share == 0.9


def test_hotkeys_are_kept_lower_case_and_left_out_of_the_functions_config_when_unset() -> None:
    config = build(**BUILTIN, labeling={"hotkeys": {"cat": "K", "dog": " 7 "}})
    assert config.labeling.hotkeys == {"cat": "k", "dog": "7"}
    assert config.labeling.model_dump()["hotkeys"] == {"cat": "k", "dog": "7"}
    assert "hotkeys" not in build(**BUILTIN).labeling.model_dump()


def test_builtin_cost_settings_are_typed_and_left_out_of_the_functions_config_when_unset() -> None:
    config = build(**BUILTIN, labeling={"labelerHourlyRate": 15, "secondsPerTask": "12.5"})
    assert config.labeling.labeler_hourly_rate_usd == 15.0 and config.labeling.seconds_per_task == 12.5
    pricing = config.labeling.builtin_pricing()
    assert (
        pricing is not None and pricing.labeler_hourly_rate_usd == 15.0 and pricing.seconds_per_task == 12.5
    )
    dumped = build(**BUILTIN).labeling.model_dump()
    assert "labeler_hourly_rate_usd" not in dumped and "seconds_per_task" not in dumped
    # unset: labelers not priced, the documented default seconds; Ground Truth runs have no builtin model
    assert build(**BUILTIN).labeling.builtin_pricing() == BuiltinPricing()
    assert build().labeling.builtin_pricing() is None


def test_builtin_backend_ignores_the_workforce() -> None:
    # A workforce that ground-truth refuses (the closed public workforce) is not even read with builtin.
    config = build(**BUILTIN, workforce={"type": "public"})
    assert config.labeling_backend == "builtin"
    with pytest.raises(ConfigError, match="Mechanical Turk"):
        build(workforce={"type": "public"})


def test_api_gateway_account_role_defaults_to_create_and_accepts_existing() -> None:
    assert build().api_gateway_account_role == "create"
    assert build(apiGateway={"accountRole": "existing"}).api_gateway_account_role == "existing"
    with pytest.raises(ConfigError, match=r"apiGateway\.accountRole"):
        build(apiGateway={"accountRole": "console"})


def test_existing_workforce_is_typed() -> None:
    workforce = build(
        workforce={
            "type": "create-private",
            "existingWorkforce": {
                "userPool": "eu-west-1_AbC123",
                "userPoolClient": "client1",
                "userGroup": "team",
            },
        }
    ).workforce
    assert workforce.existing_workforce is not None
    assert (workforce.existing_workforce.user_pool, workforce.existing_workforce.user_group) == (
        "eu-west-1_AbC123",
        "team",
    )
    assert build().workforce.existing_workforce is None


def test_adaptive_redundancy_is_off_unless_set_and_typed_when_set() -> None:
    # given the builtin backend without the setting, with it false, true, and with a threshold
    unset = build(**BUILTIN).labeling.model_dump()
    off = build(**BUILTIN, labeling={"adaptiveRedundancy": False}).labeling
    on = build(**BUILTIN, labeling={"adaptiveRedundancy": True}).labeling
    chosen = build(**BUILTIN, labeling={"adaptiveRedundancy": {"confidenceThreshold": "0.9"}}).labeling
    # then unset and false leave the functions' config as before; true takes the default threshold 0.8
    assert "adaptive_confidence_threshold" not in unset
    assert off.adaptive_confidence_threshold is None
    assert on.adaptive_confidence_threshold == 0.8
    assert chosen.model_dump()["adaptive_confidence_threshold"] == 0.9
