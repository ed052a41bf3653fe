"""SageMaker-style training job folders for the training tests, for either algorithm's entry point."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Job:
    """A training job's folders, laid out as the local cloud lays them out, and the module that runs it."""

    root: Path
    env: dict[str, str]
    module: str = "training.train"

    @property
    def model_dir(self) -> Path:
        return Path(self.env["SM_MODEL_DIR"])

    @property
    def failure_file(self) -> Path:
        return Path(self.env["SM_OUTPUT_DIR"]) / "failure"

    @property
    def channels(self) -> Path:
        return self.root / "input" / "data"

    def failure(self) -> str:
        return self.failure_file.read_text(encoding="utf-8")

    def metrics(self) -> dict[str, Any]:
        return json.loads((Path(self.env["SM_OUTPUT_DATA_DIR"]) / "metrics.json").read_text())

    def run(self) -> int:
        """Run in this process (fast: what ``python -m <module>`` runs, minus interpreter start)."""
        main = importlib.import_module(self.module).main
        return int(main(argv=[], environ=self.env))

    def run_subprocess(self) -> subprocess.CompletedProcess[str]:
        """Run the real ``python -m <module>`` with only the SageMaker variables set."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
        env.update(self.env)
        env["PYTHONPATH"] = str(REPO_ROOT)
        return subprocess.run(
            [sys.executable, "-m", self.module],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def stage_job(
    root: Path,
    hyperparameters: dict[str, Any],
    *,
    via_sm_hps: bool = False,
    channel_variables: bool = True,
    module: str = "training.train",
) -> Job:
    """A job under ``root`` whose channels (already written or to be written) lie in ``input/data``.

    Hyperparameters go to ``input/config/hyperparameters.json`` or, with ``via_sm_hps``, to ``SM_HPS``;
    ``channel_variables`` also sets ``SM_CHANNEL_TRAIN``/``SM_CHANNEL_VALIDATION`` (else the defaults
    under ``SM_INPUT_DIR`` apply).
    """
    data = root / "input" / "data"
    env = {
        "SM_INPUT_DIR": str(root / "input"),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
    }
    if channel_variables:
        env["SM_CHANNEL_TRAIN"] = str(data / "train")
        env["SM_CHANNEL_VALIDATION"] = str(data / "validation")
    if via_sm_hps:
        env["SM_HPS"] = json.dumps(hyperparameters)
    else:
        config = root / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return Job(root, env, module)


# Imports the artifact's code/inference.py from the artifact alone and prints its answer for one PNG.
_SERVE_SCRIPT = (
    "import sys; sys.path.insert(0, sys.argv[1] + '/code');"
    "import inference, training; assert training.__file__.startswith(sys.argv[1]), training.__file__;"
    "m = inference.model_fn(sys.argv[1]);"
    "body = open(sys.argv[2], 'rb').read();"
    "print(inference.output_fn(inference.predict_fn(inference.input_fn(body, 'image/png'), m), None))"
)


def serve_outside_repository(
    model_dir: Path, image: Path, scratch: Path
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Package ``model_dir``, extract it under ``scratch`` and, in a fresh interpreter outside the
    repository with the artifact's ``code/`` on ``sys.path`` (as SageMaker's PyTorch container does),
    answer ``image``. Returns the extracted folder and the process (its stdout is the JSON answer)."""
    from training.artifact import extract_model, package_model

    extracted = extract_model(package_model(model_dir, scratch / "m.tar.gz"), scratch / "x")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.run(
        [sys.executable, "-c", _SERVE_SCRIPT, str(extracted), str(image)],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return extracted, process
