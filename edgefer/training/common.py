"""Pieces the trainers share: data loading, a torch model as a probs function, final evaluation."""

from __future__ import annotations

import logging
from collections.abc import Callable

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
        for fs in (train, val):
            keep = np.sort(rng.permutation(len(fs))[:limit])
            fs.images, fs.labels = fs.images[keep], fs.labels[keep]
            fs.names = [fs.names[i] for i in keep]
    log.info("train: %d faces, val: %d faces (%s)", len(train), len(val), data)
    return train, val


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
    model.eval()
    res = evaluate(probs_fn(model), val.images, val.labels, FACTORS_EVAL, description=description)
    return {"split": f"{val.layout}:{val.split}", "data": val.root, **res}
