"""Pieces the trainers share: data loading, a torch model as a probs function, final evaluation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from edgefer.data import FaceSet, load_dataset
from edgefer.degrade import FACTORS_EVAL
from edgefer.evaluate import evaluate

log = logging.getLogger("edgefer.train")


def load_splits(data: str, limit: int | None, seed: int) -> tuple[FaceSet, FaceSet]:
    """The train and val splits; ``limit`` keeps a random subset of each (for smoke runs)."""
    train, val = load_dataset(data, "train"), load_dataset(data, "val")
    if limit:
        rng = np.random.default_rng(seed)
        train, val = (fs.subset(np.sort(rng.permutation(len(fs))[:limit])) for fs in (train, val))
    log.info("train: %d faces, val: %d faces (%s)", len(train), len(val), data)
    return train, val


def split_holdout(train: FaceSet, n: int, seed: int) -> tuple[FaceSet, FaceSet | None]:
    """Keep ``n`` random training faces out of training (0: none): (rest, holdout)."""
    if not n:
        return train, None
    if n >= len(train):
        from edgefer.errors import EdgeferError

        raise EdgeferError(f"--holdout {n}: the training split has only {len(train)} faces")
    perm = np.random.default_rng(seed + 7919).permutation(len(train))
    log.info("holding out %d training faces (per-epoch check, temperature fit)", n)
    return train.subset(np.sort(perm[n:])), train.subset(np.sort(perm[:n]))


def load_fixed_fer(path: str, role: str):
    """The fixed FER model a trainer builds on: (checkpoint dict, eval-mode FERNet); kind 'fer' only."""
    from edgefer.checkpoint import build_classifier, load_checkpoint
    from edgefer.errors import CheckpointError

    ckpt = load_checkpoint(path)
    if ckpt["kind"] != "fer":
        raise CheckpointError(f"{path}: {role} needs a plain FER checkpoint (kind 'fer'), got {ckpt['kind']!r}")
    return ckpt, build_classifier(ckpt)


def probs_fn(model: nn.Module, temperature: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap an eval-mode classifier as numpy (N, 1, S, S) -> (N, K) probabilities."""

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x)).contiguous(memory_format=torch.channels_last)
            return torch.softmax(model(t) / temperature, 1).numpy()

    return fn


def final_metrics(model: nn.Module, val: FaceSet, description: str, calibration: dict | None = None) -> dict:
    """The checkpoint's ``metrics``: every factor of FACTORS_EVAL on the val split; with ``calibration``
    (a fitted temperature), the probabilities (and so the ECE) are the calibrated ones."""
    model.eval()
    t = calibration["temperature"] if calibration else 1.0
    res = evaluate(probs_fn(model, t), val.images, val.labels, FACTORS_EVAL, description=description)
    return {"split": f"{val.layout}:{val.split}", "data": val.root, **res}


@torch.inference_mode()
def logits_at(model: nn.Module, images: np.ndarray, factors: Sequence[float], batch: int = 512) -> np.ndarray:
    """Logits of every face at every factor, stacked: (len(factors)·N, K)."""
    from edgefer.degrade import degrade

    out = []
    for f in factors:
        for s in range(0, len(images), batch):
            x = torch.from_numpy(degrade(images[s : s + batch], f)[:, None]).contiguous(memory_format=torch.channels_last)
            out.append(model(x).numpy())
    return np.concatenate(out)


def fit_calibration(model: nn.Module, hold: FaceSet, factors: Sequence[float]) -> dict:
    """Fit the temperature and the abstention threshold on the holdout, at every factor pooled: the
    checkpoint's ``calibration`` and ``abstain`` entries."""
    from edgefer.confidence import abstain_threshold, expected_calibration_error, fit_temperature, softmax

    model.eval()
    logits = logits_at(model, hold.images, factors)
    labels = np.tile(hold.labels, len(factors))
    t = fit_temperature(logits, labels)
    probs = softmax(logits, t)
    cal = {"temperature": t, "fitted_on": f"{len(hold)} held-out training faces at factors {list(factors)}",
           "holdout_ece_before": expected_calibration_error(softmax(logits), labels),
           "holdout_ece_after": expected_calibration_error(probs, labels)}
    thr = abstain_threshold(probs, labels)
    log.info("temperature %.3f: holdout ECE %.4f -> %.4f; abstain below confidence %.3f", t,
             cal["holdout_ece_before"], cal["holdout_ece_after"], thr)
    return {"calibration": cal, "abstain": {"min_confidence": thr}}
