"""The PyTorch half of image-classification training: one epoch of training and validation (the loop is
:func:`training.epochs.run_epochs`), augmentation, metrics, incremental training.

Imported lazily by :mod:`training.classification.train` once inputs are validated, so a bad input fails
in a fraction of a second instead of waiting for torch to import.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.classification.data import Label
from training.classification.hyperparameters import Hyperparameters
from training.classification.model import Architecture, build_model
from training.epochs import (
    EarlyStopping,
    EpochMetrics,
    FitResult,
    channel_stats,
    run_epochs,
    shuffled_batches,
    start_model,
    step_scheduler,
)

LOG = logging.getLogger("training.train")


@dataclass
class ClassificationFitResult(FitResult):
    """What training produced (:class:`training.epochs.FitResult`), with the periodic checkpoints and the
    validation confusion matrix (None for multi-label)."""

    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    confusion_matrix: list[list[int]] | None = None


class BatchMaker:
    """Turns uint8 images into normalised float batches, with the built-in's augmentation types."""

    def __init__(
        self,
        hps: Hyperparameters,
        mean: list[float],
        std: list[float],
        device: torch.device,
        generator: torch.Generator,
    ) -> None:
        _, self.height, self.width = hps.image_shape
        self.augmentation = hps.augmentation_type
        self.device = device
        self.generator = generator
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator)

    def eval_batch(self, images: torch.Tensor) -> torch.Tensor:
        """Centre crop and normalise (what serving does)."""
        h, w = images.shape[-2:]
        top, left = (h - self.height) // 2, (w - self.width) // 2
        crop = images[..., top : top + self.height, left : left + self.width]
        return (crop.to(self.device, dtype=torch.float32) / 255.0 - self.mean) / self.std

    def train_batch(self, images: torch.Tensor) -> torch.Tensor:
        """Augment (when ``augmentation_type`` is set) and normalise a training batch."""
        if self.augmentation is None:
            return self.eval_batch(images)
        crops = self._random_crops(images).to(self.device, dtype=torch.float32) / 255.0
        if self.augmentation in ("crop_color", "crop_color_transform"):
            crops = self._color(crops)
        if self.augmentation == "crop_color_transform":
            crops = self._affine(crops)
        return (crops - self.mean) / self.std

    def _random_crops(self, images: torch.Tensor) -> torch.Tensor:
        # "crop": a random HxW crop and a random horizontal flip. Without resize the stored image is
        # already HxW, so pad by an eighth first (the usual CIFAR recipe) to have room to move.
        h, w = images.shape[-2:]
        if (h, w) == (self.height, self.width):
            pad_h, pad_w = max(1, self.height // 8), max(1, self.width // 8)
            images = F.pad(images, (pad_w, pad_w, pad_h, pad_h))
            h, w = images.shape[-2:]
        tops = (self._rand(len(images)) * (h - self.height + 1)).long().tolist()
        lefts = (self._rand(len(images)) * (w - self.width + 1)).long().tolist()
        flips = (self._rand(len(images)) < 0.5).tolist()
        out = []
        for image, top, left, flip in zip(images, tops, lefts, flips, strict=True):
            crop = image[:, top : top + self.height, left : left + self.width]
            out.append(crop.flip(-1) if flip else crop)
        return torch.stack(out)

    def _color(self, batch: torch.Tensor) -> torch.Tensor:
        # HSL jitter as documented for the built-in: hue +-36 degrees, saturation and lightness +-50
        # (of 255). Hue and saturation act on the chroma plane of YIQ, which needs no colour-space trip.
        n = len(batch)
        lightness = ((self._rand(n) * 2 - 1) * 50 / 255).view(n, 1, 1, 1).to(batch.device)
        if batch.shape[1] == 3:
            hue = (self._rand(n) * 2 - 1) * math.radians(36)
            saturation = 1 + (self._rand(n) * 2 - 1) * 50 / 255
            to_yiq = torch.tensor(
                [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=batch.device
            )
            from_yiq = torch.linalg.inv(to_yiq)
            cos, sin = torch.cos(hue) * saturation, torch.sin(hue) * saturation
            rotate = torch.zeros(n, 3, 3)
            rotate[:, 0, 0] = 1
            rotate[:, 1, 1], rotate[:, 1, 2], rotate[:, 2, 1], rotate[:, 2, 2] = cos, -sin, sin, cos
            matrix = from_yiq @ rotate.to(batch.device) @ to_yiq
            batch = torch.einsum("nij,njhw->nihw", matrix, batch)
        return (batch + lightness).clamp(0, 1)

    def _affine(self, batch: torch.Tensor) -> torch.Tensor:
        # Rotation up to 10 degrees, shear up to 0.1, aspect ratio change up to 0.25 (built-in limits).
        n = len(batch)
        angle = (self._rand(n) * 2 - 1) * math.radians(10)
        shear = (self._rand(n) * 2 - 1) * 0.1
        aspect = 1 + (self._rand(n) * 2 - 1) * 0.25
        sx, sy = torch.sqrt(aspect), 1 / torch.sqrt(aspect)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = torch.cos(angle) / sx
        theta[:, 0, 1] = -torch.sin(angle) / sx + shear
        theta[:, 1, 0] = torch.sin(angle) / sy
        theta[:, 1, 1] = torch.cos(angle) / sy
        grid = F.affine_grid(theta.to(batch.device), list(batch.shape), align_corners=False)
        return F.grid_sample(batch, grid, padding_mode="zeros", align_corners=False)


def _make_optimizer(model: nn.Module, hps: Hyperparameters) -> torch.optim.Optimizer:
    params = model.parameters()
    if hps.optimizer == "adam":
        return torch.optim.Adam(
            params,
            lr=hps.learning_rate,
            betas=(hps.beta_1, hps.beta_2),
            eps=hps.eps,
            weight_decay=hps.weight_decay,
        )
    if hps.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=hps.learning_rate, alpha=hps.gamma, eps=hps.eps, weight_decay=hps.weight_decay
        )
    return torch.optim.SGD(
        params,
        lr=hps.learning_rate,
        momentum=hps.momentum,
        weight_decay=hps.weight_decay,
        nesterov=hps.optimizer == "nag" and hps.momentum > 0,
    )


def _targets(labels: list[Label], num_classes: int, multi_label: bool) -> torch.Tensor:
    if not multi_label:
        return torch.tensor(
            [label if isinstance(label, int) else label[0] for label in labels], dtype=torch.long
        )
    target = torch.zeros(len(labels), num_classes)
    for row, label in enumerate(labels):
        indices = (label,) if isinstance(label, int) else label
        target[row, list(indices)] = 1.0
    return target


def _class_weights(targets: torch.Tensor, num_classes: int, multi_label: bool) -> torch.Tensor:
    # Inverse frequency, normalised to mean 1, so rare classes count as much as common ones.
    counts = targets.sum(0) if multi_label else torch.bincount(targets, minlength=num_classes).float()
    weights = len(targets) / (num_classes * counts.clamp(min=1))
    return weights / weights.mean()


class _Scorer:
    """Accumulates loss, accuracy and top-k accuracy over batches."""

    def __init__(self, multi_label: bool, top_k: int | None) -> None:
        self.multi_label, self.top_k = multi_label, top_k
        self.loss = 0.0
        self.correct = 0.0
        self.top_k_correct = 0.0
        self.count = 0
        self.decisions = 0

    def add(self, logits: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        n = len(target)
        self.loss += float(loss) * n
        self.count += n
        if self.multi_label:
            # Per-class decisions at 0.5, as a multi-label accuracy over every (image, class) pair.
            predicted = (logits > 0).float()
            self.correct += float((predicted == target).sum())
            self.decisions += target.numel()
            return
        self.correct += float((logits.argmax(1) == target).sum())
        self.decisions += n
        if self.top_k:
            top = logits.topk(self.top_k, dim=1).indices
            self.top_k_correct += float((top == target.unsqueeze(1)).any(1).sum())

    def values(self, prefix: str) -> dict[str, float]:
        out = {
            f"{prefix}:accuracy": self.correct / max(1, self.decisions),
            f"{prefix}:loss": self.loss / self.count,
        }
        if self.top_k and not self.multi_label:
            out[f"{prefix}:top_k_accuracy"] = self.top_k_correct / self.count
        return out


def _log_epoch(epoch: int, values: dict[str, float], top_k: int | None, seconds: float) -> None:
    # The built-in's log format; gtpipe_shared.metric_definitions parses these lines.
    for prefix, title in (("train", "Train"), ("validation", "Validation")):
        if f"{prefix}:accuracy" not in values:
            continue
        LOG.info("Epoch[%d] %s-accuracy=%f", epoch, title, values[f"{prefix}:accuracy"])
        if f"{prefix}:top_k_accuracy" in values:
            LOG.info(
                "Epoch[%d] %s-top_k_accuracy_%d=%f", epoch, title, top_k, values[f"{prefix}:top_k_accuracy"]
            )
        LOG.info("Epoch[%d] %s-loss=%f", epoch, title, values[f"{prefix}:loss"])
        if prefix == "train":
            LOG.info("Epoch[%d] Time cost=%.3f", epoch, seconds)


def _centre_crop_stats(train_arrays: np.ndarray, hps: Hyperparameters) -> tuple[list[float], list[float]]:
    """Channel mean and std of the training images' centre crops: the pixels the network is evaluated on."""
    _, height, width = hps.image_shape
    stored_h, stored_w = train_arrays.shape[-2:]
    top, left = (stored_h - height) // 2, (stored_w - width) // 2
    return channel_stats(train_arrays[..., top : top + height, left : left + width])


def _criterion(
    hps: Hyperparameters, train_target: torch.Tensor, num_classes: int, device: torch.device
) -> nn.Module:
    """Cross-entropy (multi-label: per-class binary), weighted by inverse class frequency with
    ``use_weighted_loss``."""
    weights = _class_weights(train_target, num_classes, hps.multi_label) if hps.use_weighted_loss else None
    if hps.multi_label:
        return nn.BCEWithLogitsLoss(pos_weight=None if weights is None else weights.to(device))
    return nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device))


def _use_amp(hps: Hyperparameters, device: torch.device) -> bool:
    """True when ``precision_dtype=float16`` can use mixed precision (a GPU); warns when it cannot."""
    use_amp = hps.precision_dtype == "float16" and device.type == "cuda"
    if hps.precision_dtype == "float16" and not use_amp:
        LOG.warning("precision_dtype=float16 needs a GPU; training on CPU in float32")
    return use_amp


def fit(
    hps: Hyperparameters,
    arch: Architecture,
    train_arrays: np.ndarray,
    train_labels: list[Label],
    val_arrays: np.ndarray,
    val_labels: list[Label],
    *,
    initial_state: dict[str, torch.Tensor] | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> ClassificationFitResult:
    """Train the network and return the weights of the epoch with the best validation accuracy.

    That selection is the built-in's default checkpointing ("save checkpoint at the epoch that has the
    best validation accuracy"). Early stopping follows the built-in's patience / min-epochs / relative
    tolerance rules.
    """
    model, device, generator = start_model(hps.seed, lambda: build_model(arch), initial_state)
    mean, std = _centre_crop_stats(train_arrays, hps)
    batches = BatchMaker(hps, mean, std, device, generator)
    train_images = torch.from_numpy(train_arrays)
    val_images = torch.from_numpy(val_arrays)
    train_target = _targets(train_labels, arch.num_classes, hps.multi_label)
    val_target = _targets(val_labels, arch.num_classes, hps.multi_label)
    criterion = _criterion(hps, train_target, arch.num_classes, device)
    optimizer = _make_optimizer(model, hps)
    scheduler = step_scheduler(optimizer, hps.lr_scheduler_step, hps.lr_scheduler_factor)
    use_amp = _use_amp(hps, device)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    batch_size = hps.mini_batch_size

    def train_epoch(_epoch: int) -> dict[str, float]:
        model.train()
        scorer = _Scorer(hps.multi_label, hps.top_k)
        for index in shuffled_batches(len(train_images), batch_size, generator):
            inputs = batches.train_batch(train_images[index])
            target = train_target[index].to(device)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                logits = model(inputs)
                loss = criterion(logits, target)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scorer.add(logits.detach().float(), target, loss.detach())
        scheduler.step()
        values = scorer.values("train")
        values.update(_evaluate(model, batches, val_images, val_target, criterion, hps).values("validation"))
        return values

    started = time.perf_counter()
    loop = run_epochs(
        model,
        epochs=hps.epochs,
        train_epoch=train_epoch,
        key_metric="validation:accuracy",
        key_label="validation-accuracy",
        stopping=EarlyStopping.for_hyperparameters(hps),
        log_epoch=lambda epoch, values, seconds: _log_epoch(epoch, values, hps.top_k, seconds),
        log=LOG,
        checkpoint_frequency=hps.checkpoint_frequency,
        on_epoch=on_epoch,
    )
    confusion = None
    if not hps.multi_label:
        confusion = _confusion_matrix(model, batches, val_images, val_target, arch.num_classes, batch_size)
    return ClassificationFitResult.of_loop(
        loop, mean, std, device, started, checkpoints=loop.checkpoints, confusion_matrix=confusion
    )


@torch.inference_mode()
def _evaluate(
    model: nn.Module,
    batches: BatchMaker,
    images: torch.Tensor,
    target: torch.Tensor,
    criterion: nn.Module,
    hps: Hyperparameters,
) -> _Scorer:
    model.eval()
    scorer = _Scorer(hps.multi_label, hps.top_k)
    size = max(256, hps.mini_batch_size)
    for start in range(0, len(images), size):
        logits = model(batches.eval_batch(images[start : start + size])).float()
        batch_target = target[start : start + size].to(logits.device)
        scorer.add(logits, batch_target, criterion(logits, batch_target))
    return scorer


@torch.inference_mode()
def _confusion_matrix(
    model: nn.Module,
    batches: BatchMaker,
    images: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    batch_size: int,
) -> list[list[int]]:
    model.eval()
    predicted = torch.cat(
        [
            model(batches.eval_batch(images[s : s + max(256, batch_size)])).argmax(1).cpu()
            for s in range(0, len(images), max(256, batch_size))
        ]
    )
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)
    matrix.index_put_((target, predicted), torch.ones_like(target), accumulate=True)
    return [[int(v) for v in row] for row in matrix.tolist()]


def load_initial_state(
    arch: Architecture, saved_arch: Architecture, state: dict[str, Any]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Adapt a saved state_dict to ``arch`` for incremental training.

    The backbone must match exactly; the classifier is kept only when the class count matches (else it
    is freshly initialised, as fine-tuning to a new label set needs). Returns the state and notes.
    """

    def backbone(a: Architecture) -> tuple[object, ...]:
        return a.blocks, a.widths, a.in_channels, a.stem_stride, a.stem_pool

    if backbone(saved_arch) != backbone(arch):
        raise ValueError(
            f"the model channel holds a num_layers={saved_arch.num_layers}, "
            f"{saved_arch.in_channels}-channel network that does not match num_layers={arch.num_layers}, "
            f"image_shape channels={arch.in_channels}"
        )
    fresh = build_model(arch).state_dict()
    notes = []
    merged: dict[str, torch.Tensor] = {}
    for key, value in fresh.items():
        saved = state.get(key)
        if isinstance(saved, torch.Tensor) and saved.shape == value.shape:
            merged[key] = saved
        else:
            merged[key] = value
            notes.append(key)
    return merged, notes
