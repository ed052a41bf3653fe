"""python -m training.train end to end: SageMaker paths in, model and metrics out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from gtpipe_shared.metric_definitions import CLASSIFICATION_METRIC_DEFINITIONS as METRIC_DEFINITIONS

from training import train
from training.contracts import CLASSES_FILE, MODEL_CONFIG_FILE, WEIGHTS_FILE
from training.datasets import CLASS_NAMES
from training.train import TrainingPaths


def test_training_subprocess_learns_digits_well_above_chance(trained):
    # Given 160 labelled digits and 40 for validation, laid out at SageMaker's default paths
    # When the real `python -m training.train` runs (fixture)
    # Then it succeeds, and validation accuracy is far above the 10% of guessing
    assert trained.process.returncode == 0, trained.process.stdout[-3000:]
    assert not trained.job.failure_file.exists()
    metrics = trained.job.metrics()
    assert metrics["final"]["validation:accuracy"] >= 0.6
    assert metrics["num_training_samples"] == 160
    assert metrics["num_validation_samples"] == 40
    assert metrics["epochs_run"] == 7
    assert len(metrics["curves"]["validation:accuracy"]) == 7
    assert metrics["final"]["validation:accuracy"] == max(metrics["curves"]["validation:accuracy"])
    assert metrics["class_names"] == list(CLASS_NAMES)
    assert sum(map(sum, metrics["validation_confusion_matrix"])) == 40


def test_log_lines_parse_with_the_metric_definitions(trained):
    # Given the job's log
    log = trained.process.stdout
    # When each metric definition's regex is applied, as SageMaker does
    found = {d["Name"]: [float(v) for v in re.findall(d["Regex"], log)] for d in METRIC_DEFINITIONS}
    # Then every epoch's train/validation accuracy and loss are recovered, equal to metrics.json
    curves = trained.job.metrics()["curves"]
    for name in ("train:accuracy", "validation:accuracy", "train:loss", "validation:loss"):
        assert found[name] == [round(v, 6) for v in curves[name]], name
    assert "Epoch[0] Train-accuracy=" in log
    assert "Epoch[6] Validation-accuracy=" in log


def test_model_directory_holds_weights_classes_config_and_code(trained):
    # Given the trained job's model directory
    model_dir = trained.job.model_dir
    # Then it has the weights (plain tensors), the class list by index, the config and the serving code
    state = torch.load(model_dir / WEIGHTS_FILE, weights_only=True)
    assert "classifier.weight" in state
    assert json.loads((model_dir / CLASSES_FILE).read_text()) == list(CLASS_NAMES)
    config = json.loads((model_dir / MODEL_CONFIG_FILE).read_text())
    assert config["image"] == {"channels": 1, "height": 32, "width": 32, "resize": None}
    assert config["architecture"]["num_layers"] == 18
    assert config["hyperparameters"]["epochs"] == 7
    assert json.loads((model_dir / "hyperparameters.json").read_text())["epochs"] == "7"
    assert (model_dir / "code" / "inference.py").is_file()
    assert (model_dir / "code" / "training" / "inference.py").is_file()


def test_sm_hps_with_json_decoded_values_and_same_seed_gives_identical_runs(
    make_job, digits, hyperparameters
):
    # Given the same job twice, hyperparameters in SM_HPS as the toolkit writes them (numbers, not strings)
    hps = {**hyperparameters(60), "epochs": 2, "num_classes": 10, "num_training_samples": 60, "seed": 7}
    first = make_job(digits[:60], digits[60:90], hps, via_sm_hps=True, name="first")
    second = make_job(digits[:60], digits[60:90], hps, via_sm_hps=True, name="second")
    # When both run
    assert first.run() == 0
    assert second.run() == 0
    # Then the curves and the weights are identical
    assert first.metrics()["curves"] == second.metrics()["curves"]
    a = torch.load(first.model_dir / WEIGHTS_FILE, weights_only=True)
    b = torch.load(second.model_dir / WEIGHTS_FILE, weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_locations_default_to_sagemakers_paths():
    # Given no SageMaker variables, then every location is SageMaker's default
    paths = TrainingPaths.from_environ({})
    assert paths.hyperparameters_file == Path("/opt/ml/input/config/hyperparameters.json")
    assert paths.train_channel == Path("/opt/ml/input/data/train")
    assert paths.validation_channel == Path("/opt/ml/input/data/validation")
    assert paths.model_dir == Path("/opt/ml/model")
    assert paths.output_data_dir == Path("/opt/ml/output/data")
    assert paths.failure_file == Path("/opt/ml/output/failure")


def test_locations_follow_the_toolkit_variables():
    paths = TrainingPaths.from_environ(
        {"SM_CHANNEL_TRAIN": "/t", "SM_CHANNEL_VALIDATION": "/v", "SM_MODEL_DIR": "/m", "SM_OUTPUT_DIR": "/o"}
    )
    assert (paths.train_channel, paths.validation_channel, paths.model_dir) == (
        Path("/t"),
        Path("/v"),
        Path("/m"),
    )
    assert (paths.output_data_dir, paths.failure_file) == (Path("/o/data"), Path("/o/failure"))


def test_script_mode_arguments_override_the_file(make_job, digits, hyperparameters):
    # Given a file asking for 7 epochs and a script-mode command line asking for 1
    job = make_job(digits[:30], digits[30:40], hyperparameters(30))
    # When training runs with the arguments, then 1 epoch runs
    assert train.main(argv=["--epochs", "1", "--mini-batch-size=8"], environ=job.env) == 0
    assert job.metrics()["epochs_run"] == 1


def test_stray_argument_is_a_client_error(make_job, digits, hyperparameters):
    job = make_job(digits[:30], digits[30:40], hyperparameters(30))
    assert train.main(argv=["extra"], environ=job.env) == 1
    assert "unexpected argument 'extra'" in job.failure()
