"""Finding 11: SageMaker refuses ``VolumeKmsKeyId`` (training, transform) and an endpoint configuration's
``KmsKeyId`` for instance types with local NVMe instance storage (ValidationException;
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html). gtpipe always passes the
data key, so synth refuses those instance types.
"""

from __future__ import annotations

from typing import Any

import pytest
from gtpipe_shared.aws_limits import instance_has_local_storage, volume_kms_key_problem

from infra.config import ConfigError, PipelineConfig
from tests.infra.conftest import project_context


def build(**overrides: Any) -> PipelineConfig:
    context = project_context(**overrides)
    return PipelineConfig.from_context(context.get)


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


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"training": {"instanceType": "ml.g4dn.xlarge"}}, "training.instanceType"),
        ({"transformInstanceType": "ml.m5d.xlarge"}, "transformInstanceType"),
        ({"endpoint": {"instanceType": "ml.g5.xlarge"}}, "endpoint.instanceType"),
    ],
)
def test_synth_refuses_instance_store_types_for_encrypted_volumes(
    overrides: dict[str, Any], key: str
) -> None:
    # Given a configuration that would send the data key with an instance-store instance type
    # When it is validated at synth
    # Then it fails naming the key, the reason and the documentation
    with pytest.raises(ConfigError, match=rf"gtpipe:{key} ml\.\w+\.\w+ has local NVMe instance storage"):
        build(**overrides)


def test_the_default_instance_types_take_a_volume_key() -> None:
    config = build()
    for instance_type in (
        config.training.instance_type,
        config.transform_instance_type,
        config.endpoint.instance_type,
    ):
        assert not instance_has_local_storage(instance_type)
