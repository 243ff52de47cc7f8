"""Shared fixtures: small synthetic datasets in every layout, and the real FER+ copy when present."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgefer.classes import CLASSES

FERPLUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ferplus"


def synthetic_faces(n: int, seed: int = 0, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Face-like test images whose brightness pattern depends on the label (learnable, not FER+ data)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CLASSES)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for y in labels:
        base = 60 + 120 * np.exp(-(((xx - 0.5) ** 2 + (yy - 0.5) ** 2) / 0.08))
        mouth = 60 * np.sin(np.pi * (y + 1) * xx) * (yy > 0.65)
        images.append(np.clip(base + mouth + rng.normal(0, 8, (size, size)), 0, 255))
    return np.stack(images).astype(np.uint8), labels.astype(np.int64)


def write_ferplus(root: Path, n_train: int = 64, n_val: int = 24) -> Path:
    for folder, n, seed in (("FER2013Train", n_train, 0), ("FER2013Valid", n_val, 1)):
        d = root / folder
        d.mkdir(parents=True)
        images, labels = synthetic_faces(n, seed)
        with open(d / "label.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            for i, (img, y) in enumerate(zip(images, labels)):
                name = f"fer{i:07d}.png"
                cv2.imwrite(str(d / name), img)
                votes = [0] * 10
                votes[y] = 8
                votes[(y + 1) % 8] = 2
                w.writerow([name, "(0, 0, 48, 48)", *votes])
    return root


@pytest.fixture
def ferplus_tiny(tmp_path: Path) -> Path:
    return write_ferplus(tmp_path / "ferplus")


@pytest.fixture
def ferplus_real() -> Path:
    if not (FERPLUS / "FER2013Valid" / "label.csv").is_file():
        pytest.skip(f"the real FER+ copy is not at {FERPLUS}")
    return FERPLUS
