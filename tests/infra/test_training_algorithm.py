"""``gtpipe:trainingAlgorithm``: the setting's validation, and what the pytorch stack synthesizes (images per
region, the source asset, the SageMaker role's grants, the Train and CreateModel states)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Any

import pytest
from gtpipe_shared.metric_definitions import METRIC_DEFINITIONS
from gtpipe_shared.tasks import TaskType

from infra.config import StackConfig
from infra.config_reader import ConfigError
from infra.config_training_algorithm import processor_of
from infra.constructs.definition import fitted_definition
from infra.constructs.pytorch_algorithm import (
    DLC_ACCOUNTS,
    SERVING_ENVIRONMENT,
    source_files,
    sourcedir_archive,
)
from infra.constructs.regional import SUPPORTED_REGIONS
from tests.infra.conftest import Synthesized, project_context


def config(**overrides: Any) -> StackConfig:
    context = project_context(**overrides)
    return StackConfig.from_context(context.get)


def test_builtin_is_the_default_and_unknown_values_are_refused() -> None:
    # Given no setting / When read / Then the built-in algorithm
    assert config().training_algorithm.algorithm == "builtin"
    # Given a misspelt value / When read / Then a clear error names the key and the choices
    with pytest.raises(
        ConfigError, match=r"gtpipe:trainingAlgorithm must be one of builtin, pytorch; got 'torch'"
    ):
        config(trainingAlgorithm="torch")


@pytest.mark.parametrize(
    ("instance_type", "processor"),
    [("ml.m5.xlarge", "cpu"), ("ml.c5.2xlarge", "cpu"), ("ml.g4dn.xlarge", "gpu"), ("ml.p3.2xlarge", "gpu")],
)
def test_the_container_tag_follows_the_instance_family(instance_type: str, processor: str) -> None:
    # Given an instance type / When its processor is asked / Then GPU families get the gpu image
    assert processor_of(instance_type) == processor


def test_pytorch_picks_each_jobs_tag_from_its_instance_type() -> None:
    # Given pytorch with GPU training and CPU serving (cdk.json's instance types)
    algorithm = config(trainingAlgorithm="pytorch").training_algorithm
    # Then training uses the gpu tag and serving the cpu tag
    assert algorithm.is_pytorch
    assert algorithm.image_tag(algorithm.training_processor) == "2.6.0-gpu-py312"
    assert algorithm.image_tag(algorithm.inference_processor) == "2.6.0-cpu-py312"


def test_pytorch_refuses_neuron_instances_and_mixed_serving_processors() -> None:
    # Given an Inferentia endpoint / Then the Neuron containers are named as what it would need
    with pytest.raises(ConfigError, match="Neuron"):
        config(trainingAlgorithm="pytorch", endpoint={"instanceType": "ml.inf1.xlarge", "instanceCount": 1})
    # Given a GPU endpoint and a CPU batch transform / Then one inference image cannot serve both
    with pytest.raises(ConfigError, match="both CPU or both GPU"):
        config(trainingAlgorithm="pytorch", endpoint={"instanceType": "ml.g4dn.xlarge", "instanceCount": 1})


def test_the_source_archive_holds_the_training_package_and_entry_point_only_and_is_reproducible() -> None:
    # Given the source files of each task type / When archived twice
    for task, module in (
        ("image-classification", "training.train"),
        ("object-detection", "training.detection"),
    ):
        files = source_files(task)
        first, second = sourcedir_archive(files), sourcedir_archive(source_files(task))
        # Then the bytes are the same (a stable asset hash)
        assert first == second
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(first))) as tar:
            names = tar.getnames()
        # And it holds gtpipe_entry.py running the task's job, and training/ (nothing of infra, local, cli)
        assert "gtpipe_entry.py" in names and "training/train.py" in names
        assert all(name == "gtpipe_entry.py" or name.startswith("training/") for name in names)
        assert f"from {module}" in files["gtpipe_entry.py"].decode()


def test_builtin_definition_is_unchanged_by_the_setting() -> None:
    # Given the built-in configuration / When the definition is fitted
    states = fitted_definition(config())["States"]
    # Then no PyTorch container settings appear
    assert "MetricDefinitions" not in states["Train"]["Parameters"]["AlgorithmSpecification"]
    assert states["Train"]["ResultSelector"]["image.$"] == "$.AlgorithmSpecification.TrainingImage"
    assert "Environment" not in states["CreateModel"]["Parameters"]["PrimaryContainer"]


def test_pytorch_definition_declares_metrics_serving_image_and_environment() -> None:
    # Given pytorch / When the definition is fitted
    states = fitted_definition(config(trainingAlgorithm="pytorch"))["States"]
    train = states["Train"]
    # Then Train declares the metric definitions a framework container lacks
    assert (
        train["Parameters"]["AlgorithmSpecification"]["MetricDefinitions"]
        == (METRIC_DEFINITIONS[TaskType.IMAGE_CLASSIFICATION])
    )
    # And records the inference image as the run's model image
    assert (
        train["ResultSelector"]["image"] == "${PyTorchInferenceImage}"
        and "image.$" not in train["ResultSelector"]
    )
    # And both CreateModel states give the container the serving script's environment
    for name in ("CreateModel", "CreateRollbackModel"):
        assert states[name]["Parameters"]["PrimaryContainer"]["Environment"] == SERVING_ENVIRONMENT


def statements_of(template: dict[str, Any], sid: str) -> list[dict[str, Any]]:
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            found += [s for s in resource["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == sid]
    return found


def test_builtin_template_has_no_pytorch_resources(synth: Synthesized) -> None:
    # Given the default synth / Then neither the DLC mapping, the asset grant nor the image pull exists
    template = synth.main.to_json()
    assert not any("DlcAccounts" in name for name in template.get("Mappings", {}))
    assert (
        statements_of(template, "PullPyTorchContainers")
        == statements_of(template, "ReadTrainingSource")
        == []
    )


def test_pytorch_template_maps_each_region_to_its_dlc_account(synth_pytorch: Synthesized) -> None:
    # Given the pytorch synth / Then every supported region has the Deep Learning Containers' account
    mappings = synth_pytorch.main.to_json()["Mappings"]
    dlc = next(value for name, value in mappings.items() if "DlcAccounts" in name)
    assert set(dlc) == set(SUPPORTED_REGIONS)
    assert {region: entry["Account"] for region, entry in dlc.items()} == DLC_ACCOUNTS


def test_pytorch_role_pulls_only_the_pytorch_repositories_and_reads_only_the_source_object(
    synth_pytorch: Synthesized,
) -> None:
    template = synth_pytorch.main.to_json()
    # Given the SageMaker role / Then it may pull exactly the two PyTorch repositories of the DLC account
    (pull,) = statements_of(template, "PullPyTorchContainers")
    rendered = json.dumps(pull["Resource"])
    assert sorted(r.split(":repository/")[-1] for r in rendered.split('"') if ":repository/" in r) == [
        "pytorch-inference",
        "pytorch-training",
    ]
    assert "DlcAccounts" in rendered and "*" not in rendered
    # And it may read the one source archive object, nothing else of the assets bucket
    (read,) = statements_of(template, "ReadTrainingSource")
    assert read["Action"] == "s3:GetObject"
    resource = json.dumps(read["Resource"])
    assert "cdk-hnb659fds-assets-" in resource and resource.count(".gz") == 1 and "*" not in resource


def test_pytorch_execution_config_names_the_training_image_and_the_source(synth_pytorch: Synthesized) -> None:
    # Given start_run's PIPELINE_CONFIG in the pytorch synth
    template = synth_pytorch.main.to_json()
    start_run = next(
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and "PIPELINE_CONFIG" in r["Properties"]["Environment"]["Variables"]
    )
    rendered = json.dumps(start_run["Properties"]["Environment"]["Variables"]["PIPELINE_CONFIG"])
    # Then training runs the GPU training image (cdk.json trains on ml.g4dn) with the entry point and source
    assert "/pytorch-training:2.6.0-gpu-py312" in rendered
    assert '\\\\\\"gtpipe_entry.py\\\\\\"' in rendered
    assert "sagemaker_submit_directory" in rendered and "s3://cdk-hnb659fds-assets-" in rendered
    # And the state machine substitutes the CPU inference image (cdk.json serves on ml.m5)
    machine = next(
        r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"
    )
    substitution = machine["Properties"]["DefinitionSubstitutions"]["PyTorchInferenceImage"]
    assert "/pytorch-inference:2.6.0-cpu-py312" in json.dumps(substitution)
