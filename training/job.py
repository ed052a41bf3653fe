"""The script-mode training-job contract shared by every local algorithm (``python -m training.train``,
``python -m training.detection.train``).

Locations follow the SageMaker training toolkit: each comes from its environment variable when set,
else SageMaker's default path (see :class:`TrainingPaths`). Hyperparameters come from ``SM_HPS`` (JSON,
decoded values) or ``hyperparameters.json`` (strings), then ``--name value`` arguments override them.
:func:`run_job` runs an algorithm's ``run(paths, raw_hyperparameters)`` and turns its outcome into the
built-ins' convention: exit 0 on success; on failure the reason goes to ``$SM_OUTPUT_DIR/failure`` (at
most 1,024 characters, what SageMaker keeps as ``FailureReason``), starting ``ClientError:`` with exit
status 1 when the input is at fault and ``AlgorithmError:`` with exit status 2 otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from training.errors import HyperparameterError, TrainingClientError
from training.hyperparameters import load_hyperparameters_json

M = TypeVar("M")

# SageMaker keeps the first 1024 characters of the failure file as the job's FailureReason.
FAILURE_REASON_LIMIT = 1024

LOG = logging.getLogger("training.job")


@dataclass(frozen=True)
class TrainingPaths:
    """Where a training job reads and writes (see the module docstring)."""

    hyperparameters_file: Path
    train_channel: Path
    validation_channel: Path
    model_channel: Path
    model_dir: Path
    output_dir: Path
    output_data_dir: Path

    def read_channels(self, read: Callable[[Path, str], M]) -> tuple[M, M]:
        """``(train, validation)``: each data channel read by ``read(folder, channel name)``."""
        return read(self.train_channel, "train"), read(self.validation_channel, "validation")

    @property
    def failure_file(self) -> Path:
        """``$SM_OUTPUT_DIR/failure``: SageMaker reports its content as the job's FailureReason."""
        return self.output_dir / "failure"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TrainingPaths:
        """Resolve every location from the SageMaker training toolkit's variables or defaults."""
        input_dir = Path(environ.get("SM_INPUT_DIR", "/opt/ml/input"))
        config_dir = Path(environ.get("SM_INPUT_CONFIG_DIR", str(input_dir / "config")))
        output_dir = Path(environ.get("SM_OUTPUT_DIR", "/opt/ml/output"))

        def channel(name: str) -> Path:
            return Path(environ.get(f"SM_CHANNEL_{name.upper()}", str(input_dir / "data" / name)))

        return cls(
            hyperparameters_file=config_dir / "hyperparameters.json",
            train_channel=channel("train"),
            validation_channel=channel("validation"),
            model_channel=channel("model"),
            model_dir=Path(environ.get("SM_MODEL_DIR", "/opt/ml/model")),
            output_dir=output_dir,
            output_data_dir=Path(environ.get("SM_OUTPUT_DATA_DIR", str(output_dir / "data"))),
        )


def read_raw_hyperparameters(
    environ: Mapping[str, str], paths: TrainingPaths, argv: Sequence[str] = ()
) -> dict[str, object]:
    """Hyperparameters as given: ``SM_HPS`` if set, else the JSON file (absent = none), then argv."""
    if "SM_HPS" in environ:
        raw = load_hyperparameters_json(environ["SM_HPS"], "SM_HPS")
    elif paths.hyperparameters_file.is_file():
        raw = load_hyperparameters_json(
            paths.hyperparameters_file.read_text(encoding="utf-8"), str(paths.hyperparameters_file)
        )
    else:
        raw = {}
    raw.update(parse_argv(argv))
    return raw


def parse_argv(argv: Sequence[str]) -> dict[str, str]:
    """Script-mode ``--name value`` (or ``--name=value``) pairs as a dict; dashes become underscores."""
    values: dict[str, str] = {}
    items = list(argv)
    while items:
        flag = items.pop(0)
        if not flag.startswith("--") or len(flag) < 3:
            raise HyperparameterError(f"unexpected argument {flag!r}; expected '--name value' pairs")
        name, sep, value = flag[2:].partition("=")
        if not sep:
            if not items:
                raise HyperparameterError(f"argument {flag} has no value")
            value = items.pop(0)
        values[name.replace("-", "_")] = value
    return values


def log_hyperparameters(log: logging.Logger, hps: Any) -> None:
    """Log the parsed hyperparameters (either algorithm's: ``to_json_dict``, ``ignored``, ``kv_store``) and
    what a single-host local run ignores of them."""
    log.info("Hyperparameters: %s", json.dumps(hps.to_json_dict(), sort_keys=True))
    if hps.ignored:
        log.info("Ignoring SageMaker-reserved hyperparameters: %s", ", ".join(hps.ignored))
    if hps.kv_store:
        log.info("kv_store=%s has no effect on a single-host local run", hps.kv_store)


def log_loaded(log: logging.Logger, declared_training_samples: int, train_count: int, val_count: int) -> None:
    """Say how many records each channel gave; warn when ``num_training_samples`` disagrees (the records win,
    as the built-in algorithms only use the hyperparameter for sizing)."""
    if train_count != declared_training_samples:
        log.warning(
            "num_training_samples=%d but the train channel has %d usable records; using the records",
            declared_training_samples,
            train_count,
        )
    log.info("Loaded %d training and %d validation images", train_count, val_count)


def write_json(path: Path, data: object) -> None:
    """Write JSON readably (dict keys sorted, lists in order) with a final newline."""
    path.write_text(json.dumps(data, indent=2, sort_keys=isinstance(data, dict)) + "\n", encoding="utf-8")


def write_failure(paths: TrainingPaths, reason: str) -> None:
    """Write the failure file (never raises: the job fails either way)."""
    try:
        paths.output_dir.mkdir(parents=True, exist_ok=True)
        paths.failure_file.write_text(reason[:FAILURE_REASON_LIMIT], encoding="utf-8")
    except OSError as exc:  # do not hide the original reason
        LOG.error("could not write %s: %s", paths.failure_file, exc)


def _log_handler(stream: TextIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("[%(asctime)s %(levelname)s] %(message)s", "%m/%d/%Y %H:%M:%S"))
    return handler


RunFunction = Callable[[TrainingPaths, Mapping[str, object]], Any]


def run_job(
    run: RunFunction,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    log: logging.Logger | None = None,
) -> int:
    """Run a training job's ``run(paths, raw_hyperparameters)``; write ``failure`` and return non-zero
    on error (never raises).

    ``argv`` holds optional ``--name value`` hyperparameters (none by default: a caller's own command
    line is never read); ``environ`` defaults to ``os.environ``. The ``training`` loggers write to
    stdout, not to the host's root logger, so an in-process caller sees each line once.
    """
    env = os.environ if environ is None else environ
    report = log or LOG
    logger = logging.getLogger("training")
    handler = _log_handler(sys.stdout)
    logger.addHandler(handler)
    previous = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    paths = TrainingPaths.from_environ(env)
    try:
        run(paths, read_raw_hyperparameters(env, paths, argv or ()))
        return 0
    except TrainingClientError as exc:
        reason = f"ClientError: {exc}"
        report.error("%s", reason)
        write_failure(paths, reason)
        return 1
    except Exception as exc:  # any other failure is ours: report it, with the traceback in the log
        reason = f"AlgorithmError: {type(exc).__name__}: {exc}"
        report.error("%s\n%s", reason, traceback.format_exc())
        write_failure(paths, reason)
        return 2
    finally:
        handler.flush()
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]
