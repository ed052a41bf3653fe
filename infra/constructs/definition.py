"""The state machine definition as deployed: ``state_machines/pipeline.asl.json`` fitted to the configuration.

SageMaker refuses a volume key for instance types with local NVMe instance storage (g4dn, g5, p3dn, m5d, ...):
"Local storage volumes are encrypted using a hardware module on the instance. You can't request a
VolumeKmsKeyId when using an instance type with local storage", and for an endpoint configuration "If you
specify a value for KmsKeyId when using any nitro-based instances with local storage, the call to
CreateEndpointConfig fails" (issue 14, finding 11).
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformResources.html
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html

The instance types are known at synth, so the definition sends the data key (``${KmsKeyArn}``) where the
configured instance type has EBS volumes, and leaves it out where the instance's own storage is encrypted by
hardware. Output keys (``OutputDataConfig.KmsKeyId``, ``TransformOutput.KmsKeyId``) encrypt S3 objects and
are always sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gtpipe_shared.aws_limits import instance_has_local_storage

from infra.config import StackConfig

DEFINITION_FILE = Path(__file__).resolve().parents[2] / "state_machines" / "pipeline.asl.json"

# Service integration -> (path of the volume key inside Parameters, which configured instance type it uses).
_VOLUME_KEYS: dict[str, tuple[tuple[str, ...], str]] = {
    "createTrainingJob": (("ResourceConfig", "VolumeKmsKeyId"), "training"),
    # The tuning job's trials are training jobs on the training instance type (gtpipe:tuning).
    "createHyperParameterTuningJob": (
        ("TrainingJobDefinition", "ResourceConfig", "VolumeKmsKeyId"),
        "training",
    ),
    "createTransformJob": (("TransformResources", "VolumeKmsKeyId"), "transform"),
    "createEndpointConfig": (("KmsKeyId",), "endpoint"),
}


def _states(states: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every state, including those inside Parallel branches and Map iterators."""
    for state in states.values():
        yield state
        for branch in state.get("Branches", []):
            yield from _states(branch.get("States", {}))
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _states(state[key].get("States", {}))


def _integration(resource: str) -> str | None:
    """``arn:aws:states:::sagemaker:createTrainingJob.sync`` -> ``createTrainingJob``."""
    if ":sagemaker:" not in resource:
        return None
    return resource.rsplit(":", 1)[-1].split(".", 1)[0]


def instance_types(config: StackConfig) -> dict[str, str]:
    """The configured instance type of each SageMaker resource the definition creates."""
    return {
        "training": config.training.instance_type,
        "transform": config.transform_instance_type,
        "endpoint": config.endpoint.instance_type,
    }


def fitted_definition(config: StackConfig, definition: dict[str, Any] | None = None) -> dict[str, Any]:
    """The definition with each volume key removed where its instance type has local instance storage, and
    with ``gtpipe:trainingAlgorithm`` pytorch the PyTorch containers' states
    (:func:`infra.constructs.pytorch_algorithm.fit_pytorch_states`)."""
    document = (
        json.loads(DEFINITION_FILE.read_text()) if definition is None else json.loads(json.dumps(definition))
    )
    types = instance_types(config)
    for state in _states(document["States"]):
        integration = _integration(str(state.get("Resource", "")))
        if integration not in _VOLUME_KEYS:
            continue
        path, resource = _VOLUME_KEYS[integration]
        if not instance_has_local_storage(types[resource]):
            continue
        parent = state.get("Parameters", {})
        for key in path[:-1]:
            parent = parent.get(key, {})
        parent.pop(path[-1], None)
    if config.training_algorithm.is_pytorch:
        # Imported here: the pytorch construct module imports aws_cdk, which the definition alone does not need.
        from infra.constructs.pytorch_algorithm import fit_pytorch_states

        fit_pytorch_states(document, config.task_type)
    return document


def definition_text(config: StackConfig) -> str:
    """:func:`fitted_definition` as the JSON text the state machine is created with."""
    return json.dumps(fitted_definition(config), indent=2)
