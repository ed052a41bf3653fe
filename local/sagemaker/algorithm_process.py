"""SageMaker's training container contract, locally: the ``/opt/ml`` layout, the environment, the process.

Used by training jobs (:mod:`.training_job`) and by automated data labeling (:mod:`.labeling_automated`):
:func:`write_job_config` writes ``input/config``, :func:`script_mode_environment` the ``SM_*`` variables,
:class:`AlgorithmProcess` runs ``python -m <module>`` in its own process group (SIGTERM, then SIGKILL on a
stop), and :func:`failure_reason` reads a failed algorithm's FailureReason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import training

LOG = logging.getLogger(__name__)

# The repository root, so that ``python -m training.train`` imports this checkout's package.
CODE_ROOT = Path(training.__file__).resolve().parent.parent
FAILURE_REASON_LIMIT = 1024
POLL_SECONDS = 0.1
DEFAULT_ALGORITHM_THREADS = 2
"""CPU threads of a local algorithm process unless the backend is told otherwise: the cores of the
smallest machine the project supports (CI has 2), so a job's numbers are the same on a laptop and in
CI. More threads are faster on a larger machine but change the last bits of every sum, and a model at a
decision boundary (a confidence threshold, a quality gate) can land on the other side."""
RESOURCE_CONFIG: Mapping[str, Any] = {
    "current_host": "algo-1",
    "hosts": ["algo-1"],
    "network_interface_name": "eth0",
}


def _num_gpus() -> int:
    # Importing torch here would cost seconds per backend; only ask it when it is already loaded.
    torch = sys.modules.get("torch")
    try:
        return int(torch.cuda.device_count()) if torch is not None else 0
    except Exception:  # no driver, broken install: report none
        return 0


def write_job_config(
    input_dir: Path, hyperparameters: Mapping[str, Any], input_config: Mapping[str, Any]
) -> None:
    """Write SageMaker's ``input/config`` files: ``hyperparameters.json``, ``inputdataconfig.json`` and
    ``resourceconfig.json`` (one host, ``algo-1``)."""
    config_dir = input_dir / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "hyperparameters.json").write_text(
        json.dumps(dict(hyperparameters), indent=2), encoding="utf-8"
    )
    (config_dir / "inputdataconfig.json").write_text(
        json.dumps(dict(input_config), indent=2), encoding="utf-8"
    )
    (config_dir / "resourceconfig.json").write_text(json.dumps(RESOURCE_CONFIG), encoding="utf-8")


def script_mode_environment(
    *,
    job_name: str,
    job_arn: str,
    job_dir: Path,
    hyperparameters: Mapping[str, Any],
    channels: Mapping[str, Path],
    environment: Mapping[str, str] | None = None,
    threads: int | None = None,
) -> dict[str, str]:
    """The process environment of a training container in script mode: this process's variables (minus
    any ``SM_*``), ``OMP_NUM_THREADS=threads`` when given, the job's ``Environment``, then SageMaker's
    ``SM_*`` variables for ``job_dir`` laid out as ``/opt/ml`` (``input/``, ``model/``, ``output/``) and
    ``PYTHONPATH`` reaching this checkout. ``write_job_config`` must have written ``input/config`` first.

    ``threads`` fixes the algorithm's CPU thread count: the order of floating-point sums in torch's
    kernels depends on it, so the same job trains the same weights on every machine only with the
    same count (see :data:`DEFAULT_ALGORITHM_THREADS`)."""
    input_dir = job_dir / "input"
    output_dir = job_dir / "output"
    env = {key: value for key, value in os.environ.items() if not key.startswith("SM_")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    env.update(environment or {})
    python_path = [str(CODE_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(python_path),
            "PYTHONUNBUFFERED": "1",
            "TRAINING_JOB_NAME": job_name,
            "TRAINING_JOB_ARN": job_arn,
            "SM_TRAINING_JOB_NAME": job_name,
            "SM_HPS": json.dumps(dict(hyperparameters)),
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_INPUT_DIR": str(input_dir),
            "SM_INPUT_CONFIG_DIR": str(input_dir / "config"),
            "SM_INPUT_DATA_CONFIG": (input_dir / "config" / "inputdataconfig.json").read_text(),
            "SM_MODEL_DIR": str(job_dir / "model"),
            "SM_OUTPUT_DIR": str(output_dir),
            "SM_OUTPUT_DATA_DIR": str(output_dir / "data"),
            "SM_OUTPUT_INTERMEDIATE_DIR": str(output_dir / "intermediate"),
            "SM_NUM_CPUS": str(cpus),
            "SM_NUM_GPUS": str(_num_gpus()),
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_RESOURCE_CONFIG": json.dumps(RESOURCE_CONFIG),
            "SM_NETWORK_INTERFACE_NAME": "eth0",
            "SM_LOG_LEVEL": "20",
        }
    )
    for name, value in hyperparameters.items():
        env[f"SM_HP_{name.upper()}"] = str(value)
    for name, folder in channels.items():
        env[f"SM_CHANNEL_{name.upper()}"] = str(folder)
    return env


def failure_reason(output_dir: Path, log_text: str, exit_code: int) -> str:
    """A failed algorithm's FailureReason: ``output/failure`` if it wrote one, else the exit code and
    the last log line (at most 1,024 characters, as SageMaker keeps)."""
    failure = output_dir / "failure"
    if failure.is_file():
        text = failure.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return text[:FAILURE_REASON_LIMIT]
    lines = [line for line in log_text.splitlines() if line.strip()]
    tail = lines[-1].strip() if lines else "no output"
    return f"AlgorithmError: the training process exited with code {exit_code}; last log line: {tail}"[
        :FAILURE_REASON_LIMIT
    ]


ProcessEnd = Literal["exited", "stopped", "deadline", "killed"]


class AlgorithmProcess:
    """``python -m <module>`` in its own process group (a stop kills it and anything it spawned), its
    stdout and stderr in ``log_path``; ``command`` (with ``cwd``) replaces ``python -m <module>`` for a
    framework container, which runs the job's own script."""

    def __init__(
        self,
        python: str,
        module: str,
        job_dir: Path,
        env: Mapping[str, str],
        log_path: Path,
        *,
        command: Sequence[str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                list(command) if command is not None else [python, "-m", module],
                cwd=cwd or job_dir,
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait(
        self,
        stop_event: threading.Event,
        deadline: float,
        *,
        kill_at: float | None = None,
        stop_grace_seconds: float = 5.0,
    ) -> tuple[ProcessEnd, int | None]:
        """Wait for the exit; a stop request or ``deadline`` (``time.monotonic()``) terminates it (SIGTERM,
        then SIGKILL after the grace period); ``kill_at`` SIGKILLs it (fault injection). Returns why it
        ended and, for ``exited``, the exit code. The process never outlives this call."""
        try:
            while True:
                exit_code = self.process.poll()
                if exit_code is not None:
                    return "exited", exit_code
                now = time.monotonic()
                if stop_event.is_set():
                    self.terminate(stop_grace_seconds)
                    return "stopped", None
                if now >= deadline:
                    self.terminate(stop_grace_seconds)
                    return "deadline", None
                if kill_at is not None and now >= kill_at:
                    self.kill(signal.SIGKILL)
                    return "killed", None
                wake = min(deadline, kill_at or math.inf) - now
                stop_event.wait(max(0.0, min(POLL_SECONDS, wake)))
        finally:
            if self.process.poll() is None:  # an unexpected error above: never leave the process behind
                self.kill(signal.SIGKILL)

    def kill(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process group and wait (up to 10 s) for the exit."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            LOG.warning("training process %s did not exit after %s", self.process.pid, sig.name)

    def terminate(self, grace_seconds: float) -> None:
        """SageMaker's stop: SIGTERM, a grace period for the algorithm to save, then SIGKILL."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=grace_seconds)
        except (ProcessLookupError, PermissionError):
            pass
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
