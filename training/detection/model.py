"""A compact single-stage, anchor-free detector in plain torch (no torchvision), CenterNet-style.

The built-in algorithm is an SSD on a VGG-16 or ResNet-50 backbone pretrained on ImageNet. Offline
and on a laptop CPU that is out of reach, so the local model keeps the single-stage idea with a small
network trained from scratch:

* backbone: a stride-2 stem and four residual stages (strides 4, 8, 16, 32), the ResNet basic block of
  :mod:`training.model`; ``base_network`` picks the depth (``vgg-16``: one block per stage,
  ``resnet-50``: two);
* neck: a feature pyramid's top-down path merged back to stride 4;
* heads on the stride-4 grid: one heatmap per class whose peaks are object centres, and four box
  values per cell: the centre's offset inside the cell (x, y) and the log of the box size in cells.
  (``output_stride=8`` is available: about 1.8 times faster, but it reached a lower mAP in the same
  number of epochs on the demo scenes, so training uses 4.)

Decoding takes the heatmap's local maxima (3x3 max-pool), keeps the best ``top_k``, builds boxes,
and removes duplicates with per-class non-maximum suppression at ``nms_threshold``. Boxes are relative
to the input (0..1); the input is the whole image stretched to a square, so they are relative to the
submitted image too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.blocks import BasicBlock

# base_network -> residual blocks per stage (strides 4, 8, 16, 32).
BLOCKS_BY_BASE_NETWORK: dict[str, tuple[int, int, int, int]] = {
    "vgg-16": (1, 1, 1, 1),
    "resnet-50": (2, 2, 2, 2),
}
STAGE_WIDTHS = (24, 48, 96, 128)
STEM_WIDTH = 16
NECK_WIDTH = 48
HEAD_WIDTH = 32
# The heatmap's starting bias: sigmoid(-2.19) = 0.1, the focal-loss paper's prior, so the first
# steps are not swamped by the loss of the (many) background cells.
HEATMAP_PRIOR_BIAS = -2.19
# Gaussian spread of a centre on the heatmap, as a share of the box size (TTFNet's alpha / 6).
GAUSSIAN_SHARE = 0.54 / 6


def grid_side(image_size: int, stride: int = 4) -> int:
    """The side of the output grid for a square input (stride-2 convolutions with padding 1 round up)."""
    side = image_size
    for _ in range(int(math.log2(stride))):
        side = math.ceil(side / 2)
    return side


@dataclass(frozen=True)
class DetectorArchitecture:
    """Everything needed to rebuild the network; stored in ``model-config.json``."""

    base_network: str
    num_classes: int
    image_size: int
    blocks: tuple[int, int, int, int]
    widths: tuple[int, int, int, int]
    stem_width: int = STEM_WIDTH
    neck_width: int = NECK_WIDTH
    head_width: int = HEAD_WIDTH
    output_stride: int = 4

    @classmethod
    def create(
        cls, base_network: str, num_classes: int, image_size: int, output_stride: int = 4
    ) -> DetectorArchitecture:
        """The architecture for a ``base_network`` name, class count and square input side."""
        return cls(
            base_network,
            num_classes,
            image_size,
            BLOCKS_BY_BASE_NETWORK[base_network],
            STAGE_WIDTHS,
            output_stride=output_stride,
        )

    @property
    def grid(self) -> int:
        """The side of the output grid."""
        return grid_side(self.image_size, self.output_stride)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form (lists instead of tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> DetectorArchitecture:
        """Inverse of :meth:`to_json_dict`."""
        blocks = tuple(int(v) for v in data["blocks"])
        widths = tuple(int(v) for v in data["widths"])
        if len(blocks) != 4 or len(widths) != 4:
            raise ValueError("a detector architecture has 4 stages")
        return cls(
            base_network=str(data["base_network"]),
            num_classes=int(data["num_classes"]),
            image_size=int(data["image_size"]),
            blocks=(blocks[0], blocks[1], blocks[2], blocks[3]),
            widths=(widths[0], widths[1], widths[2], widths[3]),
            stem_width=int(data["stem_width"]),
            neck_width=int(data["neck_width"]),
            head_width=int(data["head_width"]),
            output_stride=int(data.get("output_stride", 4)),
        )


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _head(in_channels: int, width: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(width, outputs, 1)
    )


class CompactDetector(nn.Module):
    """Backbone, top-down neck and the two heads (see the module docstring)."""

    def __init__(self, arch: DetectorArchitecture) -> None:
        super().__init__()
        self.arch = arch
        self.stem = _conv_bn_relu(3, arch.stem_width, stride=2)
        stages = []
        channels = arch.stem_width
        for count, width in zip(arch.blocks, arch.widths, strict=True):
            blocks = []
            for index in range(count):
                blocks.append(BasicBlock(channels, width, 2 if index == 0 else 1))
                channels = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        # Top-down merges stop at the output stride (4: level 0, 8: level 1).
        self.first_level = int(math.log2(arch.output_stride)) - 2
        self.lateral = nn.ModuleList(
            nn.Conv2d(w, arch.neck_width, 1) for w in arch.widths[self.first_level :]
        )
        self.smooth = nn.ModuleList(
            _conv_bn_relu(arch.neck_width, arch.neck_width) for _ in arch.widths[self.first_level : -1]
        )
        self.heatmap = _head(arch.neck_width, arch.head_width, arch.num_classes)
        self.box = _head(arch.neck_width, arch.head_width, 4)
        last = self.heatmap[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.constant_(last.bias, HEATMAP_PRIOR_BIAS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(heatmap logits (N, C, G, G), box values (N, 4, G, G))``."""
        features = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        merged = self.lateral[-1](features[-1])
        for level in range(len(features) - 2, self.first_level - 1, -1):
            lateral = self.lateral[level - self.first_level](features[level])
            merged = lateral + F.interpolate(merged, size=lateral.shape[-2:], mode="nearest")
            merged = self.smooth[level - self.first_level](merged)
        return self.heatmap(merged), self.box(merged)


def build_detector(arch: DetectorArchitecture) -> CompactDetector:
    """Instantiate the network for an architecture."""
    return CompactDetector(arch)


# --- training targets and losses ------------------------------------------------------------------


@dataclass
class Targets:
    """A batch's training targets on the output grid."""

    heatmap: torch.Tensor  # (N, C, G, G): 1 at each centre cell, Gaussian falloff around it
    cells: torch.Tensor  # (M,) flat index into N*G*G of each object's centre cell
    regression: torch.Tensor  # (M, 4): centre offset x, y in the cell; log width, log height in cells


def encode_targets(boxes: list[np.ndarray], num_classes: int, grid: int) -> Targets:
    """Targets for a batch; ``boxes[i]`` holds image i's rows ``class_id, xmin, ymin, xmax, ymax``."""
    heatmap = np.zeros((len(boxes), num_classes, grid, grid), dtype=np.float32)
    cells: list[int] = []
    regression: list[tuple[float, float, float, float]] = []
    coords = np.arange(grid, dtype=np.float32)
    for image, rows in enumerate(boxes):
        for class_id, x0, y0, x1, y1 in rows.tolist():
            cx, cy = (x0 + x1) / 2 * grid, (y0 + y1) / 2 * grid
            w, h = max((x1 - x0) * grid, 1e-3), max((y1 - y0) * grid, 1e-3)
            ix, iy = min(int(cx), grid - 1), min(int(cy), grid - 1)
            sigma_x, sigma_y = max(w * GAUSSIAN_SHARE, 0.5), max(h * GAUSSIAN_SHARE, 0.5)
            gx = np.exp(-((coords - ix) ** 2) / (2 * sigma_x**2))
            gy = np.exp(-((coords - iy) ** 2) / (2 * sigma_y**2))
            plane = heatmap[image, int(class_id)]
            np.maximum(plane, gy[:, None] * gx[None, :], out=plane)
            cells.append((image * grid + iy) * grid + ix)
            regression.append((cx - ix, cy - iy, math.log(w), math.log(h)))
    return Targets(
        heatmap=torch.from_numpy(heatmap),
        cells=torch.tensor(cells, dtype=torch.long),
        regression=torch.tensor(regression, dtype=torch.float32).reshape(-1, 4),
    )


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (a cross-entropy), per object.

    Centre cells (target 1) count fully; cells near a centre are penalised less the closer they are
    (``(1 - target)^4``); hard cells weigh more than easy ones (``(1 - p)^2`` and ``p^2``).
    """
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)
    p = log_p.exp()
    positive = target.eq(1).float()
    positive_loss = -((1 - p) ** 2) * log_p * positive
    negative_loss = -((1 - target) ** 4) * (p**2) * log_not_p * (1 - positive)
    objects = positive.sum().clamp(min=1.0)
    return (positive_loss.sum() + negative_loss.sum()) / objects


def regression_loss(box: torch.Tensor, targets: Targets) -> torch.Tensor:
    """Smooth-L1 of the box values at each object's centre cell, averaged over objects (0 if none)."""
    if targets.cells.numel() == 0:
        return box.sum() * 0.0
    flat = box.permute(0, 2, 3, 1).reshape(-1, 4)
    predicted = flat[targets.cells.to(box.device)]
    return F.smooth_l1_loss(
        predicted, targets.regression.to(box.device), reduction="sum", beta=1.0 / 9
    ) / len(targets.cells)


# --- decoding -------------------------------------------------------------------------------------


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of (N, 4) and (M, 4) boxes ``xmin, ymin, xmax, ymax``; (N, M)."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of the kept boxes, best score first.

    A box is dropped when it overlaps an already kept, better-scoring box by IoU > ``iou_threshold``.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    order = torch.argsort(scores, descending=True, stable=True)
    overlaps = box_iou(boxes[order], boxes[order]) > iou_threshold
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for index in range(len(order)):
        if suppressed[index]:
            continue
        keep.append(index)
        suppressed |= overlaps[index]
    return order[torch.tensor(keep, dtype=torch.long)]


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """:func:`nms` within each class: boxes of different classes never suppress each other."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    # Shift each class to its own region of the plane, so one NMS pass handles every class.
    span = float(boxes.max() - boxes.min()) + 1.0
    shifted = boxes + (classes.to(boxes.dtype) * span)[:, None]
    return nms(shifted, scores, iou_threshold)


def decode(
    heatmap_logits: torch.Tensor,
    box: torch.Tensor,
    *,
    nms_threshold: float,
    top_k: int = 100,
    min_score: float = 0.01,
    max_detections: int = 100,
) -> list[torch.Tensor]:
    """Detections per image: (D, 6) rows ``class_id, score, xmin, ymin, xmax, ymax`` (relative, 0..1),
    best score first, at most ``max_detections``, none under ``min_score``."""
    batch, classes, grid_h, grid_w = heatmap_logits.shape
    heat = torch.sigmoid(heatmap_logits.float())
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    k = min(top_k, classes * grid_h * grid_w)
    scores, indices = peaks.reshape(batch, -1).topk(k, dim=1)
    class_ids = indices // (grid_h * grid_w)
    cells = indices % (grid_h * grid_w)
    ys, xs = (cells // grid_w).float(), (cells % grid_w).float()
    values = box.float().permute(0, 2, 3, 1).reshape(batch, -1, 4)
    results = []
    for image in range(batch):
        picked = values[image, cells[image]]
        cx = (xs[image] + picked[:, 0]) / grid_w
        cy = (ys[image] + picked[:, 1]) / grid_h
        half_w = picked[:, 2].clamp(max=8.0).exp() / grid_w / 2
        half_h = picked[:, 3].clamp(max=8.0).exp() / grid_h / 2
        boxes = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=1).clamp(0.0, 1.0)
        keep = scores[image] >= min_score
        boxes, image_scores, image_classes = boxes[keep], scores[image][keep], class_ids[image][keep]
        kept = batched_nms(boxes.cpu(), image_scores.cpu(), image_classes.cpu(), nms_threshold)
        kept = kept[:max_detections]
        rows = torch.cat(
            [
                image_classes.cpu()[kept, None].float(),
                image_scores.cpu()[kept, None],
                boxes.cpu()[kept],
            ],
            dim=1,
        )
        results.append(rows)
    return results
