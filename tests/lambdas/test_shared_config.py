"""PIPELINE_CONFIG parsing."""

from __future__ import annotations

import json

import pytest
from gtpipe_shared.config import ConfigError, json_list_env, load_pipeline_config, require_env

from tests.lambdas.conftest import pipeline_config


def test_stack_config_parses_and_keeps_extra_keys() -> None:
    config = load_pipeline_config(json.dumps(pipeline_config()))
    assert config.label_categories == ["cat", "dog", "bird"]
    assert config.training.hyperparameters == {"epochs": "10", "learning_rate": "0.01"}
    block = config.execution_config()
    assert block["labeling"]["backend"] == "ground-truth"  # unknown keys pass through
    assert block["endpoint"]["heartbeat_seconds"] == 1800
    assert "allowed_source_buckets" not in block and "max_manifest_lines" not in block
    assert block["label_categories"] == ["cat", "dog", "bird"]
    assert block["split"]["seed"] is None


def test_data_bucket_falls_back_to_environment() -> None:
    raw = pipeline_config()
    del raw["data_bucket"]
    assert load_pipeline_config(json.dumps(raw), data_bucket="from-env").data_bucket == "from-env"
    with pytest.raises(ConfigError, match="data_bucket is not set"):
        load_pipeline_config(json.dumps(raw))


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (None, "PIPELINE_CONFIG is not set"),
        ("{", "not valid JSON"),
        ("[]", "must be a JSON object"),
        (json.dumps(pipeline_config(task_type="segmentation")), "task_type"),
        (json.dumps(pipeline_config(label_categories=[])), "label_categories"),
        (json.dumps(pipeline_config(label_categories=["a", "a"])), "unique"),
        (json.dumps(pipeline_config(label_categories=["only"])), "at least 2 label_categories"),
        (json.dumps(pipeline_config(quality_threshold=1.5)), "quality_threshold"),
        (json.dumps(pipeline_config(split={"validation_ratio": 1.0})), "split.validation_ratio"),
        (json.dumps(pipeline_config(labeling={"label_attribute": "x-metadata"})), "labeling.label_attribute"),
    ],
)
def test_bad_config_names_the_problem(raw: str | None, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_pipeline_config(raw)


def test_env_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GTPIPE_TEST_VAR", raising=False)
    with pytest.raises(ConfigError, match="GTPIPE_TEST_VAR is not set"):
        require_env("GTPIPE_TEST_VAR")
    assert json_list_env("GTPIPE_TEST_VAR") == []
    monkeypatch.setenv("GTPIPE_TEST_VAR", '["a"]')
    assert json_list_env("GTPIPE_TEST_VAR") == ["a"]
    monkeypatch.setenv("GTPIPE_TEST_VAR", '{"a": 1}')
    with pytest.raises(ConfigError, match="JSON list"):
        json_list_env("GTPIPE_TEST_VAR")


def test_labeling_prices_default_to_the_seed_prices_and_are_validated() -> None:
    labeling = load_pipeline_config(json.dumps(pipeline_config())).labeling
    assert labeling.labeling_prices().answer_price("image-classification") == 0.012
    assert labeling.budget_usd is None and labeling.reuse_model is False
    raw = pipeline_config()
    raw["labeling"]["prices"] = {"perObjectUsd": 0.1}
    raw["labeling"]["budget_usd"] = 12.5
    labeling = load_pipeline_config(json.dumps(raw)).labeling
    # stored in the snake_case form the ledger records
    assert labeling.prices["per_object_usd"] == 0.1 and labeling.budget_usd == 12.5
    raw["labeling"]["prices"] = {"perObjectUsd": -1}
    with pytest.raises(ConfigError, match=r"labeling\.prices: .*per_object_usd"):
        load_pipeline_config(json.dumps(raw))
    raw["labeling"]["prices"] = None
    raw["labeling"]["budget_usd"] = -1
    with pytest.raises(ConfigError, match=r"labeling\.budget_usd"):
        load_pipeline_config(json.dumps(raw))


def test_model_reuse_needs_automated_labeling() -> None:
    raw = pipeline_config()
    raw["labeling"]["reuse_model"] = True
    with pytest.raises(ConfigError, match="reuse_model needs auto_labeling"):
        load_pipeline_config(json.dumps(raw))
    raw["labeling"]["auto_labeling"] = True
    assert load_pipeline_config(json.dumps(raw)).labeling.reuse_model is True
