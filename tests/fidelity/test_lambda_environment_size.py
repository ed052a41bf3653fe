"""Finding 4: Lambda allows 4 KB of environment variables per function, measured as compact JSON
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); more is an
InvalidParameterValueException and the stack fails to deploy. The local deployer refuses such a function with
Lambda's text. The class list grows with the number of classes, so it is not in any environment: start_run reads
it from the label category file bundled with its code.
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
from tests.pipeline.sample_config import bundled_label_categories

PSEUDO = {"AWS::Region": "ap-southeast-2", "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
# Realistic class names of 42 characters ("great-crested-flycatcher-adult-male-summer").
FIFTY_CLASSES = [f"north-american-songbird-adult-plumage-{i:04d}" for i in range(50)]
HUNDRED_CLASSES = [f"north-american-songbird-adult-plumage-{i:04d}" for i in range(100)]


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


@pytest.fixture(scope="module")
def synth_hundred() -> Synthesized:
    return synthesize(labelCategories=HUNDRED_CLASSES)


def sizes(synth: Synthesized) -> dict[str, int]:
    """Every function's environment measured as Lambda measures it, tokens at their longest."""
    return {name: len(lambda_environment_measure(env).encode()) for name, env in environments(synth).items()}


def test_fifty_realistic_classes_fit_every_functions_environment(synth_fifty: Synthesized) -> None:
    # Given the app synthesized with 50 class names of 42 characters
    # When every function's environment is measured / Then each fits in 4 KB
    assert all(len(name) >= 40 for name in FIFTY_CLASSES)
    assert max(sizes(synth_fifty).values()) <= LAMBDA_ENVIRONMENT_MAX_BYTES, sizes(synth_fifty)


def test_the_environment_does_not_grow_with_the_class_list(
    synth: Synthesized, synth_fifty: Synthesized, synth_hundred: Synthesized
) -> None:
    # Given the app with 10 short class names (cdk.json), 50 long ones and 100 long ones
    # When every function's environment is measured
    # Then the sizes are the same: nothing proportional to the number of classes is in any environment
    assert sizes(synth_hundred) == sizes(synth_fifty) == sizes(synth)
    assert max(sizes(synth_hundred).values()) <= LAMBDA_ENVIRONMENT_MAX_BYTES


def test_start_run_reads_the_classes_bundled_with_its_code(synth_hundred: Synthesized) -> None:
    # Given the 100-class app: start_run's code carries the label category configuration file
    from start_run.handler import bundled_label_categories as read_bundled

    (path,) = Path(synth_hundred.app.outdir).glob(
        "gtpipe-bundled/start_run-*/start_run/label-categories.json"
    )
    document = json.loads(path.read_text())
    assert document["document-version"] == "2018-11-28"
    # When start_run reads it / Then it has every class in class-id order
    assert read_bundled(path) == HUNDRED_CLASSES
    # and the staged asset of the function is that folder (CDK copies it into the assembly)
    assert bundled_label_categories(synth_hundred) == HUNDRED_CLASSES


def test_a_function_over_4_kb_is_refused_with_lambdas_error(
    tmp_path: Path, clients: Clients, synth_fifty: Synthesized
) -> None:
    # Given start_run's environment as before the fix: the 50 class names back in PIPELINE_CONFIG
    name, function = next(
        (n, f)
        for n, f in synth_fifty.main.find_resources("AWS::Lambda::Function").items()
        if f["Properties"]["Handler"].startswith("start_run.")
    )
    variables = environments(synth_fifty)[name]
    config = json.loads(variables["PIPELINE_CONFIG"])
    assert "label_categories" not in config
    config["label_categories"] = FIFTY_CLASSES
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
