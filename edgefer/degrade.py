"""The resolution degradation and the resize it is built on, written once.

``resize`` is an antialiased bicubic resampler with the same weights as PIL's
``Image.resize(..., BICUBIC)`` (a = -0.5, kernel widened by the scale when
down-scaling, clipped and renormalised at the borders). It is a pair of small
matrices per (in, out) size, so a whole batch resizes with two matmuls and
runs the same in training, calibration, export checks and the camera loop
(numpy only: no torch on the Jetson).

``degrade(x, f)`` (method.md §3): down-scale to round(S/f) px, then up-scale
back to S. Factor 1 is the identity.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

FACTORS_EVAL: tuple[int, ...] = (1, 2, 3, 4, 6, 8)
FACTORS_TRAIN: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)


def _bicubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


@lru_cache(maxsize=512)
def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32 matrix M such that ``M @ signal`` resamples a 1-D signal."""
    if n_in < 1 or n_out < 1:
        raise ValueError(f"resize sizes must be positive, got {n_in} -> {n_out}")
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    m = np.zeros((n_out, n_in), dtype=np.float64)
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        taps = np.arange(lo, hi)
        w = _bicubic((taps - center + 0.5) / filterscale)
        m[i, lo:hi] = w / w.sum()
    m.flags.writeable = False
    return m.astype(np.float32)


def resize(images: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize (..., H, W) float images to ``size`` (int, or (h, w)); returns float32."""
    h_out, w_out = (size, size) if isinstance(size, int) else size
    x = np.asarray(images, dtype=np.float32)
    h_in, w_in = x.shape[-2:]
    if (h_in, w_in) == (h_out, w_out):
        return x.copy()
    my = resize_matrix(h_in, h_out)
    mx = resize_matrix(w_in, w_out)
    return np.matmul(np.matmul(my, x), mx.T)


def lr_size(size: int, factor: float) -> int:
    """Side of the low-resolution face for a model input ``size`` and down-sample ``factor``."""
    if factor < 1:
        raise ValueError(f"down-sample factor must be >= 1, got {factor}")
    return max(1, round(size / factor))


def degrade(images: np.ndarray, factor: float) -> np.ndarray:
    """Simulate a face ``factor`` times smaller: (..., S, S) -> (..., S, S) float32, same range."""
    x = np.asarray(images, dtype=np.float32)
    if factor == 1:
        return x.copy()
    size = x.shape[-1]
    small = resize(x, lr_size(size, factor))
    return resize(small, size)


def degrade_mixed(images: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Degrade each image of (N, S, S) by its own factor (one batched call per distinct factor)."""
    x = np.asarray(images, dtype=np.float32)
    out = np.empty_like(x)
    factors = np.asarray(factors)
    for f in np.unique(factors):
        idx = np.nonzero(factors == f)[0]
        out[idx] = degrade(x[idx], float(f))
    return out


def parse_factors(text: str) -> tuple[int, ...]:
    """'1,2,3' -> (1, 2, 3), with a one-line error on anything else."""
    try:
        factors = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ValueError(f"factors must be comma-separated integers, got {text!r}") from None
    if not factors or any(f < 1 for f in factors):
        raise ValueError(f"factors must be integers >= 1, got {text!r}")
    return factors
