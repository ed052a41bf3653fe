"""model.tar.gz: layout, reproducibility, safe extraction, and serving from the extracted folder alone."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

from training.artifact import extract_model, package_model
from training.inference import input_fn, model_fn, output_fn, predict_fn

from .job_support import serve_outside_repository


def test_round_trip_train_tar_extract_serve(trained, tmp_path):
    # Given the trained model directory
    assert trained.process.returncode == 0
    # When it is packaged, extracted elsewhere and loaded
    tar_path = package_model(trained.job.model_dir, tmp_path / "out" / "model.tar.gz")
    extracted = extract_model(tar_path, tmp_path / "extracted")
    model = model_fn(extracted)
    # Then it predicts like the original, and the archive has SageMaker's layout (files at the root)
    body = trained.validation[0].path.read_bytes()
    original = predict_fn(input_fn(body, "image/png"), model_fn(trained.job.model_dir))
    np.testing.assert_array_equal(predict_fn(input_fn(body, "image/png"), model), original)
    with tarfile.open(tar_path) as tar:
        names = set(tar.getnames())
    assert {"model.pt", "classes.json", "model-config.json", "hyperparameters.json", "metrics.json"} <= names
    assert {
        "code/inference.py",
        "code/training/inference.py",
        "code/training/classification/model.py",
    } <= names
    assert not any(name.startswith(("/", "./")) or name.endswith(".pyc") for name in names)
    assert model.classes[3] == "three"


def test_packaging_is_reproducible(trained, tmp_path):
    first = package_model(trained.job.model_dir, tmp_path / "a.tar.gz").read_bytes()
    second = package_model(trained.job.model_dir, tmp_path / "b.tar.gz").read_bytes()
    assert first == second


def test_artifact_serves_without_the_repository(trained, tmp_path):
    # Given only the extracted artifact, with code/ on sys.path as SageMaker's PyTorch container does
    image = trained.validation[0].path
    # When a fresh interpreter, outside the repository, imports code/inference.py
    extracted, process = serve_outside_repository(trained.job.model_dir, image, tmp_path)
    # Then it answers with the same probabilities as the repository's handlers
    assert process.returncode == 0, process.stderr
    expected = output_fn(predict_fn(input_fn(image.read_bytes(), "image/png"), model_fn(extracted)), None)
    assert json.loads(process.stdout) == pytest.approx(json.loads(expected), rel=1e-5, abs=1e-7)


def test_extract_refuses_paths_outside_the_destination(tmp_path):
    # Given an archive with a member that climbs out of the destination
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        payload = b"owned"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    # When extracted, then it is refused and nothing is written outside
    with pytest.raises(tarfile.TarError):
        extract_model(evil, tmp_path / "dest")
    assert not (tmp_path / "escaped.txt").exists()


def test_model_fn_rejects_an_incomplete_directory(tmp_path):
    from training.errors import ModelArtifactError

    with pytest.raises(ModelArtifactError, match=r"model\.pt is missing"):
        model_fn(tmp_path)


def test_package_model_refuses_a_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        package_model(tmp_path / "nope", tmp_path / "model.tar.gz")
