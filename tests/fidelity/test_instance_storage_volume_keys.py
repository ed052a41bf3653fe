"""Finding 11: SageMaker refuses ``VolumeKmsKeyId`` (training, transform) and an endpoint configuration's
``KmsKeyId`` for instance types with local NVMe instance storage (ValidationException;
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html): their local storage is
encrypted by a hardware module. The deployed definition sends the data key only where the configured instance
type has EBS volumes (infra/constructs/definition.py), so g4dn/g5 training synthesizes and runs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from gtpipe_shared.aws_limits import instance_has_local_storage, volume_kms_key_problem

from infra.config import StackConfig
from infra.constructs.definition import DEFINITION_FILE, fitted_definition
from tests.infra.conftest import Synthesized, project_context, synthesize


def build(**overrides: Any) -> StackConfig:
    context = project_context(**overrides)
    return StackConfig.from_context(context.get)


@pytest.mark.parametrize(
    ("instance_type", "local"),
    [
        ("ml.g4dn.xlarge", True),
        ("ml.g5.2xlarge", True),
        ("ml.p3dn.24xlarge", True),
        ("ml.p4d.24xlarge", True),
        ("ml.m5d.large", True),
        ("ml.c5d.xlarge", True),
        ("ml.r5d.large", True),
        ("ml.p3.2xlarge", False),
        ("ml.m5.xlarge", False),
        ("ml.c5.xlarge", False),
        ("ml.inf2.xlarge", False),
    ],
)
def test_instance_storage_is_recognised(instance_type: str, local: bool) -> None:
    assert instance_has_local_storage(instance_type) is local


def test_the_local_sagemaker_check_answers_like_sagemaker() -> None:
    # Given a training request with a volume key on an instance-store type
    # When it is checked / Then the ValidationException text names the field and the instance type
    problem = volume_kms_key_problem("ml.g4dn.xlarge", "arn:aws:kms:us-east-1:1:key/k", "VolumeKmsKeyId")
    assert problem and problem.startswith("VolumeKmsKeyId is not supported for instance type ml.g4dn.xlarge")
    assert volume_kms_key_problem("ml.p3.2xlarge", "arn:aws:kms:us-east-1:1:key/k", "VolumeKmsKeyId") is None
    assert volume_kms_key_problem("ml.g4dn.xlarge", None, "VolumeKmsKeyId") is None


def _volume_keys(definition: dict[str, Any]) -> dict[str, str | None]:
    states = definition["States"]
    return {
        "training": states["Train"]["Parameters"]["ResourceConfig"].get("VolumeKmsKeyId"),
        "transform": states["Transform"]["Parameters"]["TransformResources"].get("VolumeKmsKeyId"),
        "endpoint": states["CreateEndpointConfig"]["Parameters"].get("KmsKeyId"),
    }


@pytest.mark.parametrize(
    ("overrides", "omitted"),
    [
        ({"training": {"instanceType": "ml.g4dn.xlarge"}}, "training"),
        ({"training": {"instanceType": "ml.g5.xlarge"}}, "training"),
        ({"transformInstanceType": "ml.m5d.xlarge"}, "transform"),
        ({"endpoint": {"instanceType": "ml.g5.xlarge"}}, "endpoint"),
    ],
)
def test_instance_store_types_are_accepted_and_get_no_volume_key(
    overrides: dict[str, Any], omitted: str
) -> None:
    # Given a configuration with an instance-store instance type for one SageMaker resource
    config = build(**overrides, **_ebs_elsewhere(omitted))
    # When the deployed definition is made
    keys = _volume_keys(fitted_definition(config))
    # Then that resource's volume key is left out and the EBS-backed ones keep the data key
    assert keys.pop(omitted) is None
    assert set(keys.values()) == {"${KmsKeyArn}"}, keys


def _ebs_elsewhere(omitted: str) -> dict[str, Any]:
    """EBS-backed instance types for the two resources other than ``omitted``."""
    ebs: dict[str, Any] = {
        "training": {"training": {"instanceType": "ml.p3.2xlarge"}},
        "transform": {"transformInstanceType": "ml.m5.xlarge"},
        "endpoint": {"endpoint": {"instanceType": "ml.m5.xlarge"}},
    }
    return {key: value for name, item in ebs.items() if name != omitted for key, value in item.items()}


def test_ebs_instance_types_keep_every_volume_key() -> None:
    config = build(
        training={"instanceType": "ml.m5.xlarge"},
        transformInstanceType="ml.m5.xlarge",
        endpoint={"instanceType": "ml.m5.xlarge"},
    )
    assert set(_volume_keys(fitted_definition(config)).values()) == {"${KmsKeyArn}"}


def _deployed_definition(synth: Synthesized) -> dict[str, Any]:
    (machine,) = synth.main.find_resources("AWS::StepFunctions::StateMachine").values()
    text = machine["Properties"]["DefinitionString"]
    assert isinstance(text, str), "the definition is expected as one string with ${...} substitutions"
    return json.loads(text)


def test_synth_with_g5_training_omits_the_training_volume_key() -> None:
    # Given the app configured to train on ml.g5.xlarge (local NVMe storage)
    # When it is synthesized (no ConfigError: the instance type is accepted)
    definition = _deployed_definition(synthesize(training={"instanceType": "ml.g5.xlarge"}))
    # Then the deployed Train state sends no VolumeKmsKeyId, and the S3 output is still encrypted
    train = definition["States"]["Train"]["Parameters"]
    assert train["ResourceConfig"]["InstanceType.$"] == "$.config.training.instance_type"
    assert "VolumeKmsKeyId" not in train["ResourceConfig"]
    assert train["OutputDataConfig"]["KmsKeyId"] == "${KmsKeyArn}"


def test_synth_with_m5_training_sends_the_training_volume_key() -> None:
    definition = _deployed_definition(synthesize(training={"instanceType": "ml.m5.xlarge"}))
    assert definition["States"]["Train"]["Parameters"]["ResourceConfig"]["VolumeKmsKeyId"] == "${KmsKeyArn}"


def test_the_unfitted_definition_would_be_refused_by_sagemaker() -> None:
    # The local SageMaker keeps SageMaker's ValidationException for a request that sends a key on such a type
    # (tests/local_sagemaker/test_aws_request_rules.py); the file itself always names the key.
    raw = json.loads(DEFINITION_FILE.read_text())
    assert _volume_keys(raw)["training"] == "${KmsKeyArn}"
    problem = volume_kms_key_problem("ml.g5.xlarge", "${KmsKeyArn}", "VolumeKmsKeyId")
    assert problem and "ml.g5.xlarge" in problem


def test_the_default_instance_types_get_the_right_volume_keys() -> None:
    # The default training instance (ml.g4dn.xlarge, finding 8) has NVMe storage: no volume key; the default
    # transform and endpoint instances (ml.m5.xlarge) are EBS-backed: the data key.
    config = build()
    assert instance_has_local_storage(config.training.instance_type)
    assert not instance_has_local_storage(config.transform_instance_type)
    assert not instance_has_local_storage(config.endpoint.instance_type)
    assert _volume_keys(fitted_definition(config)) == {
        "training": None,
        "transform": "${KmsKeyArn}",
        "endpoint": "${KmsKeyArn}",
    }
