"""``gtpipe:trainingAlgorithm`` ``pytorch``: ``training/`` in SageMaker's PyTorch containers (script mode).

What the stack adds for it (nothing of it exists with ``builtin``):

- ``sourcedir.tar.gz``, a CDK file asset: the ``training`` package (it imports only the standard library,
  torch, numpy and Pillow, which the PyTorch containers carry) and ``gtpipe_entry.py``, a thin entry point
  that runs ``training.train`` or ``training.detection.train`` for the stack's task type. SageMaker's training
  toolkit downloads ``sagemaker_submit_directory``, extracts it when it is a tar file and runs
  ``sagemaker_program`` in it (https://github.com/aws/sagemaker-training-toolkit, "files.download_and_extract").
  The archive is built byte for byte the same from the same sources (sorted entries, fixed times), so
  the asset hash changes only when the code does.
- the PyTorch training and inference images of the region: the Deep Learning Containers' ECR account per
  region (https://aws.github.io/deep-learning-containers/reference/region_availability/), the repositories
  ``pytorch-training`` / ``pytorch-inference`` and the tag ``<version>-<cpu|gpu>-<python>``
  (https://aws.github.io/deep-learning-containers/reference/available_images/).
- the hyperparameters the framework containers read: ``sagemaker_program``, ``sagemaker_submit_directory``
  and ``sagemaker_region``, JSON-encoded as the SageMaker Python SDK sends them (the toolkit JSON-decodes every
  value and keeps a value that is not JSON as the string it is).
- the serving container's environment: the model artifact carries ``code/inference.py`` and the ``training``
  package (training/artifact.py), which the PyTorch inference toolkit loads through ``SAGEMAKER_PROGRAM`` in
  ``SAGEMAKER_SUBMIT_DIRECTORY`` (https://github.com/aws/sagemaker-inference-toolkit, "environment.py").
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnMapping
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct
from gtpipe_shared.metric_definitions import METRIC_DEFINITIONS
from gtpipe_shared.tasks import TaskType

from infra.config import StackConfig
from infra.constructs.regional import SUPPORTED_REGIONS

TRAINING_PACKAGE = Path(__file__).resolve().parents[2] / "training"
ENTRY_POINT = "gtpipe_entry.py"
TRAINING_REPOSITORY = "pytorch-training"
INFERENCE_REPOSITORY = "pytorch-inference"
# The Deep Learning Containers' ECR account of each region the stack supports (region_availability above).
DLC_ACCOUNTS: dict[str, str] = {
    "us-east-1": "763104351884",
    "us-east-2": "763104351884",
    "us-west-2": "763104351884",
    "eu-west-1": "763104351884",
    "ap-northeast-1": "763104351884",
}
assert set(DLC_ACCOUNTS) == set(SUPPORTED_REGIONS), "one DLC account per supported region"
# Where the inference toolkit finds the handlers: the model artifact's code/ (training/artifact.py).
SERVING_ENVIRONMENT: dict[str, str] = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
}
PIPE_ATTRIBUTES = (
    "States.Array('source-ref', $.manifest.label_attribute, "
    "States.Format('{}-metadata', $.manifest.label_attribute))"
)
_TRAINING_MODULES = {
    TaskType.IMAGE_CLASSIFICATION.value: "training.train",
    TaskType.OBJECT_DETECTION.value: "training.detection.train",
}
_ENTRY = '''"""SageMaker PyTorch training entry point (sagemaker_program): the {task} job of gtpipe's training/,
its Pipe-mode channels read first (training/pipe_channels.py)."""

import sys

from training.pipe_channels import main_with_pipes
from {module} import main

if __name__ == "__main__":
    sys.exit(main_with_pipes(main, sys.argv[1:]))
'''


def entry_point_source(task_type: str) -> str:
    """``gtpipe_entry.py`` for ``task_type``; ValueError for a task type ``training/`` has no job for."""
    module = _TRAINING_MODULES.get(task_type)
    if module is None:
        raise ValueError(f"training/ has no training job for task type {task_type!r}")
    return _ENTRY.format(task=task_type, module=module)


def source_files(task_type: str) -> dict[str, bytes]:
    """The source directory's files, by archive path: ``gtpipe_entry.py`` and ``training/**.py``."""
    files = {ENTRY_POINT: entry_point_source(task_type).encode("utf-8")}
    for source in sorted(TRAINING_PACKAGE.rglob("*.py")):
        relative = source.relative_to(TRAINING_PACKAGE.parent)
        if "__pycache__" not in relative.parts:
            files[relative.as_posix()] = source.read_bytes()
    return files


def sourcedir_archive(files: Mapping[str, bytes]) -> bytes:
    """``files`` as a gzip'd tar whose bytes depend on the contents alone (sorted names, mtime 0, no owner)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            archive.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), mtime=0)


def write_sourcedir(task_type: str) -> Path:
    """The archive for ``task_type`` written to a folder named by its hash (CDK stages it into the assembly)."""
    data = sourcedir_archive(source_files(task_type))
    folder = Path(tempfile.gettempdir()) / "gtpipe-sourcedir" / hashlib.sha256(data).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sourcedir.tar.gz"
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)
    return path


@dataclass(frozen=True)
class PytorchTraining:
    """The pytorch algorithm's resources: images, their repositories, the source asset and hyperparameters."""

    training_image: str
    inference_image: str
    repository_arns: tuple[str, ...]
    source_object_arn: str
    hyperparameters: dict[str, str]


def pytorch_training(scope: Construct, config: StackConfig) -> PytorchTraining | None:
    """The pytorch algorithm's resources, created in ``scope``; None (nothing created) with ``builtin``."""
    algorithm = config.training_algorithm
    if not algorithm.is_pytorch:
        return None
    mapping = CfnMapping(scope, "DlcAccounts", mapping={r: {"Account": a} for r, a in DLC_ACCOUNTS.items()})
    account = mapping.find_in_map(Aws.REGION, "Account")
    registry = f"{account}.dkr.ecr.{Aws.REGION}.{Aws.URL_SUFFIX}"
    asset = s3_assets.Asset(scope, "TrainingSource", path=str(write_sourcedir(config.task_type)))
    return PytorchTraining(
        training_image=f"{registry}/{TRAINING_REPOSITORY}:{algorithm.image_tag(algorithm.training_processor)}",
        inference_image=f"{registry}/{INFERENCE_REPOSITORY}:{algorithm.image_tag(algorithm.inference_processor)}",
        repository_arns=tuple(
            f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{account}:repository/{name}"
            for name in (TRAINING_REPOSITORY, INFERENCE_REPOSITORY)
        ),
        source_object_arn=asset.bucket.arn_for_objects(asset.s3_object_key),
        hyperparameters={
            "sagemaker_program": json.dumps(ENTRY_POINT),
            "sagemaker_submit_directory": json.dumps(asset.s3_object_url),
            "sagemaker_region": json.dumps(Aws.REGION),
        },
    )


def role_statements(pytorch: PytorchTraining | None) -> list[iam.PolicyStatement]:
    """What the SageMaker role needs for the containers: pull both images and read the source archive."""
    if pytorch is None:
        return []
    return [
        iam.PolicyStatement(
            sid="PullPyTorchContainers",
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=list(pytorch.repository_arns),
        ),
        iam.PolicyStatement(
            sid="ReadTrainingSource", actions=["s3:GetObject"], resources=[pytorch.source_object_arn]
        ),
    ]


def fit_pytorch_states(document: dict[str, Any], task_type: str) -> None:
    """The definition's Train (and TrainIncremental, Retrain, TrainFold, Tune, DescribeBestTrainingJob),
    CreateModel (and CreateFoldModel) and CreateRollbackModel states for the PyTorch containers.

    Train streams each line's image, label and label metadata (:data:`PIPE_ATTRIBUTES`), declares the metric
    definitions (a framework container has none of its own, unlike a built-in) and records the inference image (``${PyTorchInferenceImage}``) as ``$.training.image``: the image that
    serves the model, which CreateModel, the model registry and a rollback use. Both CreateModel states
    give the container the serving environment (:data:`SERVING_ENVIRONMENT`).
    """
    states = document["States"]
    # Label-error finding's training jobs are Train's on other manifests (gtpipe:labelErrors): fitted the same.
    fold_states = states["OutOfFold"]["ItemProcessor"]["States"]
    # TrainIncremental is Train plus the model channel (an S3Prefix, not streamed): fitted the same. Warm
    # start itself is refused at synth with pytorch (infra/config_harvest.check_warm_start).
    for train in (states["Train"], states["TrainIncremental"], states["Retrain"], fold_states["TrainFold"]):
        train["Parameters"]["AlgorithmSpecification"]["MetricDefinitions"] = [
            dict(definition) for definition in METRIC_DEFINITIONS[TaskType(task_type)]
        ]
        # The label's metadata travels too: class names (class-name, class-map) are only there, and the
        # script reads the Pipe-mode stream without the manifest (training/pipe_channels.py).
        for channel in train["Parameters"]["InputDataConfig"]:
            if channel["DataSource"]["S3DataSource"]["S3DataType"] == "AugmentedManifestFile":
                channel["DataSource"]["S3DataSource"]["AttributeNames.$"] = PIPE_ATTRIBUTES
        selector = train["ResultSelector"]
        selector.pop("image.$", None)
        selector["image"] = "${PyTorchInferenceImage}"
    # gtpipe:tuning: the trials are Train's job, and the best one's model is served like Train's.
    # TuneWarmStart (warmStart) is Tune plus WarmStartConfig: both get the same trials.
    for tune in ("Tune", "TuneWarmStart"):
        tuning_definition = states[tune]["Parameters"]["TrainingJobDefinition"]
        tuning_definition["AlgorithmSpecification"]["MetricDefinitions"] = [
            dict(definition) for definition in METRIC_DEFINITIONS[TaskType(task_type)]
        ]
        for channel in tuning_definition["InputDataConfig"]:
            channel["DataSource"]["S3DataSource"]["AttributeNames.$"] = PIPE_ATTRIBUTES
    states["DescribeBestTrainingJob"]["ResultSelector"] = dict(states["Train"]["ResultSelector"])
    for model in (states["CreateModel"], states["CreateRollbackModel"], fold_states["CreateFoldModel"]):
        model["Parameters"]["PrimaryContainer"]["Environment"] = dict(SERVING_ENVIRONMENT)
