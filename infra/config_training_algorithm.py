"""``gtpipe:trainingAlgorithm``: which code trains and serves the model on AWS (README "Training and serving
code").

``builtin`` (the default) trains with SageMaker's built-in algorithm of the task type; the templates are the
ones this setting did not exist for. ``pytorch`` runs this repository's ``training/`` package in SageMaker's
PyTorch Deep Learning Container (script mode) and serves it with the matching PyTorch inference container.

The container tag follows the instance type of each job: a GPU family (``ml.g4dn``, ``ml.p3``, ...) gets the
``gpu`` image, any other family the ``cpu`` image. AWS Inferentia and Trainium families need the Neuron
containers, which this setting does not offer: they are refused at synth. The endpoint and the batch
transform serve the same model (one CreateModel, one image), so their instance types must agree on CPU or GPU.
Image tags: https://aws.github.io/deep-learning-containers/reference/available_images/
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from infra.config_reader import PREFIX, ConfigError, ContextReader

TrainingAlgorithm = Literal["builtin", "pytorch"]
TRAINING_ALGORITHMS: tuple[TrainingAlgorithm, ...] = ("builtin", "pytorch")
Processor = Literal["cpu", "gpu"]

# The one PyTorch release the stack pins (framework version, Python tag): the SageMaker DLCs publish
# pytorch-training and pytorch-inference under "<version>-<cpu|gpu>-<python>" for it.
PYTORCH_VERSION = "2.6.0"
PYTORCH_PYTHON = "py312"

# NVIDIA GPU instance families SageMaker trains and hosts on (the "gpu" container tag).
_GPU_SERIES = ("p", "g")
# AWS accelerators that need the Neuron containers (not the CUDA/CPU ones this setting names).
_NEURON_SERIES = ("inf", "trn")
_FAMILY = re.compile(r"^ml\.(?P<series>[a-z]+)[0-9]")


def processor_of(instance_type: str) -> Processor:
    """``cpu`` or ``gpu``: which PyTorch container tag runs on ``instance_type`` (``ml.g4dn.xlarge`` -> gpu).

    Raises ConfigError for an Inferentia/Trainium family or a string that is not an ``ml.*`` type."""
    match = _FAMILY.match(instance_type)
    if match is None:
        raise ConfigError(f"{instance_type!r} is not a SageMaker instance type (ml.<family>.<size>)")
    series = match.group("series")
    if series in _NEURON_SERIES:
        raise ConfigError(
            f"{PREFIX}trainingAlgorithm pytorch runs the CPU or CUDA PyTorch containers; {instance_type} "
            "is an AWS Inferentia/Trainium instance, which needs the Neuron containers: choose an ml.m5/ml.c5 "
            "(CPU) or ml.g4dn/ml.g5/ml.p3 (GPU) instance type"
        )
    return "gpu" if series in _GPU_SERIES else "cpu"


@dataclass(frozen=True)
class TrainingAlgorithmConfig:
    """The validated ``gtpipe:trainingAlgorithm`` with the container tag of each job kind (pytorch only)."""

    algorithm: TrainingAlgorithm = "builtin"
    training_processor: Processor = "gpu"
    inference_processor: Processor = "cpu"

    @property
    def is_pytorch(self) -> bool:
        """Whether the stack trains and serves with the PyTorch containers."""
        return self.algorithm == "pytorch"

    def image_tag(self, processor: Processor) -> str:
        """The container tag for ``processor`` (``2.6.0-cpu-py312``)."""
        return f"{PYTORCH_VERSION}-{processor}-{PYTORCH_PYTHON}"


def read_training_algorithm(
    reader: ContextReader,
    *,
    training_instance_type: str,
    endpoint_instance_type: str,
    transform_instance_type: str,
) -> TrainingAlgorithmConfig:
    """``gtpipe:trainingAlgorithm`` (``builtin`` | ``pytorch``, default builtin) checked against the instance
    types: with ``pytorch`` each must run a CPU or CUDA container, and the endpoint and batch transform, which
    serve one model, must both be CPU or both GPU."""
    algorithm: TrainingAlgorithm = reader.choice("trainingAlgorithm", TRAINING_ALGORITHMS, "builtin")
    if algorithm == "builtin":
        return TrainingAlgorithmConfig()
    endpoint = processor_of(endpoint_instance_type)
    transform = processor_of(transform_instance_type)
    if endpoint != transform:
        raise ConfigError(
            f"{PREFIX}trainingAlgorithm pytorch: the endpoint ({endpoint_instance_type}, {endpoint}) and the "
            f"batch transform ({transform_instance_type}, {transform}) serve the same model with one inference "
            f"image; choose instance types that are both CPU or both GPU ({PREFIX}endpoint.instanceType, "
            f"{PREFIX}transformInstanceType)"
        )
    return TrainingAlgorithmConfig(
        algorithm=algorithm,
        training_processor=processor_of(training_instance_type),
        inference_processor=endpoint,
    )
