"""gtpipe:harvest.warmStart in the templates: on by default with the built-in algorithm and no tuning, the
split function decides it (WARM_START) and may read @serving and update the run's ledger item only; refused
where a run cannot warm-start (README "Model lifecycle: harvest, relabel, retrain")."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, StackConfig
from infra.config_harvest import warm_start_on
from tests.infra.conftest import Synthesized
from tests.infra.test_security import as_list, policy_statements

RANGES = {"learning_rate": {"type": "continuous", "min": 0.001, "max": 0.1}}


def build(**context: Any) -> StackConfig:
    values = {f"gtpipe:{key}": value for key, value in context.items()}
    return StackConfig.from_context(values.get)


def on(config: StackConfig) -> bool:
    return warm_start_on(
        config.harvest, pytorch=config.training_algorithm.is_pytorch, tuning=config.tuning is not None
    )


def split_function(synth: Synthesized) -> tuple[str, dict[str, Any]]:
    functions = synth.main.find_resources("AWS::Lambda::Function")
    [(logical_id, function)] = [
        (lid, f) for lid, f in functions.items() if f["Properties"]["Handler"].startswith("split.")
    ]
    return logical_id, function


def test_by_default_a_feedback_run_warm_starts_and_the_split_decides(synth_builtin: Synthesized) -> None:
    # Given the default configuration (builtin algorithm, no tuning) / Then warm start is on
    assert on(build()) is True
    # and the split function is told so, with the runs table it records the decision in
    _, function = split_function(synth_builtin)
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["WARM_START"] == "on" and "RUNS_TABLE" in variables


def test_the_split_may_only_get_and_update_items_of_the_runs_table(synth_builtin: Synthesized) -> None:
    # Given the split function's role / Then its DynamoDB actions are GetItem and UpdateItem, nothing else
    statements = [s for lid, s in policy_statements(synth_builtin.main) if lid.startswith("PipelineSplit")]
    dynamodb = {a for s in statements for a in as_list(s["Action"]) if a.startswith("dynamodb:")}
    assert dynamodb == {"dynamodb:GetItem", "dynamodb:UpdateItem"}


def test_pytorch_or_tuning_leave_it_off_and_refuse_it_when_asked(synth_pytorch: Synthesized) -> None:
    # Given the pytorch algorithm or tuning, warmStart unset / Then warm start is off (the split is told)
    _, function = split_function(synth_pytorch)
    assert function["Properties"]["Environment"]["Variables"]["WARM_START"] == "off"
    assert on(build(tuning={"ranges": RANGES})) is False
    # and warmStart true with either fails synth, naming the setting and why
    with pytest.raises(ConfigError, match=r"gtpipe:harvest.warmStart cannot be used with gtpipe:tuning"):
        build(tuning={"ranges": RANGES}, harvest={"warmStart": True})
    with pytest.raises(ConfigError, match=r"warmStart cannot be used with gtpipe:trainingAlgorithm pytorch"):
        build(trainingAlgorithm="pytorch", harvest={"warmStart": True})
    # while false is always accepted, and turns it off
    assert on(build(harvest={"warmStart": False})) is False
