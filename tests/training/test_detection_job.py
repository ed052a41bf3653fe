"""``python -m training.detection.train``: the script-mode job contract end to end, on tiny scenes."""

from __future__ import annotations

import json
import re

import pytest
import torch
from gtpipe_shared.metric_definitions import DETECTION_METRIC_DEFINITIONS

from training.artifact import package_model
from training.contracts import CLASSES_FILE, MODEL_CONFIG_FILE, WEIGHTS_FILE
from training.detection import trainer as detection_trainer
from training.scenes import SCENE_CLASSES

from .detection_support import TINY_DETECTION_HYPERPARAMETERS, detection_job

torch.set_num_threads(1)


@pytest.fixture
def scenes(detection_scenes):
    return detection_scenes


def hyperparameters(count: int = 16, **overrides):
    return {**TINY_DETECTION_HYPERPARAMETERS, "num_training_samples": str(count), **overrides}


def test_subprocess_job_writes_model_metrics_and_builtin_log_lines(trained_detector):
    job, log = trained_detector
    # Then the model directory holds weights, classes, config, hyperparameters, metrics and serving code
    names = {p.relative_to(job.model_dir).as_posix() for p in job.model_dir.rglob("*") if p.is_file()}
    assert {WEIGHTS_FILE, CLASSES_FILE, MODEL_CONFIG_FILE, "hyperparameters.json", "metrics.json"} <= names
    assert {"code/inference.py", "code/training/detection/inference.py", "code/training/images.py"} <= names
    assert "training.detection.inference" in (job.model_dir / "code" / "inference.py").read_text()
    assert json.loads((job.model_dir / CLASSES_FILE).read_text()) == list(SCENE_CLASSES)
    config = json.loads((job.model_dir / MODEL_CONFIG_FILE).read_text())
    assert config["algorithm"] == "object-detection"
    assert config["label_attribute"] == "bird-boxes-v2"
    assert config["image"]["height"] == config["image"]["width"] == 64
    assert config["postprocess"]["nms_threshold"] == 0.45
    state = torch.load(job.model_dir / WEIGHTS_FILE, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    # And metrics.json has per-epoch curves under the metric names, as training.train writes them
    metrics = job.metrics()
    assert metrics["epochs_run"] == 2 and metrics["num_training_samples"] == 16
    assert metrics["num_validation_samples"] == 8
    assert set(metrics["curves"]) == {"validation:mAP", "train:cross_entropy", "train:smooth_l1"}
    assert all(len(curve) == 2 for curve in metrics["curves"].values())
    assert metrics["final"] == {
        name: curve[metrics["best_epoch"]] for name, curve in metrics["curves"].items()
    }
    assert set(metrics["validation_ap_per_class"]) == set(SCENE_CLASSES)
    assert metrics["label_attribute"] == "bird-boxes-v2"
    # And SageMaker's metric definitions find each metric once per epoch in the log
    for definition in DETECTION_METRIC_DEFINITIONS:
        values = [float(v) for v in re.findall(definition["Regex"], log)]
        assert len(values) == 2, definition["Name"]
    mAP = [float(v) for v in re.findall(DETECTION_METRIC_DEFINITIONS[0]["Regex"], log)]
    assert mAP == pytest.approx(metrics["curves"]["validation:mAP"], abs=1e-6)
    assert "no pretrained" not in log  # use_pretrained_model=0 was asked: nothing to warn about


def test_same_seed_same_weights_and_sm_hps_with_decoded_values(tmp_path, scenes, trained_detector):
    # Given the subprocess job's inputs run again in-process, hyperparameters as decoded SM_HPS values
    hps = {**hyperparameters(), "image_shape": 64, "epochs": 2, "learning_rate": 0.002}
    job = detection_job(
        tmp_path, scenes[:16], scenes[16:], hps, label_attribute="bird-boxes-v2", via_sm_hps=True
    )
    # When it runs
    assert job.run() == 0, job.failure()
    # Then the weights are identical to the first run's: training is deterministic by seed
    first = torch.load(trained_detector[0].model_dir / WEIGHTS_FILE, weights_only=True)
    second = torch.load(job.model_dir / WEIGHTS_FILE, weights_only=True)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"num_layers": "18"}, "ClientError: unknown hyperparameter(s): num_layers"),
        ({"image_shape": "3,64,64"}, "ClientError: hyperparameter image_shape='3,64,64' must be one integer"),
        ({"num_classes": "2"}, "is out of range for num_classes=2"),
        ({"label_width": "7"}, "do not fit label_width=7"),
    ],
)
def test_bad_hyperparameters_fail_with_client_error(tmp_path, scenes, overrides, reason):
    job = detection_job(tmp_path, scenes[:16], scenes[16:], hyperparameters(**overrides))
    assert job.run() == 1
    assert job.failure().startswith("ClientError: ")
    assert reason in job.failure()
    assert not (job.model_dir / WEIGHTS_FILE).exists()


def test_missing_validation_channel_and_missing_image_fail_with_client_error(tmp_path, scenes):
    job = detection_job(tmp_path / "a", scenes[:16], None, hyperparameters())
    assert job.run() == 1
    assert "channel 'validation' not found" in job.failure()
    assert "object-detection algorithm needs a 'train' and a 'validation' channel" in job.failure()
    # Given a staged image that is then deleted
    job = detection_job(tmp_path / "b", scenes[:16], scenes[16:], hyperparameters())
    missing = next((tmp_path / "b" / "input" / "data" / "train").rglob("scene-*.png"))
    missing.unlink()
    assert job.run() == 1
    assert job.failure().startswith("ClientError: channel 'train' train.manifest line")
    assert "image not found" in job.failure() and missing.name in job.failure()
    # And with skip_bad_records=1 the job trains on the rest and lists what it skipped
    (tmp_path / "b" / "input" / "config" / "hyperparameters.json").write_text(
        json.dumps(hyperparameters(skip_bad_records="1", epochs="1"))
    )
    assert job.run() == 0, job.failure()
    assert len(job.metrics()["skipped_records"]) == 1


def test_unexpected_errors_are_algorithm_errors(tmp_path, scenes, monkeypatch, capsys):
    def explode(*args, **kwargs):
        raise RuntimeError("the GPU caught fire")

    monkeypatch.setattr(detection_trainer, "fit", explode)
    job = detection_job(tmp_path, scenes[:16], scenes[16:], hyperparameters(use_pretrained_model="1"))
    assert job.run() == 2
    assert job.failure() == "AlgorithmError: RuntimeError: the GPU caught fire"
    # And use_pretrained_model=1 (the built-in's default) said that no pretrained weights exist offline
    assert (
        "use_pretrained_model=1: no pretrained vgg-16 weights are available offline"
        in capsys.readouterr().out
    )


def test_model_channel_starts_from_an_earlier_model_or_says_why_not(
    tmp_path, scenes, trained_detector, capsys
):
    # Given an earlier model.tar.gz of this algorithm in the 'model' channel
    job = detection_job(tmp_path / "a", scenes[:16], scenes[16:], hyperparameters(epochs="1"))
    package_model(trained_detector[0].model_dir, tmp_path / "a" / "input" / "data" / "model" / "model.tar.gz")
    # When training runs / Then it starts from those weights
    assert job.run() == 0, job.failure()
    assert "Initialising from the model channel (incremental training)" in capsys.readouterr().out
    # Given the same model for another input size / Then the job refuses, naming the mismatch
    other = detection_job(tmp_path / "b", scenes[:16], scenes[16:], hyperparameters(image_shape="96"))
    package_model(trained_detector[0].model_dir, tmp_path / "b" / "input" / "data" / "model" / "model.tar.gz")
    assert other.run() == 1
    assert "image_shape=64; this job asks for vgg-16, num_classes=4, image_shape=96" in other.failure()


def test_freeze_layer_pattern_keeps_matching_backbone_weights(tmp_path, scenes, trained_detector):
    # Given a model channel and a pattern that freezes the stem
    job = detection_job(
        tmp_path, scenes[:16], scenes[16:], hyperparameters(epochs="1", freeze_layer_pattern="^stem\\.")
    )
    package_model(trained_detector[0].model_dir, tmp_path / "input" / "data" / "model" / "model.tar.gz")
    # When training runs
    assert job.run() == 0, job.failure()
    # Then the stem's weights did not move while the heads did
    before = torch.load(trained_detector[0].model_dir / WEIGHTS_FILE, weights_only=True)
    after = torch.load(job.model_dir / WEIGHTS_FILE, weights_only=True)
    assert torch.equal(before["stem.0.weight"], after["stem.0.weight"])
    assert not torch.equal(before["heatmap.0.weight"], after["heatmap.0.weight"])
    assert job.metrics()["frozen_parameters"] == 3  # stem conv weight, batch-norm weight and bias
