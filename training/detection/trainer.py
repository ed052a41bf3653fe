"""The PyTorch half of detection training: one epoch of training and validation mAP (the loop is
:func:`training.epochs.run_epochs`), augmentation, losses.

Imported lazily by :mod:`training.detection.train` once inputs are valid. Per epoch it logs the
built-in's metric lines (``#quality_metric: host=algo-1, epoch=3, validation mAP <score>=(0.81)``),
which ``gtpipe_shared.metric_definitions`` parses (tests/training checks it; training imports
nothing of ours).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from training.detection.evaluation import mean_average_precision
from training.detection.hyperparameters import DetectionHyperparameters
from training.detection.model import (
    CompactDetector,
    DetectorArchitecture,
    build_detector,
    decode,
    encode_targets,
    focal_loss,
    regression_loss,
)
from training.epochs import (
    EarlyStopping,
    FitResult,
    channel_stats,
    run_epochs,
    shuffled_batches,
    start_model,
    step_scheduler,
)

LOG = logging.getLogger("training.detection.train")

# Detections kept per image for validation and serving: the built-in answers up to this many too.
MAX_DETECTIONS = 100
# Peaks below this score are dropped before NMS: they cannot change mAP at any useful recall.
MIN_SCORE = 0.01
EVAL_BATCH = 64


@dataclass
class DetectionFitResult(FitResult):
    """What training produced (:class:`training.epochs.FitResult`), with the best epoch's AP per class and
    the parameters kept frozen."""

    per_class_ap: list[float | None] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)


def _make_optimizer(parameters: list[nn.Parameter], hps: DetectionHyperparameters) -> torch.optim.Optimizer:
    if hps.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=hps.learning_rate, weight_decay=hps.weight_decay)
    if hps.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            parameters, lr=hps.learning_rate, momentum=hps.momentum, weight_decay=hps.weight_decay
        )
    if hps.optimizer == "adadelta":
        return torch.optim.Adadelta(parameters, lr=hps.learning_rate, weight_decay=hps.weight_decay)
    return torch.optim.SGD(
        parameters, lr=hps.learning_rate, momentum=hps.momentum, weight_decay=hps.weight_decay
    )


def freeze_layers(model: nn.Module, pattern: str | None) -> list[str]:
    """Freeze the backbone parameters whose names match ``freeze_layer_pattern`` (``re.search``).

    Only the backbone (``stem``, ``stages``) can be frozen, as in the built-in, where the pattern
    names base-network layers. Returns the frozen parameter names.
    """
    if not pattern:
        return []
    regex = re.compile(pattern)
    frozen = []
    for name, parameter in model.named_parameters():
        if name.startswith(("stem.", "stages.")) and regex.search(name):
            parameter.requires_grad_(False)
            frozen.append(name)
    if not frozen:
        LOG.warning("freeze_layer_pattern=%r matches no backbone layer; nothing is frozen", pattern)
    else:
        LOG.info("Frozen by freeze_layer_pattern: %d parameter tensors (%s ...)", len(frozen), frozen[0])
    return frozen


class Augmenter:
    """Random flips and colour-channel shuffles, applied to a batch and its boxes alike.

    The classes of the built-in's use cases are told apart by shape: a mirrored object keeps its class,
    and shuffling colour channels teaches that colour does not decide it.
    """

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def __call__(
        self, images: torch.Tensor, boxes: list[np.ndarray]
    ) -> tuple[torch.Tensor, list[np.ndarray]]:
        n = len(images)
        draws = torch.rand(n, 3, generator=self.generator).tolist()
        permutations = [torch.randperm(3, generator=self.generator) for _ in range(n)]
        out_images, out_boxes = [], []
        for image, rows, (h_flip, v_flip, shuffle), order in zip(
            images, boxes, draws, permutations, strict=True
        ):
            rows = rows.copy()
            if h_flip < 0.5:
                image = image.flip(-1)
                rows[:, [1, 3]] = 1.0 - rows[:, [3, 1]]
            if v_flip < 0.5:
                image = image.flip(-2)
                rows[:, [2, 4]] = 1.0 - rows[:, [4, 2]]
            if shuffle < 0.5:
                image = image[order]
            out_images.append(image)
            out_boxes.append(rows)
        return torch.stack(out_images), out_boxes


def _log_epoch(host: str, epoch: int, values: dict[str, float], seconds: float) -> None:
    # The built-in's quality-metric lines; gtpipe_shared.metric_definitions parses them.
    LOG.info(
        "#quality_metric: host=%s, epoch=%d, train cross_entropy <loss>=(%f)",
        host,
        epoch,
        values["train:cross_entropy"],
    )
    LOG.info(
        "#quality_metric: host=%s, epoch=%d, train smooth_l1 <loss>=(%f)",
        host,
        epoch,
        values["train:smooth_l1"],
    )
    LOG.info(
        "#quality_metric: host=%s, epoch=%d, validation mAP <score>=(%f)",
        host,
        epoch,
        values["validation:mAP"],
    )
    LOG.info("Epoch[%d] Time cost=%.3f", epoch, seconds)


def _network_input(batch: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Float pixels (0..255, on the device) normalised with the training set's channel statistics, in the
    channels-last layout the network runs in."""
    return ((batch / 255.0 - mean) / std).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def predict_arrays(
    model: CompactDetector,
    arrays: np.ndarray,
    mean: torch.Tensor,
    std: torch.Tensor,
    device: torch.device,
    nms_threshold: float,
) -> list[np.ndarray]:
    """Detections (D, 6) per uint8 image of shape (3, S, S), with the serving post-processing."""
    model.eval()
    out: list[np.ndarray] = []
    for start in range(0, len(arrays), EVAL_BATCH):
        batch = torch.from_numpy(arrays[start : start + EVAL_BATCH]).to(device, dtype=torch.float32)
        heat, box = model(_network_input(batch, mean, std))
        for rows in decode(
            heat, box, nms_threshold=nms_threshold, min_score=MIN_SCORE, max_detections=MAX_DETECTIONS
        ):
            out.append(rows.numpy())
    return out


def fit(
    hps: DetectionHyperparameters,
    arch: DetectorArchitecture,
    train_arrays: np.ndarray,
    train_boxes: list[np.ndarray],
    val_arrays: np.ndarray,
    val_boxes: list[np.ndarray],
    *,
    initial_state: dict[str, torch.Tensor] | None = None,
    host: str = "algo-1",
) -> DetectionFitResult:
    """Train and return the weights of the epoch with the best validation mAP.

    Losses: the heatmap's focal loss (logged as ``train:cross_entropy``) plus the smooth-L1 of box
    offsets and log-sizes (``train:smooth_l1``). Early stopping follows the built-in's rules on
    ``validation:mAP``.
    """
    model, device, generator = start_model(hps.seed, lambda: build_detector(arch), initial_state)
    # Channels-last convolutions measured 15% faster on CPU for this network (and suit GPUs too).
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from torch's stubs
    frozen = freeze_layers(model, hps.freeze_layer_pattern)
    mean_list, std_list = channel_stats(train_arrays)
    mean = torch.tensor(mean_list, device=device).view(1, 3, 1, 1)
    std = torch.tensor(std_list, device=device).view(1, 3, 1, 1)
    augment = Augmenter(generator)
    optimizer = _make_optimizer([p for p in model.parameters() if p.requires_grad], hps)
    scheduler = step_scheduler(optimizer, hps.lr_scheduler_step, hps.lr_scheduler_factor)
    images = torch.from_numpy(train_arrays)
    per_class: dict[int, list[float | None]] = {}

    def train_epoch(epoch: int) -> dict[str, float]:
        model.train()
        focal_sum, smooth_sum, seen = 0.0, 0.0, 0
        for index in shuffled_batches(len(images), hps.mini_batch_size, generator):
            batch, boxes = augment(images[index], [train_boxes[i] for i in index.tolist()])
            targets = encode_targets(boxes, arch.num_classes, arch.grid)
            heat, box = model(_network_input(batch.to(device, dtype=torch.float32), mean, std))
            focal = focal_loss(heat, targets.heatmap.to(device))
            smooth = regression_loss(box, targets)
            loss = focal + smooth
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            focal_sum += float(focal.detach()) * len(index)
            smooth_sum += float(smooth.detach()) * len(index)
            seen += len(index)
        scheduler.step()
        detections = predict_arrays(model, val_arrays, mean, std, device, hps.nms_threshold)
        score = mean_average_precision(val_boxes, detections, arch.num_classes, hps.overlap_threshold)
        per_class[epoch] = score.per_class
        return {
            "train:cross_entropy": focal_sum / max(seen, 1),
            "train:smooth_l1": smooth_sum / max(seen, 1),
            "validation:mAP": score.value,
        }

    started = time.perf_counter()
    loop = run_epochs(
        model,
        epochs=hps.epochs,
        train_epoch=train_epoch,
        key_metric="validation:mAP",
        key_label="validation mAP",
        stopping=EarlyStopping.for_hyperparameters(hps),
        log_epoch=lambda epoch, values, seconds: _log_epoch(host, epoch, values, seconds),
        log=LOG,
    )
    return DetectionFitResult.of_loop(
        loop,
        mean_list,
        std_list,
        device,
        started,
        per_class_ap=per_class.get(loop.best_epoch, []),
        frozen=frozen,
    )
