"""The detail score measures face size, not brightness; RouteBySize picks each face's route."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgefer.degrade import degrade
from edgefer.models.gate import DetailScore, RouteBySize
from tests.conftest import synthetic_faces


def scores(images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return DetailScore()(torch.from_numpy(images.astype(np.float32)[:, None]))[:, 0].numpy()


def test_score_falls_with_face_size_and_ignores_gain():
    faces, _ = synthetic_faces(16)
    medians = [np.median(scores(degrade(faces, 48 / px))) for px in (48, 32, 24, 16, 12, 8, 6)]
    assert all(a > b for a, b in zip(medians, medians[1:])), medians
    # a dim copy of the same faces (gain 0.35) scores the same: it is a frequency, not an energy
    x = degrade(faces, 2).astype(np.float32)
    np.testing.assert_allclose(scores(x * 0.35), scores(x), atol=0.05)


def test_flat_face_gives_a_finite_score():
    assert np.isfinite(scores(np.full((2, 48, 48), 128.0))).all()


class Constant(nn.Module):
    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(torch.full((len(x),), self.k), 8).float()


def test_route_takes_sharp_above_the_threshold_and_small_below():
    faces, _ = synthetic_faces(8)
    x = torch.from_numpy(np.concatenate([degrade(faces, 1), degrade(faces, 6)]).astype(np.float32)[:, None])
    s = DetailScore()(x)[:, 0]
    threshold = float((s[:8].min() + s[8:].max()) / 2)  # the synthetic faces' sharp and 8 px scores are apart
    assert s[:8].min() > s[8:].max()
    out = RouteBySize(Constant(1), Constant(5), threshold)(x).argmax(1)
    assert out.tolist() == [1] * 8 + [5] * 8


def test_tiny_route_takes_the_faces_at_or_below_its_threshold():
    faces, _ = synthetic_faces(8)
    x = torch.from_numpy(np.concatenate([degrade(faces, f) for f in (1, 3, 8)]).astype(np.float32)[:, None])
    s = DetailScore()(x)[:, 0]
    assert s[:8].min() > s[8:16].max() and s[8:16].min() > s[16:].max()  # sharp, 16 px and 6 px scores apart
    upper, lower = float((s[:8].min() + s[8:16].max()) / 2), float((s[8:16].min() + s[16:].max()) / 2)
    out = RouteBySize(Constant(1), Constant(5), upper, Constant(7), lower)(x).argmax(1)
    assert out.tolist() == [1] * 8 + [5] * 8 + [7] * 8
    assert RouteBySize(Constant(1), Constant(5), upper)(x).argmax(1).tolist() == [1] * 8 + [5] * 16  # two routes
    blend = RouteBySize(Constant(1), Constant(5), upper, Constant(7), lower, tiny_blend=True)
    blend.tiny_weights.copy_(torch.tensor([1.0, 1.0]))
    out = blend(x)  # the tiniest faces: one-hot 5 + one-hot 7
    assert out[16:, 5].tolist() == [1.0] * 8 and out[16:, 7].tolist() == [1.0] * 8 and out[16:].sum().item() == 16
    assert out[:16].argmax(1).tolist() == [1] * 8 + [5] * 8


@pytest.mark.parametrize("tiny, tiny_threshold, match", [(Constant(7), None, "needs its tiny_threshold"),
                                                         (None, -1.0, "needs its tiny_threshold"),
                                                         (Constant(7), 0.5, "above threshold"),
                                                         (None, None, "tiny_blend needs a tiny route")])
def test_tiny_route_needs_a_threshold_below_the_first(tiny, tiny_threshold, match):
    with pytest.raises(ValueError, match=match):
        RouteBySize(Constant(1), Constant(5), 0.0, tiny, tiny_threshold, tiny_blend=match.startswith("tiny_blend"))


def test_score_survives_float16():
    """An FP16 engine runs the router in half precision: no overflow to inf/NaN on bright, sharp faces."""
    faces, _ = synthetic_faces(8)
    x = np.concatenate([degrade(faces, 1), degrade(faces, 4), 255.0 * (np.indices((48, 48)).sum(0) % 2)[None]])
    t = torch.from_numpy(x.astype(np.float32)[:, None])
    with torch.no_grad():
        full = DetailScore()(t)
        half = DetailScore().half()(t.half()).float()
    assert torch.isfinite(half).all()
    torch.testing.assert_close(half, full, atol=0.02, rtol=0)
