"""Incremental training of image classification from the ``model`` channel: the earlier model's weights
are the starting point, and a model of another shape or class list fails the job as the built-in does
(``training.classification.train.check_incremental_match``)."""

from __future__ import annotations

import json

import pytest
import torch

from training.artifact import package_model
from training.contracts import MODEL_CONFIG_FILE, WEIGHTS_FILE


@pytest.fixture()
def first_model(make_job, digits, hyperparameters):
    """An earlier model (one epoch on 30 digits): its model directory."""
    first = make_job(digits[:30], digits[30:40], hyperparameters(30, epochs="1"), name="first")
    assert first.run() == 0
    return first.model_dir


def _stem_key(state: dict[str, torch.Tensor]) -> str:
    # The first convolution's weights: what a fresh start would draw at random.
    return next(key for key, value in state.items() if key.endswith("weight") and value.dim() == 4)


def test_second_job_starts_from_the_model_channels_weights(make_job, digits, hyperparameters, first_model):
    # Given a second job whose 'model' channel holds the first model, with a learning rate too small to move
    # the weights, and a third identical job without the channel
    hps = hyperparameters(30, epochs="1", learning_rate="0.0000000001", weight_decay="0")
    warm = make_job(digits[:30], digits[30:40], hps, name="warm")
    package_model(first_model, warm.channels / "model" / "model.tar.gz")
    cold = make_job(digits[:30], digits[30:40], hps, name="cold")
    # When both run
    assert warm.run() == 0
    assert cold.run() == 0
    # Then the warm job's weights are still the first model's, and the cold job's are not
    first = torch.load(first_model / WEIGHTS_FILE, weights_only=True)
    key = _stem_key(first)
    warm_state = torch.load(warm.model_dir / WEIGHTS_FILE, weights_only=True)
    cold_state = torch.load(cold.model_dir / WEIGHTS_FILE, weights_only=True)
    assert torch.allclose(warm_state[key], first[key], atol=1e-6)
    assert not torch.allclose(cold_state[key], first[key], atol=1e-3)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"num_classes": "12"}, "num_classes=10 but this job has num_classes=12"),
        ({"num_layers": "34"}, "num_layers=18 but this job has num_layers=34"),
        ({"image_shape": "1,28,28"}, "image_shape=1,32,32 but this job has image_shape=1,28,28"),
    ],
)
def test_model_of_another_shape_fails_the_job_naming_the_difference(
    make_job, digits, hyperparameters, first_model, overrides, named
):
    # Given a 'model' channel holding a model trained with other hyperparameters than this job's
    job = make_job(digits[:30], digits[30:40], hyperparameters(30, epochs="1", **overrides))
    package_model(first_model, job.channels / "model" / "model.tar.gz")
    # When the job runs
    exit_code = job.run()
    # Then it fails as a ClientError naming the hyperparameter that differs
    assert exit_code == 1
    assert job.failure().startswith("ClientError: the 'model' channel's model was trained with ")
    assert named in job.failure()


def test_model_of_another_class_order_fails_the_job(make_job, digits, hyperparameters, first_model, tmp_path):
    # Given a 'model' channel holding a model of the same shape whose classes are in another order
    config_path = first_model / MODEL_CONFIG_FILE
    config = json.loads(config_path.read_text())
    config["classes"] = list(reversed(config["classes"]))
    config_path.write_text(json.dumps(config))
    job = make_job(digits[:30], digits[30:40], hyperparameters(30, epochs="1"))
    package_model(first_model, job.channels / "model" / "model.tar.gz")
    # When the job runs
    exit_code = job.run()
    # Then it fails as a ClientError saying the classes differ
    assert exit_code == 1
    assert "incremental training needs the same classes in the same order" in job.failure()
    assert not (job.model_dir / WEIGHTS_FILE).exists()


def test_class_no_manifest_names_matches_any_name(make_job, digits, hyperparameters, first_model):
    # Given a 'model' channel holding a model whose class 3 was never named (so named "3" by its index)
    config_path = first_model / MODEL_CONFIG_FILE
    config = json.loads(config_path.read_text())
    config["classes"][3] = "3"
    config_path.write_text(json.dumps(config))
    job = make_job(digits[:30], digits[30:40], hyperparameters(30, epochs="1"))
    package_model(first_model, job.channels / "model" / "model.tar.gz")
    # When the job runs, then it trains from that model
    assert job.run() == 0, job.failure()
