"""gtpipe:championChallenger: defaults, validation, and what reaches the execution config and IAM."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gtpipe_shared.config import PipelineConfig, load_pipeline_config
from gtpipe_shared.tasks import TaskType

from infra.config import ConfigError, StackConfig


def build(**context: Any) -> StackConfig:
    values = {f"gtpipe:{key}": value for key, value in context.items()}
    return StackConfig.from_context(values.get)


def test_the_gate_is_on_by_default_with_a_two_point_margin_and_no_golden_manifest() -> None:
    champion = build().champion
    assert champion.enabled is True and champion.margin_points == 2.0 and champion.min_images == 20
    assert champion.golden_manifest is None


def test_settings_are_read() -> None:
    champion = build(
        championChallenger={
            "enabled": "false",
            "marginPoints": "0.5",
            "minImages": 50,
            "goldenManifest": "golden/digits.manifest",
        }
    ).champion
    assert champion.enabled is False and champion.margin_points == 0.5 and champion.min_images == 50
    assert champion.golden_manifest == "golden/digits.manifest"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"marginPoints": 150}, "gtpipe:championChallenger.marginPoints must be between 0.0 and 100.0"),
        ({"marginPoints": True}, "gtpipe:championChallenger.marginPoints must be a number"),
        ({"minImages": 0}, "gtpipe:championChallenger.minImages"),
        ({"enabled": "yes"}, "gtpipe:championChallenger.enabled must be true or false"),
        ({"margin": 2}, "gtpipe:championChallenger has unknown keys margin"),
        ({"goldenManifest": "incoming/golden.manifest"}, "must be a key of the data bucket under golden/"),
        (
            {"goldenManifest": "golden/../incoming/x.manifest"},
            "must be a key of the data bucket under golden/",
        ),
        (
            {"goldenManifest": "s3://bucket/golden/x.manifest"},
            "must be a key of the data bucket under golden/",
        ),
        ({"goldenManifest": "golden/x.csv"}, "ending in .manifest or .jsonl"),
    ],
)
def test_bad_settings_fail_synth_naming_the_key(setting: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        build(championChallenger=setting)


def test_the_setting_reaches_the_execution_input() -> None:
    # given the stack's setting in the functions' schema (as execution_config builds it)
    config = build(championChallenger={"marginPoints": 5, "goldenManifest": "golden/g.jsonl"})
    functions = PipelineConfig(
        task_type=TaskType(config.task_type),
        label_categories=list(config.label_categories),
        data_bucket="bucket",
        champion=config.champion,
    )
    # then PIPELINE_CONFIG and the execution input's config block (which the state machine reads) carry it
    reloaded = load_pipeline_config(json.dumps(functions.environment_json()), label_categories=["cat", "dog"])
    champion = reloaded.execution_config()["champion"]
    assert champion == {
        "enabled": True,
        "margin_points": 5.0,
        "min_images": 20,
        "golden_manifest": "golden/g.jsonl",
    }
