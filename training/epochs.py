"""The epoch loop every local algorithm shares: seeding, timing, metric logging, best-epoch selection,
checkpoints and the built-ins' early stopping.

Imported lazily (it imports torch) once an algorithm's inputs are valid. An algorithm starts its network
with :func:`start_model`, draws its mini-batches with :func:`shuffled_batches`, steps its learning rate
with :func:`step_scheduler`, and supplies one epoch of training and validation (:func:`run_epochs`'s
``train_epoch``) and its metric lines; the loop keeps the weights of the epoch with the best value of the
algorithm's key validation metric (the built-ins' default checkpointing: "save checkpoint at the epoch
that has the best validation" metric).
"""

from __future__ import annotations

import copy
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

ModelT = TypeVar("ModelT", bound=nn.Module)


@dataclass
class EpochMetrics:
    """One epoch's figures, keyed like the metric definitions (``train:accuracy`` ...)."""

    epoch: int
    values: dict[str, float]
    seconds: float


def configure_torch(seed: int) -> torch.device:
    """Seed every generator, prefer deterministic kernels, size the CPU thread pool, pick the device."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required for deterministic cuBLAS
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    if "OMP_NUM_THREADS" not in os.environ:
        # Use the cores this process may run on (containers and taskset limit them), not the host's.
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def start_model(
    seed: int, build: Callable[[], ModelT], initial_state: dict[str, torch.Tensor] | None
) -> tuple[ModelT, torch.device, torch.Generator]:
    """Seed everything (:func:`configure_torch`), build the network (its initial weights come from the
    seeded generators), load ``initial_state`` when given (incremental training) and move it to the device.

    Also returns the device and a generator seeded with ``seed`` for the data order and augmentation, so
    both algorithms draw them the same way and a seed repeats a run.
    """
    device = configure_torch(seed)
    generator = torch.Generator().manual_seed(seed)
    model = build()
    if initial_state is not None:
        model.load_state_dict(initial_state)
    model.to(device)
    return model, device, generator


def step_scheduler(
    optimizer: torch.optim.Optimizer, milestones: Sequence[int], factor: float
) -> torch.optim.lr_scheduler.MultiStepLR:
    """The built-ins' ``lr_scheduler_step`` / ``lr_scheduler_factor``: the learning rate is multiplied by
    ``factor`` at each epoch in ``milestones`` (stepped once per epoch)."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=factor)


def shuffled_batches(count: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """One epoch's mini-batches of ``count`` images as index tensors, in a fresh order drawn from
    ``generator``; a last batch of one image is skipped unless it is the only image (batch norm cannot
    train on a single image; it is reshuffled into a batch next epoch)."""
    order = torch.randperm(count, generator=generator)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        if len(index) < 2 and len(order) > 1:
            continue
        yield index


class EarlyStopping:
    """The built-ins' early stopping on a validation metric where higher is better.

    An epoch improves when the metric beats the reference by a relative margin of at least
    ``tolerance``; training stops once ``patience`` epochs in a row did not improve and at least
    ``min_epochs`` epochs have run. Disabled, it never stops.
    """

    def __init__(self, enabled: bool, patience: int, min_epochs: int, tolerance: float) -> None:
        self.enabled = enabled
        self.patience = patience
        self.min_epochs = min_epochs
        self.tolerance = tolerance
        self.reference: float | None = None
        self.epochs_without_improvement = 0

    @classmethod
    def for_hyperparameters(cls, hps: Any) -> EarlyStopping:
        """From either algorithm's ``early_stopping``, ``early_stopping_patience``,
        ``early_stopping_min_epochs`` and ``early_stopping_tolerance`` hyperparameters."""
        return cls(
            hps.early_stopping,
            hps.early_stopping_patience,
            hps.early_stopping_min_epochs,
            hps.early_stopping_tolerance,
        )

    def should_stop(self, epoch: int, value: float) -> bool:
        """Record epoch ``epoch``'s (0-based) metric; True when training should stop now."""
        if not self.enabled:
            return False
        improved = self.reference is None or (
            value > self.reference and (value - self.reference) / max(self.reference, 1e-12) >= self.tolerance
        )
        if improved:
            self.reference, self.epochs_without_improvement = value, 0
        else:
            self.epochs_without_improvement += 1
        return epoch + 1 >= self.min_epochs and self.epochs_without_improvement >= self.patience


def channel_stats(arrays: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 images, on the 0..1 scale."""
    data = arrays.astype(np.float32) / 255.0
    mean = data.mean(axis=(0, 2, 3))
    std = np.maximum(data.std(axis=(0, 2, 3)), 1e-3)  # a blank channel must not divide by zero
    return [float(m) for m in mean], [float(s) for s in std]


@dataclass
class EpochLoop:
    """What :func:`run_epochs` produced: the best epoch's weights (on the CPU) and the curves behind the
    choice, plus the periodic checkpoints (epoch number -> CPU weights)."""

    best_state: dict[str, torch.Tensor]
    best_epoch: int
    epochs: list[EpochMetrics]
    stopped_early: bool
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)


FitT = TypeVar("FitT", bound="FitResult")


@dataclass
class FitResult:
    """What an algorithm's ``fit`` produced: the selected weights (on the CPU), the curves behind the choice,
    the per-channel normalization it trained with, the device and the training seconds. Each algorithm's
    result adds its own entries (with defaults)."""

    state_dict: dict[str, torch.Tensor]
    best_epoch: int
    epochs: list[EpochMetrics]
    stopped_early: bool
    mean: list[float]
    std: list[float]
    device: str = "cpu"
    train_seconds: float = 0.0

    @classmethod
    def of_loop(
        cls: type[FitT],
        loop: EpochLoop,
        mean: list[float],
        std: list[float],
        device: torch.device,
        started: float,
        **entries: Any,
    ) -> FitT:
        """The result of :func:`run_epochs`'s ``loop`` for a network trained on ``device`` since ``started``
        (a :func:`time.perf_counter` value), with the algorithm's own ``entries``."""
        return cls(
            state_dict=loop.best_state,
            best_epoch=loop.best_epoch,
            epochs=loop.epochs,
            stopped_early=loop.stopped_early,
            mean=mean,
            std=std,
            device=device.type,
            train_seconds=time.perf_counter() - started,
            **entries,
        )


def run_epochs(
    model: nn.Module,
    *,
    epochs: int,
    train_epoch: Callable[[int], dict[str, float]],
    key_metric: str,
    key_label: str,
    stopping: EarlyStopping,
    log_epoch: Callable[[int, dict[str, float], float], None],
    log: logging.Logger,
    checkpoint_frequency: int | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> EpochLoop:
    """Run up to ``epochs`` epochs of ``train_epoch(epoch)`` (it trains ``model`` one epoch and returns the
    epoch's metric values, ``key_metric`` among them, higher is better; ``key_label`` names it in the log)
    and load the best epoch's weights
    back into ``model``.

    Per epoch: time it, ``log_epoch(epoch, values, seconds)`` (the algorithm's metric lines),
    ``on_epoch``, keep the weights when ``key_metric`` improved on the best so far, checkpoint every
    ``checkpoint_frequency`` epochs (None or 0: never), and stop early when ``stopping`` says so.
    """
    history: list[EpochMetrics] = []
    checkpoints: dict[int, dict[str, torch.Tensor]] = {}
    best_value, best_epoch = -1.0, 0
    best_state = copy.deepcopy(model.state_dict())
    stopped_early = False
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        values = train_epoch(epoch)
        seconds = time.perf_counter() - epoch_start
        metrics = EpochMetrics(epoch, values, seconds)
        history.append(metrics)
        log_epoch(epoch, values, seconds)
        if on_epoch is not None:
            on_epoch(metrics)
        value = values[key_metric]
        if value > best_value:
            best_value, best_epoch = value, epoch
            best_state = copy.deepcopy(model.state_dict())
        if checkpoint_frequency and (epoch + 1) % checkpoint_frequency == 0:
            checkpoints[epoch + 1] = copy.deepcopy(model.state_dict())
        if stopping.should_stop(epoch, value):
            log.info(
                "Early stopping at epoch %d: no %s improvement for %d epochs",
                epoch,
                key_label,
                stopping.epochs_without_improvement,
            )
            stopped_early = True
            break
    model.load_state_dict(best_state)
    return EpochLoop(
        best_state={k: v.detach().cpu() for k, v in best_state.items()},
        best_epoch=best_epoch,
        epochs=history,
        stopped_early=stopped_early,
        checkpoints={e: {k: v.cpu() for k, v in s.items()} for e, s in checkpoints.items()},
    )
