"""The classifiers that the checkpoints describe, each (N, 1, 48, 48) grey 0-255 -> (N, K) logits.

- ``fer``: FERNet alone (B0, B1).
- ``sr_fer``: SRNet, then FERNet (B2).
- ``fsrfer``: FERNet's features, then G, then FERNet's head (FSR-FER).
"""

from __future__ import annotations

import torch
from torch import nn

from edgefer.models.fer import FERNet
from edgefer.models.generator import Generator
from edgefer.models.sr import SRNet


class SRThenFER(nn.Module):
    def __init__(self, sr: SRNet, fer: FERNet) -> None:
        super().__init__()
        self.sr, self.fer = sr, fer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fer(self.sr(x))


class FSRFER(nn.Module):
    """backbone Φ -> G -> head, one graph."""

    def __init__(self, fer: FERNet, generator: Generator) -> None:
        super().__init__()
        self.fer, self.generator = fer, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fer.head(self.generator(self.fer.features(x)))
