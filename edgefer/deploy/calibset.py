"""Calibration sets: real training faces, degraded at the factors deployment sees, saved as .npz.

The same preprocessing and degradation as training; deterministic for a seed.
Factors are spread evenly: sample i gets CALIB_FACTORS[i % len], after a seeded shuffle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgefer.data import load_dataset
from edgefer.degrade import degrade_mixed
from edgefer.errors import EdgeferError
from edgefer.fileio import atomic_path, clean_stale_once, sha256_file, write_json

CALIB_FACTORS = (1, 2, 3, 4, 5, 6, 7, 8)


def make_calibration_set(images: np.ndarray, samples: int, seed: int = 0,
                         factors: Sequence[int] = CALIB_FACTORS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, S, S) faces -> (x (n, 1, S, S) float32, source indices (n,), factors (n,)); n = min(samples, N)."""
    if samples < 1:
        raise EdgeferError(f"--samples must be at least 1, got {samples}")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.permutation(len(images))[: min(samples, len(images))])
    fac = rng.permutation(np.resize(np.asarray(factors), len(idx)))
    x = degrade_mixed(images[idx].astype(np.float32), fac)[:, None]
    return x, idx, fac


def calibration_set_path(folder: Path, data: Path, split: str, samples: int, seed: int) -> Path:
    tag = hashlib.sha256(str(Path(data).resolve()).encode()).hexdigest()[:8]
    return folder / f"calib_{Path(data).name}_{split}_{samples}_s{seed}_{tag}.npz"


def load_or_make_calibration_set(data: Path, split: str, samples: int, seed: int, folder: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Reuse the saved set for these settings, or build it from the dataset and save it (with a manifest)."""
    import tempfile

    clean_stale_once(tempfile.gettempdir())  # edgefer-quant-* scratch of killed calibrations (fileio.clean_stale)
    path = calibration_set_path(folder, data, split, samples, seed)
    manifest_path = path.with_suffix(".json")
    if path.is_file() and manifest_path.is_file():
        try:
            with np.load(path) as z:
                return z["x"], json.loads(manifest_path.read_text())
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below
    faces = load_dataset(data, split)
    x, idx, fac = make_calibration_set(faces.images, samples, seed)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, x=x, index=idx, factor=fac)
    manifest = {
        "file": path.name, "data": str(data), "layout": faces.layout, "split": split, "samples": int(len(x)),
        "seed": seed, "factors": sorted({int(f) for f in fac}), "shape": list(x.shape), "dtype": "float32",
        "preprocess": "edgefer.preprocess + edgefer.degrade (grey 0-255)",
        "sha256": sha256_file(path),
    }
    write_json(manifest_path, manifest)
    return x, manifest
