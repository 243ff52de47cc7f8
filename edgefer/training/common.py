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


HOLDOUT_KEYS = ("data", "seed", "limit", "holdout", "logit_adjust")


def holdout_keys(cfg: dict) -> dict:
    """The part of a training config that fixes which faces were held out (and the prior they were fitted with)."""
    return {k: cfg[k] for k in HOLDOUT_KEYS if k in cfg}


def holdout_config(path: str, ckpt: dict) -> dict:
    """The config that fixes which faces a checkpoint held out (data, seed, limit, holdout size): its own
    for an edge-recipe FER model or an ensemble; for FSR-FER, its fixed backbone's, as recorded at training
    time (``fer_source.holdout_config``) or, in older files, read from the backbone's file ({} if gone)."""
    from pathlib import Path

    from edgefer.checkpoint import load_checkpoint

    cfg = ckpt.get("config", {})
    if ckpt["kind"] == "fsrfer":
        recorded = (ckpt.get("fer_source") or {}).get("holdout_config")
        if recorded:
            return recorded
        fer = cfg.get("fer") or ""
        cfg = load_checkpoint(fer).get("config", {}) if fer and Path(fer).is_file() else {}
    return cfg


def load_fixed_fer(path: str, role: str):
    """The fixed FER model a trainer builds on: (checkpoint dict, eval-mode FERNet); kind 'fer' only."""
    from edgefer.checkpoint import build_classifier, load_checkpoint
    from edgefer.errors import CheckpointError

    ckpt = load_checkpoint(path)
    if ckpt["kind"] != "fer":
        raise CheckpointError(f"{path}: {role} needs a plain FER checkpoint (kind 'fer'), got {ckpt['kind']!r}")
    return ckpt, build_classifier(ckpt)


def probs_fn(model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap an eval-mode classifier as numpy (N, 1, S, S) -> (N, K) probabilities."""

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x)).contiguous(memory_format=torch.channels_last)
            return torch.softmax(model(t), 1).numpy()

    return fn


def final_metrics(model: nn.Module, val: FaceSet, description: str) -> dict:
    """The checkpoint's ``metrics``: every factor of FACTORS_EVAL on the val split."""
    model.eval()
    res = evaluate(probs_fn(model), val.images, val.labels, FACTORS_EVAL, description=description)
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


def fit_calibration(model: nn.Module, hold: FaceSet, factors: Sequence[float], log_pi: np.ndarray | None = None) -> dict:
    """Fit the decision rule on the holdout, at every factor pooled: the checkpoint's ``calibration`` and
    ``abstain`` entries.

    - ``prior_shift`` λ (with ``log_pi``, for a logit-adjusted model): the logits become z + λ·log π.
      λ = 0 keeps the balanced posterior, λ = 1 restores the training prior. The λ of a grid that
      maximises the mean of accuracy and balanced accuracy on the holdout is kept: the user meets both.
    - ``temperature`` T, fitted after the shift; then the abstention threshold on calibrated probabilities.
    """
    from edgefer.confidence import abstain_threshold, expected_calibration_error, fit_temperature, softmax
    from edgefer.metrics import accuracy, balanced_accuracy, confusion_matrix

    model.eval()
    logits = logits_at(model, hold.images, factors)
    labels = np.tile(hold.labels, len(factors))
    cal: dict = {"fitted_on": f"{len(hold)} held-out training faces at factors {list(factors)}"}
    if log_pi is not None:
        k = logits.shape[1]
        scores = {}
        for lam in (0.0, 0.25, 0.5, 0.75, 1.0):
            cm = confusion_matrix(labels, (logits + lam * log_pi).argmax(1), k)
            scores[lam] = (accuracy(cm), balanced_accuracy(cm))
        lam = max(scores, key=lambda x: sum(scores[x]))
        logits = logits + lam * log_pi
        cal.update(prior_shift=lam, log_prior=[float(v) for v in log_pi],
                   prior_shift_grid={str(x): {"accuracy": a, "balanced_accuracy": b} for x, (a, b) in scores.items()})
        log.info("prior shift λ = %.2f (holdout accuracy %.4f, balanced %.4f)", lam, *scores[lam])
    t = fit_temperature(logits, labels)
    probs = softmax(logits, t)
    cal.update(temperature=t, holdout_ece_before=expected_calibration_error(softmax(logits), labels),
               holdout_ece_after=expected_calibration_error(probs, labels))
    thr = abstain_threshold(probs, labels)
    log.info("temperature %.3f: holdout ECE %.4f -> %.4f; abstain below confidence %.3f", t,
             cal["holdout_ece_before"], cal["holdout_ece_after"], thr)
    return {"calibration": cal, "abstain": {"min_confidence": thr}}
