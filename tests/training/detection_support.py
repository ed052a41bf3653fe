"""Helpers for the detection tests: tiny scene channels and SageMaker-style job folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.scenes import SceneRecord, write_scene_channel

from .job_support import Job, stage_job

# Tiny and quick: the contract is under test here, not accuracy (README and the report measure that).
TINY_DETECTION_HYPERPARAMETERS = {
    "num_classes": "4",
    "image_shape": "64",
    "epochs": "2",
    "mini_batch_size": "8",
    "optimizer": "adam",
    "learning_rate": "0.002",
    "use_pretrained_model": "0",
    "seed": "0",
}


def detection_job(
    root: Path,
    train: Sequence[SceneRecord],
    validation: Sequence[SceneRecord] | None,
    hyperparameters: dict[str, Any],
    *,
    label_attribute: str = "boxes",
    via_sm_hps: bool = False,
) -> Job:
    """Stage channels ``train``/``validation`` from scenes and write the hyperparameters."""
    data = root / "input" / "data"
    write_scene_channel(train, data / "train", "train.manifest", label_attribute=label_attribute)
    if validation is not None:
        write_scene_channel(
            validation, data / "validation", "validation.manifest", label_attribute=label_attribute
        )
    return stage_job(root, hyperparameters, via_sm_hps=via_sm_hps, module="training.detection.train")
