"""How much detail a face carries, measured inside the graph: the router of the ``routed`` model.

A face that reached 48×48 from s px (the camera's small face, or ``degrade`` at factor 48/s) has no
spatial frequencies above s/48 of the band. The ratio of the Laplacian's energy to the gradient's energy
is the face's mean squared frequency, so its log falls steadily with s and does not depend on the face's
brightness or contrast (both energies scale with the gain squared). On 2,000 held-out FER+ faces the
median score is 0.75 at 48 px, 0.05 at 32 px, -0.33 at 24 px, -1.43 at 12 px and -2.67 at 6 px, with the
sizes' 5-95 % ranges apart (docs/model-card.md). Blur lowers it like a smaller face; noise raises it.

It is a few fixed convolutions, exported with the model (ONNX, TensorRT), so the routing runs wherever
the model runs, with no face size passed in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Grey levels are scaled by 1/16 first, and each mean is taken over rows, then columns: an FP16 engine
# (TensorRT --precision fp16) then neither overflows (65,504) on a face's squared derivatives nor loses
# the floor to subnormals. _EPS (in those units; 0.026 grey level²) keeps a flat face's score finite.
_SCALE = 1.0 / 16.0
_EPS = 1e-4


def _mean_hw(x: torch.Tensor) -> torch.Tensor:
    return x.mean(3).mean(2)


class DetailScore(nn.Module):
    """(N, 1, H, W) grey 0-255 -> (N, 1) log(mean Laplacian² / mean gradient²), valid pixels only."""

    def __init__(self) -> None:
        super().__init__()
        lap = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
        self.register_buffer("lap", lap.view(1, 1, 3, 3) * _SCALE, persistent=False)
        self.register_buffer("dx", torch.tensor([[-1.0, 1.0]]).view(1, 1, 1, 2) * _SCALE, persistent=False)
        self.register_buffer("dy", torch.tensor([[-1.0], [1.0]]).view(1, 1, 2, 1) * _SCALE, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lap = _mean_hw(F.conv2d(x, self.lap).pow(2))
        grad = _mean_hw(F.conv2d(x, self.dx).pow(2)) + _mean_hw(F.conv2d(x, self.dy).pow(2))
        return torch.log(lap + _EPS) - torch.log(grad + _EPS)


class RouteBySize(nn.Module):
    """(N, 1, 48, 48) grey 0-255 -> (N, K) logits: ``sharp``'s where the face's detail score is above
    ``threshold``, ``small``'s elsewhere; with a ``tiny`` route, ``tiny``'s where the score is at or below
    ``tiny_threshold`` (≤ ``threshold``). With ``tiny_blend`` the tiny route's logits are
    ``tiny_weights[0]`` · small + ``tiny_weights[1]`` · tiny: the two models as one ensemble on the tiniest
    faces, at no extra cost (the small route runs anyway). The weights carry the blend's temperature and
    undo the small route's own, which is folded into its weights for the faces it serves alone
    (``checkpoint.build_classifier``). Every route runs on every face (one static graph for every backend),
    so the cost is the sum of the routes."""

    def __init__(self, sharp: nn.Module, small: nn.Module, threshold: float, tiny: nn.Module | None = None,
                 tiny_threshold: float | None = None, tiny_blend: bool = False) -> None:
        super().__init__()
        if (tiny is None) != (tiny_threshold is None):
            raise ValueError("a tiny route needs its tiny_threshold, and a tiny_threshold its route")
        if tiny_threshold is not None and not tiny_threshold <= threshold:
            raise ValueError(f"tiny_threshold {tiny_threshold} is above threshold {threshold}")
        if tiny_blend and tiny is None:
            raise ValueError("tiny_blend needs a tiny route")
        self.sharp, self.small, self.tiny, self.score = sharp, small, tiny, DetailScore()
        self.tiny_blend = bool(tiny_blend)
        self.register_buffer("threshold", torch.tensor(float(threshold)), persistent=False)
        if tiny_threshold is not None:
            self.register_buffer("tiny_threshold", torch.tensor(float(tiny_threshold)), persistent=False)
        if self.tiny_blend:
            self.register_buffer("tiny_weights", torch.tensor([0.5, 0.5]), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score, small = self.score(x), self.small(x)  # small computed once: the blend reuses it
        out = torch.where(score > self.threshold, self.sharp(x), small)
        if self.tiny is not None:
            tiny = self.tiny(x)
            if self.tiny_blend:
                tiny = self.tiny_weights[0] * small + self.tiny_weights[1] * tiny
            out = torch.where(score > self.tiny_threshold, out, tiny)
        return out
