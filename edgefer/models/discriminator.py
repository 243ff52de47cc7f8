"""D: the critic on feature images. (N, C, 6, 6) -> (N,) scores; no normalisation (WGAN-div)."""

from __future__ import annotations

import torch
from torch import nn


class Discriminator(nn.Module):
    def __init__(self, channels: int = 128, width: int = 64, spatial: int = 6, hidden: int = 100) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.2, inplace=True)
        self.convs = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), act,
            nn.Conv2d(width, width, 4, stride=2, padding=1), act,  # 6 -> 3
        )
        n_flat = width * (spatial // 2) ** 2
        self.fc = nn.Sequential(nn.Linear(n_flat, hidden), nn.LeakyReLU(0.2, inplace=True), nn.Linear(hidden, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.convs(f), 1)).squeeze(1)
