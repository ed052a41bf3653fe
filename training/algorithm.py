"""The protocol every local algorithm implements, and the one training-job skeleton that runs it.

:func:`train_job` is an algorithm's ``run(paths, raw_hyperparameters)`` (the function
:func:`training.job.run_job` turns into the script-mode exit status and failure file): parse and log the
hyperparameters, read the channels (:meth:`Algorithm.read_inputs`), train (:meth:`Algorithm.train`, which
runs :func:`training.epochs.run_epochs`), then write the model directory (:mod:`training.artifact`'s
layout) and ``$SM_OUTPUT_DATA_DIR/metrics.json``. Torch is imported only once the inputs are valid.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from training.artifact import write_code_dir
from training.contracts import (
    CHECKPOINTS_DIR,
    CLASSES_FILE,
    HYPERPARAMETERS_FILE,
    METRICS_FILE,
    MODEL_CONFIG_FILE,
    MODEL_FORMAT_VERSION,
    WEIGHTS_FILE,
)
from training.job import TrainingPaths, log_hyperparameters, log_loaded, write_json

if TYPE_CHECKING:
    import numpy as np
    import torch

    from training.epochs import FitResult
    from training.manifest import ManifestRecords


class ParsedHyperparameters(Protocol):
    """What the skeleton reads of any algorithm's parsed hyperparameters."""

    @property
    def ignored(self) -> tuple[str, ...]: ...

    @property
    def kv_store(self) -> str | None: ...

    def to_json_dict(self) -> dict[str, Any]: ...


H = TypeVar("H", bound=ParsedHyperparameters)
D = TypeVar("D")


@dataclass(frozen=True)
class TrainingInputs(Generic[D]):
    """What an algorithm read of its channels: the class names (by class index), the train channel's
    label attribute, the usable sample counts, the skipped records' messages and its own ``data``."""

    classes: list[str]
    label_attribute: str
    train_samples: int
    validation_samples: int
    skipped: list[str]
    data: D


class LoadedChannel(Protocol):
    """What :func:`channel_inputs` reads of a decoded channel: its images (one row per usable record,
    the labels aligned to them) and the skipped records' messages."""

    @property
    def arrays(self) -> np.ndarray: ...

    @property
    def skipped(self) -> list[str]: ...


C = TypeVar("C", bound=LoadedChannel)
Mf = TypeVar("Mf", bound="ManifestRecords[Any]")


def channel_inputs(
    classes: list[str],
    manifests: tuple[Mf, Mf],
    load: Callable[[Mf], C],
    data: Callable[[C, C], D],
    *,
    declared_training_samples: int,
    log: logging.Logger,
) -> TrainingInputs[D]:
    """The :class:`TrainingInputs` of the ``(train, validation)`` manifests: each decoded by ``load``, the
    algorithm's own ``data(train, validation)`` of them and the train manifest's label attribute, after
    logging their counts (:func:`training.job.log_loaded`: a warning when ``num_training_samples``
    disagrees)."""
    train_manifest, validation_manifest = manifests
    train, validation = load(train_manifest), load(validation_manifest)
    train_count, validation_count = len(train.arrays), len(validation.arrays)
    log_loaded(log, declared_training_samples, train_count, validation_count)
    return TrainingInputs(
        classes,
        train_manifest.label_attribute,
        train_count,
        validation_count,
        train.skipped + validation.skipped,
        data(train, validation),
    )


@dataclass
class TrainedModel:
    """What an algorithm's training produced (see :meth:`Algorithm.train`).

    ``fit``: the epoch loop's result (:class:`training.epochs.FitResult`: the weights, curves and choice,
    normalization, device and seconds); ``architecture`` and ``image``: the model config's entries;
    ``config``/``metrics``: the algorithm's own entries of the model config and of the metrics;
    ``checkpoints``: epoch number -> weights (``checkpoints/epoch-NNNN.pt``).
    """

    fit: FitResult
    architecture: dict[str, Any]
    image: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)


class Algorithm(Protocol[H, D]):
    """A local built-in algorithm: ``name`` (the model config's ``algorithm``), the module holding its
    serving handlers (the model artifact's ``code/inference.py`` re-exports it), its key validation
    metric (the best epoch's, e.g. ``validation:accuracy``) and how the log names it, and its logger."""

    name: str
    handlers_module: str
    key_metric: str
    key_label: str
    log: logging.Logger

    def parse_hyperparameters(self, raw: Mapping[str, object]) -> H:
        """The hyperparameters as given (strings or JSON values), parsed; HyperparameterError names a bad
        one."""
        ...

    def read_inputs(self, paths: TrainingPaths, hps: H) -> TrainingInputs[D]:
        """Read and check the ``train`` and ``validation`` channels (DataError for bad input); no torch."""
        ...

    def train(self, paths: TrainingPaths, hps: H, inputs: TrainingInputs[D]) -> TrainedModel:
        """Build the network (from the ``model`` channel for incremental training) and fit it."""
        ...


def train_job(
    algorithm: Algorithm[H, D], paths: TrainingPaths, raw_hyperparameters: Mapping[str, object]
) -> dict[str, Any]:
    """Validate inputs, train, and write the model directory and metrics. Returns the metrics."""
    job_started = time.perf_counter()
    hps = algorithm.parse_hyperparameters(raw_hyperparameters)
    log_hyperparameters(algorithm.log, hps)
    inputs = algorithm.read_inputs(paths, hps)
    model = algorithm.train(paths, hps, inputs)
    fit = model.fit
    best = fit.epochs[fit.best_epoch].values
    last = fit.epochs[-1]
    metrics: dict[str, Any] = {
        "final": dict(best),
        "best_epoch": fit.best_epoch,
        "last_epoch": last.epoch,
        "epochs_run": len(fit.epochs),
        "stopped_early": fit.stopped_early,
        "curves": {name: [e.values.get(name) for e in fit.epochs] for name in last.values},
        "epoch_seconds": [round(e.seconds, 4) for e in fit.epochs],
        "train_seconds": round(fit.train_seconds, 3),
        "total_seconds": round(time.perf_counter() - job_started, 3),
        "num_training_samples": inputs.train_samples,
        "num_validation_samples": inputs.validation_samples,
        "skipped_records": inputs.skipped,
        "class_names": inputs.classes,
        "label_attribute": inputs.label_attribute,
        "device": fit.device,
        **model.metrics,
    }
    algorithm.log.info(
        "Best epoch %d: %s %f (train %.1f s on %s)",
        fit.best_epoch,
        algorithm.key_label,
        best[algorithm.key_metric],
        fit.train_seconds,
        fit.device,
    )
    _write_model(algorithm, paths, hps, inputs, model, raw_hyperparameters)
    write_json(paths.model_dir / METRICS_FILE, metrics)
    write_code_dir(paths.model_dir, algorithm.handlers_module)
    paths.output_data_dir.mkdir(parents=True, exist_ok=True)
    write_json(paths.output_data_dir / METRICS_FILE, metrics)
    return metrics


def _write_model(
    algorithm: Algorithm[H, D],
    paths: TrainingPaths,
    hps: H,
    inputs: TrainingInputs[D],
    model: TrainedModel,
    raw_hyperparameters: Mapping[str, object],
) -> None:
    """The model directory's weights, checkpoints, class names, model config and hyperparameters."""
    import torch

    model_config = {
        "format_version": MODEL_FORMAT_VERSION,
        "algorithm": algorithm.name,
        "architecture": model.architecture,
        "image": model.image,
        "normalization": {"mean": model.fit.mean, "std": model.fit.std},
        "classes": inputs.classes,
        "label_attribute": inputs.label_attribute,
        "best_epoch": model.fit.best_epoch,
        "hyperparameters": hps.to_json_dict(),
        "framework": {"torch": torch.__version__},
        **model.config,
    }
    model_dir = paths.model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.fit.state_dict, model_dir / WEIGHTS_FILE)
    for epoch, state in model.checkpoints.items():
        (model_dir / CHECKPOINTS_DIR).mkdir(exist_ok=True)
        torch.save(state, model_dir / CHECKPOINTS_DIR / f"epoch-{epoch:04d}.pt")
    write_json(model_dir / CLASSES_FILE, inputs.classes)
    write_json(model_dir / MODEL_CONFIG_FILE, model_config)
    write_json(model_dir / HYPERPARAMETERS_FILE, {k: str(v) for k, v in raw_hyperparameters.items()})
