"""Network building blocks both algorithms' networks share (imports torch).

:class:`BasicBlock` is the residual unit of the classifier's compact ResNet
(:mod:`training.classification.model`) and of the detector's backbone (:mod:`training.detection.model`);
its parameter names are part of both model artifacts' ``model.pt`` state dicts.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """The ResNet basic block: two 3x3 convolutions with batch norm and an identity shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))
