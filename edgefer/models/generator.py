"""G: feature super-resolution. (N, C, 6, 6) LR feature image -> (N, C, 6, 6) estimate of the HR one.

ESRGAN-style residual-in-residual dense blocks (method.md §1), narrowed for
an edge device. G predicts a residual on its input feature, so it starts
as (almost) the identity and leaves sharp faces' features alone.
"""

from __future__ import annotations

import torch
from torch import nn


class DenseBlock(nn.Module):
    """Dense block: ``n_convs`` 3x3 convs with growth ``growth``, LeakyReLU 0.2, residual scale 0.2.
    (N, width, H, W) -> (N, width, H, W)."""

    def __init__(self, width: int, growth: int, n_convs: int, res_scale: float = 0.2) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(width + i * growth, growth if i < n_convs - 1 else width, 3, padding=1) for i in range(n_convs)
        )
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs[:-1]:
            feats.append(self.act(conv(torch.cat(feats, 1))))
        return x + self.res_scale * self.convs[-1](torch.cat(feats, 1))


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks and an outer residual (scale 0.2)."""

    def __init__(self, width: int, growth: int, n_convs: int, res_scale: float = 0.2) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(DenseBlock(width, growth, n_convs, res_scale) for _ in range(3)))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.blocks(x)


class Generator(nn.Module):
    """G: (N, channels, H, W) -> (N, channels, H, W), non-negative like the backbone's ReLU features."""

    def __init__(self, channels: int = 128, width: int = 64, n_rrdb: int = 2, growth: int = 16,
                 n_convs: int = 3, init_scale: float = 0.1) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(channels, width, 3, padding=1)
        self.trunk = nn.Sequential(*(RRDB(width, growth, n_convs) for _ in range(n_rrdb)))
        self.conv_trunk = nn.Conv2d(width, width, 3, padding=1)
        self.conv_out = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(width, channels, 3, padding=1)
        )
        for m in self.modules():  # the authors scale initial weights by 0.1 (ESRGAN's trick)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.2)
                m.weight.data.mul_(init_scale)
                nn.init.zeros_(m.bias)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(f)
        x = x + self.conv_trunk(self.trunk(x))  # global skip
        return torch.relu(f + self.conv_out(x))
