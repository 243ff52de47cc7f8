"""B2's image super-resolution network: a small VDSR-style residual CNN.

(N, 1, S, S) bicubic-up-scaled LR face, grey 0-255 -> (N, 1, S, S) restored face, grey 0-255.
Fully convolutional, so it trains on patches and runs on whole faces.
"""

from __future__ import annotations

import torch
from torch import nn


class SRNet(nn.Module):
    def __init__(self, width: int = 32, depth: int = 5) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, width, 5, padding=2), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        self.body = nn.Sequential(*layers)
        nn.init.zeros_(self.body[-1].weight)  # start as the identity (plain bicubic)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x + 64.0 * self.body(x / 64.0), 0.0, 255.0)
