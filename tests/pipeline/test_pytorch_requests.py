"""gtpipe:trainingAlgorithm pytorch: the Train, CreateModel and CreateRollbackModel requests the fitted
definition makes, rendered from the state a real run carries, against botocore's SageMaker model and the
limits SageMaker enforces beyond it (local/sagemaker/validation.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import StackConfig
from infra.constructs.definition import fitted_definition
from infra.constructs.pytorch_algorithm import SERVING_ENVIRONMENT
from local.sagemaker.validation import validate_request
from tests.infra.conftest import Synthesized, project_context, synthesize
from tests.pipeline.asl_paths import render
from tests.pipeline.sample_config import synthesized_pipeline_config
from tests.pipeline.test_definition_contract import SUBSTITUTIONS, sample_state

INFERENCE_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
OPERATIONS = {
    "Train": "CreateTrainingJob",
    "CreateModel": "CreateModel",
    "CreateRollbackModel": "CreateModel",
}


@pytest.fixture(scope="module")
def synth_pytorch() -> Synthesized:
    return synthesize(trainingAlgorithm="pytorch")


@pytest.fixture(scope="module")
def requests(synth_pytorch: Synthesized) -> dict[str, dict[str, Any]]:
    """Each state's request, rendered from a run's state (Split's hyperparameters are the configured ones
    plus the counts it adds; Train's result names the inference image, as its ResultSelector does)."""
    config_json = synthesized_pipeline_config(synth_pytorch)
    state = sample_state(config_json, "input")
    state["split"]["hyperparameters"] = {
        **state["config"]["training"]["hyperparameters"],
        "num_classes": "10",
        "num_training_samples": "80",
    }
    state["training"]["image"] = INFERENCE_IMAGE
    config = StackConfig.from_context(project_context(trainingAlgorithm="pytorch").get)
    text = json.dumps(fitted_definition(config))
    for name, value in {**SUBSTITUTIONS, "PyTorchInferenceImage": INFERENCE_IMAGE}.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text, "a substitution is not provided by the stack"
    states = json.loads(text)["States"]
    context = {"State": {"RetryCount": 3, "Name": "Train"}, "Task": {"Token": "token"}}
    return {name: render(states[name]["Parameters"], state, context) for name in OPERATIONS}


@pytest.mark.parametrize("state_name", OPERATIONS)
def test_pytorch_requests_validate_against_botocore_and_sagemakers_limits(
    requests: dict[str, dict[str, Any]], state_name: str
) -> None:
    # Given the rendered request / When validated as SageMaker validates it / Then nothing is refused
    validate_request(OPERATIONS[state_name], requests[state_name])


def test_train_names_the_pytorch_image_its_code_and_metrics(requests: dict[str, dict[str, Any]]) -> None:
    # Given the Train request
    train = requests["Train"]
    # Then it runs the PyTorch training image with the entry point and the source archive, JSON-encoded
    assert train["AlgorithmSpecification"]["TrainingImage"].endswith("/pytorch-training:2.6.0-gpu-py312")
    hyperparameters = train["HyperParameters"]
    assert json.loads(hyperparameters["sagemaker_program"]) == "gtpipe_entry.py"
    source = json.loads(hyperparameters["sagemaker_submit_directory"])
    assert source.startswith("s3://cdk-hnb659fds-assets-123456789012-us-east-1/") and source.endswith(".gz")
    assert json.loads(hyperparameters["sagemaker_region"]) == "us-east-1"
    # And the built-in's hyperparameter names travel unchanged beside them
    assert hyperparameters["num_layers"] == "18" and hyperparameters["num_classes"] == "10"
    # And the metrics are declared for the framework container
    names = {d["Name"] for d in train["AlgorithmSpecification"]["MetricDefinitions"]}
    assert {"train:accuracy", "validation:accuracy"} <= names


@pytest.mark.parametrize("state_name", ["CreateModel", "CreateRollbackModel"])
def test_models_are_served_by_the_inference_image_with_the_artifacts_code(
    requests: dict[str, dict[str, Any]], state_name: str
) -> None:
    # Given a CreateModel request / Then the container is the inference image with the serving environment
    container = requests[state_name]["PrimaryContainer"]
    assert container["Image"] == INFERENCE_IMAGE
    assert container["Environment"] == SERVING_ENVIRONMENT
