"""Fixtures for the training tests: demo digits on disk and SageMaker-style job folders."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from training.datasets import DigitRecord, write_channel, write_digits_dataset

from .job_support import Job, stage_job

# Small and quick, yet enough to learn: digits are easy for a CNN.
FAST_HYPERPARAMETERS = {
    "image_shape": "1,32,32",
    "num_layers": "18",
    "epochs": "7",
    "mini_batch_size": "16",
    "learning_rate": "0.05",
    "lr_scheduler_step": "5",
    "seed": "0",
}


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> list[DigitRecord]:
    """300 class-balanced demo digits (32x32 grayscale PNGs), written once per session."""
    return write_digits_dataset(tmp_path_factory.mktemp("digits"), limit=300, holdout_fraction=0.0, seed=1)


MakeJob = Callable[..., Job]


@pytest.fixture
def make_job(tmp_path: Path) -> MakeJob:
    """Build a job: channels ``train``/``validation`` staged from records, hyperparameters written to
    ``input/config/hyperparameters.json`` (strings) or passed as ``SM_HPS`` (JSON-decoded values)."""

    def build(
        train_records: Sequence[DigitRecord],
        validation_records: Sequence[DigitRecord] | None,
        hyperparameters: dict[str, Any],
        *,
        via_sm_hps: bool = False,
        name: str = "job",
    ) -> Job:
        root = tmp_path / name
        data = root / "input" / "data"
        write_channel(train_records, data / "train", "train.manifest")
        if validation_records is not None:
            write_channel(validation_records, data / "validation", "validation.manifest")
        return stage_job(root, hyperparameters, via_sm_hps=via_sm_hps)

    return build


def digits_hyperparameters(train_count: int, **overrides: Any) -> dict[str, Any]:
    """FAST_HYPERPARAMETERS plus the two the built-in requires."""
    return {
        **FAST_HYPERPARAMETERS,
        "num_classes": "10",
        "num_training_samples": str(train_count),
        **overrides,
    }


@pytest.fixture
def hyperparameters() -> Callable[..., dict[str, Any]]:
    """Factory of valid hyperparameters for a digits job of a given training size."""
    return digits_hyperparameters


@dataclass
class TrainedModel:
    job: Job
    process: subprocess.CompletedProcess[str]
    validation: list[DigitRecord]


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, digits: list[DigitRecord]) -> TrainedModel:
    """One real ``python -m training.train`` run on 200 digits (160 train / 40 validation), shared by the
    tests that need a trained model. Held-out digits (100) are kept for evaluation."""
    root = tmp_path_factory.mktemp("trained")
    train_records, validation = digits[:160], digits[160:200]
    data = root / "input" / "data"
    write_channel(train_records, data / "train", "train.manifest")
    write_channel(validation, data / "validation", "validation.manifest")
    job = stage_job(root, digits_hyperparameters(len(train_records)), channel_variables=False)
    return TrainedModel(job, job.run_subprocess(), list(digits[200:]))


# --- object detection ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def detection_scenes(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """24 small synthetic scenes (64..96 px): the first 16 to train on, the last 8 to validate."""
    from training.scenes import write_scenes

    return write_scenes(tmp_path_factory.mktemp("scenes"), 24, seed=2, min_side=64, max_side=96)


@pytest.fixture(scope="session")
def trained_detector(
    tmp_path_factory: pytest.TempPathFactory, detection_scenes: list[Any]
) -> tuple[Any, str]:
    """One real ``python -m training.detection.train`` run (2 epochs, 64 px, label attribute
    'bird-boxes-v2'); returns the job and its log. The contract is under test, not accuracy."""
    from .detection_support import TINY_DETECTION_HYPERPARAMETERS, detection_job

    job = detection_job(
        tmp_path_factory.mktemp("detection-job"),
        detection_scenes[:16],
        detection_scenes[16:],
        {**TINY_DETECTION_HYPERPARAMETERS, "num_training_samples": "16"},
        label_attribute="bird-boxes-v2",
    )
    process = job.run_subprocess()
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    return job, process.stdout
