"""Which local code stands in for a SageMaker container image.

SageMaker runs a training or serving container named by an ECR image URI. The local SageMaker maps the
built-in algorithms' images to Python code of this repository instead:

=========================  ==================================  ================================  =============
image repository           training (``python -m ...``)        serving handlers (module)         status
=========================  ==================================  ================================  =============
``image-classification``   ``training.train``                  ``training.inference``            supported
``object-detection``       ``training.detection.train``        ``training.detection.inference``  supported
``semantic-segmentation``  --                                  --                                not supported
``pytorch-training``       the job's own source directory      --                                supported
``pytorch-inference``      --                                  the model's ``code/``             supported
=========================  ==================================  ================================  =============

The two ``pytorch-*`` repositories are SageMaker's PyTorch Deep Learning Containers (``framework``):
they run code the request brings rather than code of their own. A training job names its code with the
hyperparameters ``sagemaker_program`` (the entry script) and ``sagemaker_submit_directory`` (an S3
``tar.gz`` of the source directory), JSON-encoded as the SageMaker SDK sends them; the local SageMaker
downloads and extracts that archive and runs the script in it (:mod:`.framework_job`), with only the source
directory on ``PYTHONPATH``. A model is served by ``SAGEMAKER_PROGRAM`` (default ``inference.py``) in
``SAGEMAKER_SUBMIT_DIRECTORY`` (default ``/opt/ml/model/code``) of the container's ``Environment``, inside
the extracted model artifact. A framework container has no metric definitions of its own: only the
request's ``AlgorithmSpecification.MetricDefinitions`` turn log lines into metrics, as on AWS.

An image matches by its repository name whatever the registry account, region or tag:
``<account>.dkr.ecr.<region>.amazonaws.com[.cn]/image-classification:1`` (AWS publishes the built-ins
under a different account per region). A job or model naming an unsupported or unknown image fails with
a FailureReason that says so, as a job with an image that cannot be pulled fails on AWS.

The training module is run with SageMaker's script-mode environment (``SM_*`` variables, see
:mod:`local.sagemaker.training_job`); the serving module must export the SageMaker inference-handler
convention ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from gtpipe_shared.metric_definitions import METRIC_DEFINITIONS
from gtpipe_shared.tasks import TASKS, TaskType

_CLASSIFICATION = TASKS[TaskType.IMAGE_CLASSIFICATION].algorithm
_DETECTION = TASKS[TaskType.OBJECT_DETECTION].algorithm


@dataclass(frozen=True)
class Algorithm:
    """Local stand-in for one algorithm image.

    ``training_module`` is run as ``python -m <module>``; ``inference_module`` is imported in-process
    for endpoints and batch transform. ``metric_definitions`` are the regexes SageMaker applies to the
    training log (``FinalMetricDataList``). ``unsupported_reason`` marks an image that is recognised but
    cannot run locally yet: jobs and endpoints using it fail with that reason.
    """

    name: str
    training_module: str | None = None
    inference_module: str | None = None
    metric_definitions: tuple[Mapping[str, str], ...] = field(default_factory=tuple)
    unsupported_reason: str | None = None
    framework: str | None = None


ALGORITHMS: Final[dict[str, Algorithm]] = {
    _CLASSIFICATION: Algorithm(
        name=_CLASSIFICATION,
        training_module="training.train",
        inference_module="training.inference",
        metric_definitions=tuple(METRIC_DEFINITIONS[TaskType.IMAGE_CLASSIFICATION]),
    ),
    _DETECTION: Algorithm(
        name=_DETECTION,
        training_module="training.detection.train",
        inference_module="training.detection.inference",
        metric_definitions=tuple(METRIC_DEFINITIONS[TaskType.OBJECT_DETECTION]),
    ),
    "semantic-segmentation": Algorithm(
        name="semantic-segmentation",
        unsupported_reason=(
            "the built-in semantic-segmentation algorithm is not supported by the local SageMaker "
            f"(supported: {_CLASSIFICATION}, {_DETECTION})"
        ),
    ),
    # SageMaker's PyTorch Deep Learning Containers (infra/constructs/pytorch_algorithm.py names them).
    "pytorch-training": Algorithm(name="pytorch-training", framework="training"),
    "pytorch-inference": Algorithm(name="pytorch-inference", framework="inference"),
}
"""The default image table, keyed by ECR repository name (see the module docstring)."""

_IMAGE: Final = re.compile(
    r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repository>[a-z0-9._/-]+?)(?::(?P<tag>[A-Za-z0-9._-]+)|@sha256:[0-9a-f]{64})?$"
)


class UnsupportedImage(ValueError):
    """The image cannot run locally; the message is suitable as a FailureReason."""


def image_repository(image: str) -> str | None:
    """The repository name of an ECR image URI (``image-classification``), or None if not ECR."""
    match = _IMAGE.match(image.strip())
    return match.group("repository") if match else None


def resolve_image(image: str, table: Mapping[str, Algorithm] = ALGORITHMS) -> Algorithm:
    """The :class:`Algorithm` behind an image URI; raises :class:`UnsupportedImage` otherwise."""
    repository = image_repository(image)
    algorithm = table.get(repository) if repository else None
    if algorithm is None:
        known = ", ".join(sorted(table))
        raise UnsupportedImage(
            f"ClientError: image {image!r} is not available to the local SageMaker; it runs the images "
            f"<account>.dkr.ecr.<region>.amazonaws.com/<name>:<tag> for names: {known}"
        )
    if algorithm.unsupported_reason:
        raise UnsupportedImage(f"ClientError: {algorithm.unsupported_reason}")
    return algorithm
