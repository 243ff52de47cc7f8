"""The FER network, split as FSR-FER needs it: a feature extractor and a head.

FERNet: (N, 1, 48, 48) grey 0-255 -> ``features`` (N, C2, 6, 6) -> ``head`` -> (N, K) logits.
The feature map that G super-resolves is the output of stage 2; the head is
stage 3, global average pooling, the embedding and the classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from edgefer.models.blocks import BasicBlock, conv3x3, input_norm


INPUT_PX = (48, 16, 12)  # sizes the 48×48 face is area-averaged to exactly (48 / S an integer) for less cost


class FERFeatures(nn.Module):
    """Φ: (N, 1, 48, 48) grey 0-255 -> (N, widths[2], 6, 6) feature image (``input_px`` 48).

    ``input_px`` S < 48: the face is first area-averaged to S×S (an AvgPool in the graph), and the stem
    keeps that resolution (no stride), so the feature image is (S/4)×(S/4). A face that reached 48 px from
    s ≤ S/2 px loses next to nothing to the pooling, and the network costs a fraction of the full one
    (12.3 and 8.5 MMACs at 16 and 12 px, against 27.8): a specialist for the tiniest faces (5-10 px)
    needs no more.
    """

    def __init__(self, widths: tuple[int, int, int, int] = (32, 64, 128, 256), norm: str = "fixed",
                 input_px: int = 48) -> None:
        super().__init__()
        if input_px not in INPUT_PX:
            raise ValueError(f"input_px {input_px}: one of {', '.join(map(str, INPUT_PX))}")
        w0, w1, w2, _ = widths
        self.pool: nn.Module = nn.AvgPool2d(48 // input_px) if input_px < 48 else nn.Identity()
        self.normalize = input_norm(norm)
        self.stem = nn.Sequential(  # 48 -> 24; 16 or 12: no stride
            conv3x3(1, w0 // 2), nn.BatchNorm2d(w0 // 2), nn.ReLU(inplace=True),
            conv3x3(w0 // 2, w0, stride=2 if input_px == 48 else 1), nn.BatchNorm2d(w0), nn.ReLU(inplace=True),
        )
        self.stage1 = BasicBlock(w0, w1, stride=2)  # 24 -> 12
        self.stage2 = BasicBlock(w1, w2, stride=2)  # 12 -> 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage2(self.stage1(self.stem(self.normalize(self.pool(x)))))


class FERHead(nn.Module):
    """(N, widths[2], 6, 6) feature image -> (N, K) logits; ``embed`` gives the (N, emb_dim) embedding φ."""

    def __init__(self, widths: tuple[int, int, int, int] = (32, 64, 128, 256), emb_dim: int = 128,
                 n_classes: int = 8, dropout: float = 0.3) -> None:
        super().__init__()
        self.stage3 = BasicBlock(widths[2], widths[3], stride=2)  # 6 -> 3
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embedding = nn.Sequential(nn.Linear(widths[3], emb_dim), nn.BatchNorm1d(emb_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(emb_dim, n_classes)

    def embed(self, f: torch.Tensor) -> torch.Tensor:
        return self.embedding(torch.flatten(self.pool(self.stage3(f)), 1))

    def logits_from_embedding(self, e: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(e))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.logits_from_embedding(self.embed(f))


class FERNet(nn.Module):
    """The whole FER model: (N, 1, 48, 48) grey 0-255 -> (N, K) logits.

    ``input_norm``: "fixed" ((x − 128)/64) or "face" (per-face contrast normalisation, FaceStandardize).
    ``input_px``: the resolution the network reads the face at (``FERFeatures``); the input stays 48×48.
    """

    def __init__(self, widths: tuple[int, int, int, int] = (32, 64, 128, 256), emb_dim: int = 128,
                 n_classes: int = 8, dropout: float = 0.3, input_norm: str = "fixed", input_px: int = 48) -> None:
        super().__init__()
        widths = tuple(widths)
        self.features = FERFeatures(widths, input_norm, input_px)
        self.head = FERHead(widths, emb_dim, n_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
