"""Helpers for the detection tests: tiny scene channels and SageMaker-style job folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.detection import train as detection_train
from training.scenes import SceneRecord, write_scene_channel

REPO_ROOT = Path(__file__).resolve().parents[2]

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


@dataclass
class DetectionJob:
    """A detection training job's folders, laid out as the local cloud lays them out."""

    root: Path
    env: dict[str, str]

    @property
    def model_dir(self) -> Path:
        return Path(self.env["SM_MODEL_DIR"])

    @property
    def failure_file(self) -> Path:
        return Path(self.env["SM_OUTPUT_DIR"]) / "failure"

    def failure(self) -> str:
        return self.failure_file.read_text(encoding="utf-8")

    def metrics(self) -> dict[str, Any]:
        return json.loads((Path(self.env["SM_OUTPUT_DATA_DIR"]) / "metrics.json").read_text())

    def run(self) -> int:
        """Run in this process (what ``python -m training.detection.train`` runs, minus start-up)."""
        return detection_train.main(argv=[], environ=self.env)

    def run_subprocess(self) -> subprocess.CompletedProcess[str]:
        """Run the real ``python -m training.detection.train`` with only the SageMaker variables set."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
        env.update(self.env)
        env["PYTHONPATH"] = str(REPO_ROOT)
        return subprocess.run(
            [sys.executable, "-m", "training.detection.train"],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def detection_job(
    root: Path,
    train: Sequence[SceneRecord],
    validation: Sequence[SceneRecord] | None,
    hyperparameters: dict[str, Any],
    *,
    label_attribute: str = "boxes",
    via_sm_hps: bool = False,
) -> DetectionJob:
    """Stage channels ``train``/``validation`` from scenes and write the hyperparameters."""
    data = root / "input" / "data"
    write_scene_channel(train, data / "train", "train.manifest", label_attribute=label_attribute)
    if validation is not None:
        write_scene_channel(
            validation, data / "validation", "validation.manifest", label_attribute=label_attribute
        )
    env = {
        "SM_INPUT_DIR": str(root / "input"),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_CHANNEL_TRAIN": str(data / "train"),
        "SM_CHANNEL_VALIDATION": str(data / "validation"),
    }
    if via_sm_hps:
        env["SM_HPS"] = json.dumps(hyperparameters)
    else:
        config = root / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return DetectionJob(root, env)
