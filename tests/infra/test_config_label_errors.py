"""gtpipe:labelErrors: defaults, what it needs, and what reaches the execution input."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from gtpipe_shared.config import PipelineConfig, load_pipeline_config
from gtpipe_shared.tasks import TaskType

from infra.config import ConfigError, StackConfig

REVIEWED = {"labelingBackend": "builtin", "labeling": {"review": {"enabled": True}}}
TUNING = {"ranges": {"learning_rate": {"type": "continuous", "min": 0.001, "max": 0.5}}}


def build(**context: Any) -> StackConfig:
    values = {f"gtpipe:{key}": value for key, value in context.items()}
    return StackConfig.from_context(values.get)


def execution_input_config(config: StackConfig) -> dict[str, Any]:
    """PIPELINE_CONFIG as execution_config builds it, reloaded as start_run does: the execution input's config."""
    functions = PipelineConfig(
        task_type=TaskType(config.task_type),
        label_categories=list(config.label_categories),
        data_bucket="bucket",
        label_errors=config.label_errors,
    )
    reloaded = load_pipeline_config(json.dumps(functions.environment_json()), label_categories=["cat", "dog"])
    return reloaded.execution_config()


def test_off_by_default_and_then_absent_from_the_execution_input() -> None:
    # Given no setting, and one present but not enabled (on a stack without review)
    unset = build(**REVIEWED)
    disabled = build(labelErrors={"enabled": False, "folds": 4})
    # Then neither finds label errors, and the state machine's switch (the key) is absent
    assert unset.label_errors is None and disabled.label_errors is None
    assert "label_errors" not in execution_input_config(unset)


def test_enabled_has_the_defaults_and_reaches_the_execution_input() -> None:
    # Given the builtin backend with review, and label-error finding enabled
    config = build(**REVIEWED, labelErrors={"enabled": True})
    # Then three folds and at most a tenth of the objects flagged travel to the state machine
    assert execution_input_config(config)["label_errors"] == {"folds": 3, "max_share": 0.1}


def test_chosen_settings_travel_including_context_strings() -> None:
    # Given every setting chosen, as `cdk deploy -c` delivers them (strings)
    config = build(**REVIEWED, labelErrors='{"enabled": "true", "folds": "5", "maxShare": "0.5"}')
    # Then they are read as numbers
    assert execution_input_config(config)["label_errors"] == {"folds": 5, "max_share": 0.5}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {**REVIEWED, "labelErrors": {"enabled": True, "fold": 3}},
            "gtpipe:labelErrors has unknown keys fold",
        ),
        ({**REVIEWED, "labelErrors": {"enabled": "yes"}}, "gtpipe:labelErrors.enabled must be true or false"),
        (
            {**REVIEWED, "labelErrors": {"enabled": True, "folds": 1}},
            "gtpipe:labelErrors.folds must be between",
        ),
        (
            {**REVIEWED, "labelErrors": {"enabled": True, "folds": 6}},
            "gtpipe:labelErrors.folds must be between",
        ),
        ({**REVIEWED, "labelErrors": {"enabled": True, "folds": 2.5}}, "folds must be a whole number"),
        (
            {**REVIEWED, "labelErrors": {"enabled": True, "maxShare": 0.01}},
            "gtpipe:labelErrors.maxShare must be between 0.05 and 0.5",
        ),
        # Checked even when off: a misspelling would otherwise keep the default silently.
        ({"labelErrors": {"enabled": False, "maxShare": 0.9}}, "gtpipe:labelErrors.maxShare must be between"),
        ({**REVIEWED, "labelErrors": [1]}, "gtpipe:labelErrors must be an object"),
    ],
)
def test_invalid_settings_name_the_key(context: dict[str, Any], message: str) -> None:
    # Given a setting out of its bounds; when the config is read; then synth fails naming it
    with pytest.raises(ConfigError, match=re.escape(message)):
        build(**context)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"labelErrors": {"enabled": True}},
            'set gtpipe:labelingBackend builtin and gtpipe:labeling.review {"enabled": true} '
            "(backend now ground-truth, review off)",
        ),
        (
            {"labelingBackend": "builtin", "labelErrors": {"enabled": True}},
            "(backend now builtin, review off)",
        ),
        (
            {**REVIEWED, "taskType": "object-detection", "labelErrors": {"enabled": True}},
            "gtpipe:labelErrors supports gtpipe:taskType image-classification only",
        ),
        (
            {**REVIEWED, "tuning": TUNING, "labelErrors": {"enabled": True}},
            "remove gtpipe:tuning or set gtpipe:labelErrors.enabled false",
        ),
    ],
)
def test_enabled_without_what_it_runs_on_fails_synth_naming_what_to_set(
    context: dict[str, Any], message: str
) -> None:
    # Given label-error finding enabled where the review stage, the task type or tuning does not fit
    # When the config is read; then synth fails with the settings to change
    with pytest.raises(ConfigError, match=re.escape(message)):
        build(**context)
