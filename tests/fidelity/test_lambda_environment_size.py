"""Finding 4: Lambda allows 4 KB of environment variables per function, measured as compact JSON
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); more is an
InvalidParameterValueException and the stack fails to deploy. The local deployer refuses such a function with
Lambda's text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gtpipe_shared.aws_limits import LAMBDA_ENVIRONMENT_MAX_BYTES, lambda_environment_measure

from local.fidelity import DeployRejected
from tests.fidelity.conftest import Clients, deploy
from tests.infra.conftest import Synthesized, synthesize

PSEUDO = {"AWS::Region": "ap-southeast-2", "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
# 50 realistic class names of 24 characters ("great-crested-flycatcher").
FIFTY_CLASSES = [f"north-american-bird-{i:04d}" for i in range(50)]


def pessimistic(value: Any) -> Any:
    """Render intrinsics with the longest values CloudFormation gives them (names of 64, ARNs of 140)."""
    if isinstance(value, dict):
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(pessimistic(part)) for part in parts)
        if "Ref" in value:
            return PSEUDO.get(value["Ref"], "123456789012" if value["Ref"] == "AWS::AccountId" else "r" * 64)
        if "Fn::GetAtt" in value:
            return "arn:aws:states:ap-southeast-2:123456789012:stateMachine:" + "s" * 80
        if "Fn::ImportValue" in value:
            return "b" * 63
        if "Fn::FindInMap" in value:
            return "123456789012"
        raise AssertionError(f"unexpected intrinsic {value}")
    return value


def environments(synth: Synthesized) -> dict[str, dict[str, str]]:
    result = {}
    for name, function in synth.main.find_resources("AWS::Lambda::Function").items():
        variables = (function["Properties"].get("Environment") or {}).get("Variables") or {}
        result[name] = {key: str(pessimistic(value)) for key, value in variables.items()}
    return result


@pytest.fixture(scope="module")
def synth_fifty() -> Synthesized:
    return synthesize(labelCategories=FIFTY_CLASSES)


def test_fifty_realistic_classes_fit_every_functions_environment(synth_fifty: Synthesized) -> None:
    # Given the app synthesized with 50 class names of realistic length
    # When every function's environment is measured as Lambda measures it, tokens at their longest
    sizes = {
        name: len(lambda_environment_measure(env).encode()) for name, env in environments(synth_fifty).items()
    }
    # Then each fits in 4 KB
    assert max(sizes.values()) <= LAMBDA_ENVIRONMENT_MAX_BYTES, sizes


def test_a_function_over_4_kb_is_refused_with_lambdas_error(
    tmp_path: Path, clients: Clients, synth_fifty: Synthesized
) -> None:
    # Given start_run's environment as before the fix: the class names repeated in PIPELINE_CONFIG
    name, function = next(
        (n, f)
        for n, f in synth_fifty.main.find_resources("AWS::Lambda::Function").items()
        if f["Properties"]["Handler"].startswith("start_run.")
    )
    variables = environments(synth_fifty)[name]
    config = json.loads(variables["PIPELINE_CONFIG"])
    config["labeling"]["class_names"] = config["label_categories"]
    variables["PIPELINE_CONFIG"] = json.dumps(config, separators=(",", ":"))
    resources = {
        name: {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.12",
                "Handler": function["Properties"]["Handler"],
                "Code": {"ZipFile": "def lambda_handler(event, context):\n    return None\n"},
                "Environment": {"Variables": variables},
            },
        }
    }
    # When it is deployed
    # Then Lambda's InvalidParameterValueException text is the deployment error, quoting the measured string
    with pytest.raises(DeployRejected) as raised:
        deploy(tmp_path, clients, resources)
    message = str(raised.value)
    assert f"creating {name} (AWS::Lambda::Function) failed" in message
    assert (
        "Lambda was unable to configure your environment variables because the environment variables you have "
        "provided exceeded the 4KB limit. String measured: {" in message
    )
