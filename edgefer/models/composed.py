"""The classifiers that the checkpoints describe, each (N, 1, 48, 48) grey 0-255 -> (N, K) logits.

- ``fer``: FERNet alone (B0, B1).
- ``sr_fer``: SRNet, then FERNet (B2).
- ``fsrfer``: FERNet's features, then G, then FERNet's head (FSR-FER).
- ``ensemble``: the mean logits of several FERNets, each optionally also on the mirrored face.
- ``routed``: two of the above, each face routed by its detail (``edgefer.models.gate.RouteBySize``).
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


class Ensemble(nn.Module):
    """(N, 1, 48, 48) -> (N, K): the mean of the members' logits; with ``flip`` a member also reads the
    mirrored face (expressions are near-symmetric, and the two views' errors differ), and its logits are
    the mean of its two views. ``flip`` is one bool for every member or one per member (a third pass may
    fit a MAC budget where a fourth does not). Members are calibrated as one: ``checkpoint.fold_*``
    applies the shift and temperature to every member."""

    def __init__(self, members: list[FERNet], flip: bool | list[bool] = True) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        flips = [bool(f) for f in flip] if isinstance(flip, (list, tuple)) else [bool(flip)] * len(members)
        if len(flips) != len(members):
            raise ValueError(f"flip: {len(flips)} values for {len(members)} members")
        self.flips = flips

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(set(self.flips)) == 1:  # every member reads the same views: one mean over all of them
            views = [x, torch.flip(x, dims=[3])] if self.flips[0] else [x]
            return torch.stack([m(v) for m in self.members for v in views], 0).mean(0)
        mirrored = torch.flip(x, dims=[3])
        logits = [0.5 * (m(x) + m(mirrored)) if f else m(x) for m, f in zip(self.members, self.flips)]
        return torch.stack(logits, 0).mean(0)
