"""Batch augmentation for faces, on tensors: random affine (shift, scale, rotation), flip, erasing."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, gen: torch.Generator, max_rot: float = 12.0, max_scale: float = 0.12,
                  max_shift: float = 0.1, flip: bool = True) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H, W): one grid_sample per batch, a random transform per face."""
    n = x.shape[0]
    u = torch.rand(n, 5, generator=gen)
    angle = (u[:, 0] * 2 - 1) * math.radians(max_rot)
    scale = 1 + (u[:, 1] * 2 - 1) * max_scale
    tx, ty = (u[:, 2] * 2 - 1) * max_shift * 2, (u[:, 3] * 2 - 1) * max_shift * 2
    sx = torch.where(u[:, 4] < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * sx, -sin, tx], 1), torch.stack([sin * sx, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_erase(x: torch.Tensor, gen: torch.Generator, p: float = 0.25, max_frac: float = 0.3) -> torch.Tensor:
    """Blank a random rectangle (mid-grey) in a fraction ``p`` of faces: robustness to occlusion."""
    n, _, h, w = x.shape
    u = torch.rand(n, 5, generator=gen)
    x = x.clone()
    for i in torch.nonzero(u[:, 0] < p).flatten().tolist():
        eh, ew = max(1, int(h * max_frac * u[i, 1])), max(1, int(w * max_frac * u[i, 2]))
        y0, x0 = int((h - eh) * u[i, 3]), int((w - ew) * u[i, 4])
        x[i, :, y0 : y0 + eh, x0 : x0 + ew] = 128.0
    return x
