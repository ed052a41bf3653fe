"""moto's ASL parser runs once per definition text while local.sfn is installed (local/sfn/parse_cache.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from local.sfn import LambdaRegistry, install, parse_cache

from .harness import ROLE_ARN, Sfn, machine, task

COUNTER = machine(
    (
        "Count",
        task("arn:aws:states:::lambda:invoke", {"FunctionName": "count", "Payload.$": "$"}, Next="Done"),
    ),
    ("Done", {"Type": "Pass", "End": True}),
)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every definition moto's own parser is asked to parse from now on."""
    seen: list[str] = []
    original = parse_cache._ORIGINALS["parse"]

    def counting(definition: str) -> Any:
        seen.append(definition)
        return original(definition)

    monkeypatch.setitem(parse_cache._ORIGINALS, "parse", counting)
    return seen


def test_executions_of_one_definition_parse_it_once(
    sfn: Sfn, lambdas: LambdaRegistry, parses: list[str]
) -> None:
    # Given a state machine whose Lambda task counts its invocations
    calls: list[Any] = []
    lambdas.register("count", lambda event, context: calls.append(event) or {"n": len(calls)})
    arn = sfn.create(COUNTER)
    # When it runs three times and each execution is described until it ends
    results = [
        sfn.wait(
            sfn.client.start_execution(stateMachineArn=arn, name=f"run-{i}", input=json.dumps({"i": i}))[
                "executionArn"
            ]
        )
        for i in range(3)
    ]
    # Then every execution ran its own program to the end with its own input
    assert [r.status for r in results] == ["SUCCEEDED"] * 3
    assert calls == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert [r.output["Payload"] for r in results] == [{"n": 1}, {"n": 2}, {"n": 3}]  # type: ignore[index]
    # And moto's parser read the definition text once (at CreateStateMachine), not once more per run
    assert parses == [json.dumps(COUNTER)]


def test_a_definition_that_does_not_parse_is_refused_every_time(sfn: Sfn, parses: list[str]) -> None:
    # Given a definition with a state of an unknown type (valid JSON, invalid ASL)
    broken = json.dumps(machine(("Nope", {"Type": "Teleport", "End": True})))
    # When it is created twice, Then both are refused (moto 5.2.5 sends InvalidDefinition as a 400 with an
    # empty code and the parser's complaint), each after a real parse
    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            sfn.client.create_state_machine(name="broken", definition=broken, roleArn=ROLE_ARN)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "ASLParserException" in refused.value.response["Error"]["Message"]
    assert parses == [broken, broken]


def test_uninstall_restores_the_parser_and_forgets_the_definitions() -> None:
    # Given moto's own parser
    parse = AmazonStateLanguageParser.parse
    # When local.sfn is installed, a definition parsed, and local.sfn uninstalled
    with install():
        assert AmazonStateLanguageParser.parse is parse_cache.cached_parse
        AmazonStateLanguageParser.parse(json.dumps(COUNTER))
        assert parse_cache._TREES
    # Then moto's original is back and nothing is remembered
    assert AmazonStateLanguageParser.parse is parse
    assert not parse_cache._TREES
