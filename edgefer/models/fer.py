"""The FER network, split as FSR-FER needs it: a feature extractor and a head.

FERNet: (N, 1, 48, 48) grey 0-255 -> ``features`` (N, C2, 6, 6) -> ``head`` -> (N, K) logits.
The feature map that G super-resolves is the output of stage 2; the head is
stage 3, global average pooling, the embedding and the classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from edgefer.models.blocks import BasicBlock, conv3x3, input_norm


class FERFeatures(nn.Module):
    """Φ: (N, 1, 48, 48) grey 0-255 -> (N, widths[2], 6, 6) feature image."""

    def __init__(self, widths: tuple[int, int, int, int] = (32, 64, 128, 256), norm: str = "fixed") -> None:
        super().__init__()
        w0, w1, w2, _ = widths
        self.normalize = input_norm(norm)
        self.stem = nn.Sequential(  # 48 -> 24
            conv3x3(1, w0 // 2), nn.BatchNorm2d(w0 // 2), nn.ReLU(inplace=True),
            conv3x3(w0 // 2, w0, stride=2), nn.BatchNorm2d(w0), nn.ReLU(inplace=True),
        )
        self.stage1 = BasicBlock(w0, w1, stride=2)  # 24 -> 12
        self.stage2 = BasicBlock(w1, w2, stride=2)  # 12 -> 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage2(self.stage1(self.stem(self.normalize(x))))


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
    """

    def __init__(self, widths: tuple[int, int, int, int] = (32, 64, 128, 256), emb_dim: int = 128,
                 n_classes: int = 8, dropout: float = 0.3, input_norm: str = "fixed") -> None:
        super().__init__()
        widths = tuple(widths)
        self.features = FERFeatures(widths, input_norm)
        self.head = FERHead(widths, emb_dim, n_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
