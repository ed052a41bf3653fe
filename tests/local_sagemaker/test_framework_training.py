"""The PyTorch framework containers locally: a training job runs the source archive it names (script mode),
and a model served by the inference container runs the handlers its artifact carries."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from gtpipe_shared.metric_definitions import METRIC_DEFINITIONS
from gtpipe_shared.tasks import TaskType

from infra.constructs.pytorch_algorithm import source_files, sourcedir_archive
from local.sagemaker.hosting import ModelLoadError, load_model

from .conftest import REGION, ROLE, TINY_HYPERPARAMETERS, Cloud, training_request

TRAINING_IMAGE = f"763104351884.dkr.ecr.{REGION}.amazonaws.com/pytorch-training:2.6.0-cpu-py312"
INFERENCE_IMAGE = f"763104351884.dkr.ecr.{REGION}.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
# Writes where the code it runs comes from, and the arguments and hyperparameters it was given.
PROBE = """import json, os, sys
import training
with open(os.path.join(os.environ["SM_MODEL_DIR"], "probe.json"), "w") as out:
    data = os.path.join(os.environ["SM_INPUT_DIR"], "data")
    json.dump({"training": training.__file__, "argv": sys.argv[1:], "hps": json.loads(os.environ["SM_HPS"]),
               "cwd": os.getcwd(), "data": {n: os.listdir(os.path.join(data, n)) if os.path.isdir(os.path.join(data, n))
               else os.path.getsize(os.path.join(data, n)) for n in os.listdir(data)}}, out)
"""


@pytest.fixture
def channels(cloud: Cloud, digits):
    """(train, validation) augmented manifests of 40 + 20 digits in S3."""
    return (
        cloud.augmented_manifest(digits[:40], "splits/run/train.manifest"),
        cloud.augmented_manifest(digits[40:60], "splits/run/validation.manifest"),
    )


def framework_hyperparameters(program: str, source_uri: str, **extra: str) -> dict[str, str]:
    """The hyperparameters of a PyTorch job, the container's own JSON-encoded as the SageMaker SDK sends them."""
    return {
        **extra,
        "sagemaker_program": json.dumps(program),
        "sagemaker_submit_directory": json.dumps(source_uri),
        "sagemaker_region": json.dumps(REGION),
    }


def artifact_files(cloud: Cloud, described: dict) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(cloud.read(described["ModelArtifacts"]["S3ModelArtifacts"]))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_a_pytorch_job_runs_the_archives_entry_point_with_decoded_hyperparameters(cloud: Cloud, channels):
    # Given a source archive whose entry point reports what it runs, and hyperparameters JSON-encoded
    files = {"probe.py": PROBE.encode(), **source_files("image-classification")}
    source = cloud.put("code/probe.tar.gz", sourcedir_archive(files))
    hyperparameters = framework_hyperparameters("probe.py", source, epochs="3", image_shape="1,16,16")
    request = training_request("probe-0", *channels, image=TRAINING_IMAGE, hyperparameters=hyperparameters)
    # When the job runs in the PyTorch training image
    cloud.backend.create_training_job(request)
    described = cloud.backend.wait_for_job("training", "probe-0", timeout=60)
    # Then the archive's own package ran, from its extracted folder, not this checkout's
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    probe = json.loads(artifact_files(cloud, described)["probe.json"])
    code_dir = Path(probe["cwd"])
    assert Path(probe["training"]).is_relative_to(code_dir) and code_dir.name == "src"
    # And the user hyperparameters arrived decoded, without the container's sagemaker_* settings
    assert probe["hps"] == {"epochs": 3, "image_shape": "1,16,16"}
    assert probe["argv"] == ["--epochs", "3", "--image_shape", "1,16,16"]
    # And the Pipe-mode channels arrived as SageMaker streams them: <channel>_0 beside an empty folder
    data = probe["data"]
    assert set(data) == {"train", "train_0", "validation", "validation_0"}
    assert data["train"] == data["validation"] == [] and data["train_0"] > 0 and data["validation_0"] > 0


def test_the_project_entry_point_trains_in_the_pytorch_image_with_the_requests_metrics(
    cloud: Cloud, channels
):
    # Given the stack's source archive (training/ and gtpipe_entry.py) and the metric definitions Train sends
    source = cloud.put("code/sourcedir.tar.gz", sourcedir_archive(source_files("image-classification")))
    hyperparameters = framework_hyperparameters(
        "gtpipe_entry.py", source, **TINY_HYPERPARAMETERS, num_training_samples="40"
    )
    request = training_request(
        "pt-digits-0", *channels, image=TRAINING_IMAGE, hyperparameters=hyperparameters
    )
    request["AlgorithmSpecification"]["MetricDefinitions"] = METRIC_DEFINITIONS[TaskType.IMAGE_CLASSIFICATION]
    # When it runs
    cloud.backend.create_training_job(request)
    described = cloud.backend.wait_for_job("training", "pt-digits-0", timeout=120)
    # Then it produced the built-in's artifact and the metrics of the request's definitions
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert {"model.pt", "classes.json", "code/inference.py"} <= set(artifact_files(cloud, described))
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert 0.0 <= metrics["validation:accuracy"] <= 1.0


def test_a_pytorch_job_without_its_program_fails_naming_the_missing_hyperparameter(cloud: Cloud, channels):
    # Given a PyTorch training job whose hyperparameters name no entry script or source
    hyperparameters = {**TINY_HYPERPARAMETERS, "num_training_samples": "40"}
    request = training_request(
        "pt-noprog-0", *channels, image=TRAINING_IMAGE, hyperparameters=hyperparameters
    )
    # When it runs
    cloud.backend.create_training_job(request)
    described = cloud.backend.wait_for_job("training", "pt-noprog-0", timeout=30)
    # Then it fails saying which hyperparameters the container needs
    assert described["TrainingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    assert "sagemaker_program" in reason and "sagemaker_submit_directory" in reason


def test_a_pytorch_job_whose_archive_lacks_the_program_fails(cloud: Cloud, channels):
    # Given a source archive without the script sagemaker_program names
    source = cloud.put("code/empty.tar.gz", sourcedir_archive({"other.py": b"print('x')\n"}))
    hyperparameters = framework_hyperparameters("gtpipe_entry.py", source)
    request = training_request(
        "pt-noscript-0", *channels, image=TRAINING_IMAGE, hyperparameters=hyperparameters
    )
    # When it runs
    cloud.backend.create_training_job(request)
    described = cloud.backend.wait_for_job("training", "pt-noscript-0", timeout=30)
    # Then it fails naming the script
    assert described["TrainingJobStatus"] == "Failed"
    assert (
        "gtpipe_entry.py" in described["FailureReason"] and "not in the source" in described["FailureReason"]
    )


def test_the_inference_image_serves_the_handlers_of_the_models_code(
    cloud: Cloud, model_tar: Path, digits, tmp_path
):
    # Given a trained artifact (with code/inference.py) behind the PyTorch inference image and its environment
    uri = cloud.put("models/pt/model.tar.gz", model_tar.read_bytes())
    container = {
        "Image": INFERENCE_IMAGE,
        "ModelDataUrl": uri,
        "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        },
    }
    model = {"ModelName": "pt-model", "PrimaryContainer": container, "ExecutionRoleArn": ROLE}
    # When it is loaded and asked to predict a digit
    loaded = load_model(model, cloud.s3, tmp_path / "hosting", cloud.backend.algorithms)
    body, content_type = loaded.predict(digits[0].path.read_bytes(), "image/png", "application/json")
    # Then the artifact's handlers answered the built-in's format: one probability per class
    assert Path(loaded.handlers.__file__).is_relative_to(loaded.model_dir)
    probabilities = json.loads(body)
    assert content_type == "application/json" and len(probabilities) == 10
    assert abs(sum(probabilities) - 1.0) < 1e-3


def test_the_inference_image_refuses_a_model_without_its_serving_script(
    cloud: Cloud, model_tar: Path, tmp_path
):
    # Given the environment naming a script the artifact does not have
    uri = cloud.put("models/pt/model.tar.gz", model_tar.read_bytes())
    container = {
        "Image": INFERENCE_IMAGE,
        "ModelDataUrl": uri,
        "Environment": {"SAGEMAKER_PROGRAM": "serve.py"},
    }
    model = {"ModelName": "pt-bad", "PrimaryContainer": container, "ExecutionRoleArn": ROLE}
    # When it is loaded / Then the load fails naming the script
    with pytest.raises(ModelLoadError, match=r"serve\.py"):
        load_model(model, cloud.s3, tmp_path / "hosting", cloud.backend.algorithms)
