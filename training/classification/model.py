"""A compact ResNet whose depth follows the built-in algorithm's ``num_layers``.

The built-in trains full ImageNet/CIFAR ResNets on GPUs. Locally we keep its depth knob but map each
allowed value to a few residual blocks per stage, so training on a laptop CPU takes seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from training.blocks import BasicBlock

# num_layers -> residual blocks in each of the three stages (two 3x3 convolutions per block).
BLOCKS_BY_NUM_LAYERS: dict[int, tuple[int, int, int]] = {
    18: (1, 1, 1),
    20: (1, 1, 1),
    32: (2, 2, 2),
    34: (2, 2, 2),
    44: (3, 3, 3),
    50: (3, 3, 3),
    56: (3, 3, 3),
    101: (4, 4, 4),
    110: (4, 4, 4),
    152: (5, 5, 5),
    200: (6, 6, 6),
}
STAGE_WIDTHS = (16, 32, 64)


@dataclass(frozen=True)
class Architecture:
    """Everything needed to rebuild the network; stored in ``model-config.json``."""

    num_layers: int
    blocks: tuple[int, int, int]
    widths: tuple[int, int, int]
    in_channels: int
    num_classes: int
    stem_stride: int
    stem_pool: bool

    @classmethod
    def for_input(cls, num_layers: int, image_shape: tuple[int, int, int], num_classes: int) -> Architecture:
        """Pick the architecture for an input shape: the stem downsamples large images early, so the
        residual stages work on at most ~56 px (ImageNet-style) and at least 8 px feature maps."""
        channels, height, width = image_shape
        side = min(height, width)
        return cls(
            num_layers=num_layers,
            blocks=BLOCKS_BY_NUM_LAYERS[num_layers],
            widths=STAGE_WIDTHS,
            in_channels=channels,
            num_classes=num_classes,
            stem_stride=2 if side >= 32 else 1,
            stem_pool=side >= 96,
        )

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form (lists instead of tuples)."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Architecture:
        """Inverse of :meth:`to_json_dict`."""
        return cls(
            num_layers=int(data["num_layers"]),
            blocks=(int(data["blocks"][0]), int(data["blocks"][1]), int(data["blocks"][2])),
            widths=(int(data["widths"][0]), int(data["widths"][1]), int(data["widths"][2])),
            in_channels=int(data["in_channels"]),
            num_classes=int(data["num_classes"]),
            stem_stride=int(data["stem_stride"]),
            stem_pool=bool(data["stem_pool"]),
        )


class CompactResNet(nn.Module):
    """Stem, three residual stages (widths 16/32/64, stride 2 between stages), global pool, linear."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        stem: list[nn.Module] = [
            nn.Conv2d(arch.in_channels, arch.widths[0], 3, arch.stem_stride, 1, bias=False),
            nn.BatchNorm2d(arch.widths[0]),
            nn.ReLU(inplace=True),
        ]
        if arch.stem_pool:
            stem.append(nn.MaxPool2d(3, 2, 1))
        self.stem = nn.Sequential(*stem)
        stages: list[nn.Module] = []
        channels = arch.widths[0]
        for index, (count, width) in enumerate(zip(arch.blocks, arch.widths, strict=True)):
            for block in range(count):
                stride = 2 if index > 0 and block == 0 else 1
                stages.append(BasicBlock(channels, width, stride))
                channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        # PyTorch's default initialisation: on these small data sets it learns faster in the first
        # epochs than He-normal with zero-initialised residual branches (measured on digits).
        self.classifier = nn.Linear(channels, arch.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits of shape (N, num_classes)."""
        x = self.stages(self.stem(x))
        return self.classifier(torch.flatten(self.pool(x), 1))


def build_model(arch: Architecture) -> CompactResNet:
    """Instantiate the network for an architecture."""
    return CompactResNet(arch)
