"""Photometric conditions, written once: the seeded corruptions of ``edgefer eval --corrupt`` and the
random photometric augmentation of training are built from the same primitives.

Every function takes grey faces (N, S, S) in 0-255 (any float or uint8 dtype) and returns float32
(N, S, S) in 0-255, rounded to whole grey levels as a camera would deliver them (dim footage keeps only
a few dozen levels, and that loss of levels is part of what the model must cope with).

Corruptions (fixed strength, applied before the resolution degradation):

| name           | what                                                    | like                              |
|----------------|---------------------------------------------------------|-----------------------------------|
| ``dim``        | 255·0.35·(x/255)^1.6: gain 0.35, gamma 1.6             | a dark theatre (mean grey ~25)    |
| ``low-contrast``| face mean + 0.35·(x − mean)                           | haze, a washed-out screen         |
| ``blur``       | Gaussian blur, σ = 1.5 px at 48 px                      | defocus, motion                   |
| ``noise``      | Gaussian noise, σ = 12 grey levels (seeded)             | a high-gain sensor at night       |
| ``jpeg``       | JPEG at quality 20                                      | a heavily compressed stream       |
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DIM_GAIN, DIM_GAMMA = 0.35, 1.6
LOW_CONTRAST = 0.35
BLUR_SIGMA = 1.5
NOISE_SIGMA = 12.0
JPEG_QUALITY = 20


def _levels(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0.0, 255.0).astype(np.float32)


def gain_gamma(x: np.ndarray, gain: np.ndarray | float, gamma: np.ndarray | float) -> np.ndarray:
    """255·gain·(x/255)^gamma, per face when ``gain``/``gamma`` are (N,) arrays."""
    x = np.asarray(x, np.float32)
    g = np.reshape(np.asarray(gain, np.float32), (-1,) + (1,) * (x.ndim - 1)) if np.ndim(gain) else np.float32(gain)
    p = np.reshape(np.asarray(gamma, np.float32), (-1,) + (1,) * (x.ndim - 1)) if np.ndim(gamma) else np.float32(gamma)
    return _levels(255.0 * g * np.power(x / 255.0, p))


def contrast(x: np.ndarray, factor: np.ndarray | float) -> np.ndarray:
    """Scale each face's grey levels about its own mean by ``factor``."""
    x = np.asarray(x, np.float32)
    mean = x.mean(axis=(-2, -1), keepdims=True)
    f = np.reshape(np.asarray(factor, np.float32), (-1, 1, 1)) if np.ndim(factor) else np.float32(factor)
    return _levels(mean + f * (x - mean))


def blur(x: np.ndarray, sigma: np.ndarray | float) -> np.ndarray:
    """Gaussian blur of each face (σ in px; 0 leaves a face as it is)."""
    import cv2

    x = np.asarray(x, np.float32)
    sig = np.broadcast_to(np.asarray(sigma, np.float32), (len(x),))
    out = x.copy()
    for i in np.nonzero(sig > 0)[0]:
        out[i] = cv2.GaussianBlur(x[i], (0, 0), float(sig[i]), borderType=cv2.BORDER_REFLECT)
    return _levels(out)


def noise(x: np.ndarray, sigma: np.ndarray | float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise of ``sigma`` grey levels (per face when an (N,) array)."""
    x = np.asarray(x, np.float32)
    s = np.reshape(np.asarray(sigma, np.float32), (-1, 1, 1)) if np.ndim(sigma) else np.float32(sigma)
    return _levels(x + s * rng.standard_normal(x.shape, dtype=np.float32))


def jpeg(x: np.ndarray, quality: np.ndarray | int) -> np.ndarray:
    """Encode and decode each face as JPEG at ``quality`` (1-100; 100 or more leaves a face as it is)."""
    import cv2

    x = _levels(x)
    q = np.broadcast_to(np.asarray(quality, np.int64), (len(x),))
    out = x.copy()
    for i in np.nonzero(q < 100)[0]:
        ok, buf = cv2.imencode(".jpg", x[i].astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, int(q[i])])
        if not ok:  # pragma: no cover - cv2 encodes any 2-D uint8 image
            raise RuntimeError("cv2.imencode failed on a face")
        out[i] = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32)
    return out


CORRUPTIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "dim": lambda x, rng: gain_gamma(x, DIM_GAIN, DIM_GAMMA),
    "low-contrast": lambda x, rng: contrast(x, LOW_CONTRAST),
    "blur": lambda x, rng: blur(x, BLUR_SIGMA),
    "noise": lambda x, rng: noise(x, NOISE_SIGMA, rng),
    "jpeg": lambda x, rng: jpeg(x, JPEG_QUALITY),
}


def corrupt(images: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """Apply the named corruption (see the table above) to (N, S, S) faces; deterministic for a seed."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose from {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name](np.asarray(images), np.random.default_rng(seed))


def random_photometric(x: np.ndarray, rng: np.random.Generator, p: float = 0.8) -> np.ndarray:
    """Training augmentation: each face, with probability ``p``, gets a random gain and gamma, contrast,
    and sometimes blur, noise and JPEG. The ranges cover every corruption above and more (dim down to a
    gain of 0.2, gamma up to 2.2), so the model never meets a test condition harder than its training."""
    x = np.asarray(x, np.float32)
    n = len(x)
    on = rng.random(n) < p
    gain = np.where(on, np.exp(rng.uniform(np.log(0.2), np.log(1.25), n)), 1.0)
    gamma = np.where(on, np.exp(rng.uniform(np.log(0.6), np.log(2.2), n)), 1.0)
    out = gain_gamma(x, gain, gamma)
    out = contrast(out, np.where(on & (rng.random(n) < 0.5), rng.uniform(0.3, 1.2, n), 1.0))
    out = blur(out, np.where(on & (rng.random(n) < 0.25), rng.uniform(0.5, 2.0, n), 0.0))
    out = noise(out, np.where(on & (rng.random(n) < 0.3), rng.uniform(2.0, 15.0, n), 0.0), rng)
    return jpeg(out, np.where(on & (rng.random(n) < 0.3), rng.integers(15, 90, n), 100))
