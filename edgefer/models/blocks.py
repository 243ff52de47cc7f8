"""Small building blocks shared by the models."""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(c_in: int, c_out: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=bias)


class BasicBlock(nn.Module):
    """ResNet basic block. (N, c_in, H, W) -> (N, c_out, H/stride, W/stride)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(c_in, c_out, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = conv3x3(c_out, c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Normalize(nn.Module):
    """Grey levels 0-255 -> roughly zero-mean, unit-variance input. Part of the exported graph."""

    def __init__(self, mean: float = 128.0, std: float = 64.0) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class FaceStandardize(nn.Module):
    """Per-face contrast normalisation: (N, 1, S, S) 0-255 -> each face at zero mean, unit variance.

    Inside the graph, so ONNX and TensorRT carry it and the one-preprocessing rule holds. A face's
    brightness and contrast (a dark theatre, a washed-out screen) no longer reach the network; ``floor``
    (grey levels) keeps a nearly flat crop from being blown up into noise.
    """

    def __init__(self, floor: float = 4.0) -> None:
        super().__init__()
        self.floor = floor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
        return (x - mean) / torch.clamp(std, min=self.floor)


def input_norm(kind: str) -> nn.Module:
    """``fixed``: (x − 128)/64, the first models' normalisation; ``face``: FaceStandardize."""
    if kind == "fixed":
        return Normalize()
    if kind == "face":
        return FaceStandardize()
    raise ValueError(f"unknown input normalisation {kind!r} (fixed | face)")
