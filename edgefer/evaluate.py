"""Accuracy and macro-F1 per down-sample factor, for any runner (or any batch -> probs function)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgefer.classes import CLASSES
from edgefer.degrade import degrade, lr_size
from edgefer.metrics import accuracy, confusion_matrix, macro_f1
from edgefer.progress import bar

ProbsFn = Callable[[np.ndarray], np.ndarray]


def predict(probs_fn: ProbsFn, images: np.ndarray, factor: float, batch_size: int = 256, progress=None) -> np.ndarray:
    """Degrade (N, S, S) faces by ``factor`` and classify them: (N, K) probabilities."""
    out = []
    for start in range(0, len(images), batch_size):
        x = degrade(images[start : start + batch_size], factor)[:, None]
        out.append(probs_fn(x))
        if progress is not None:
            progress.update(len(x))
    return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), np.float32)


def evaluate(probs_fn: ProbsFn, images: np.ndarray, labels: np.ndarray, factors: Sequence[int],
             batch_size: int = 256, description: str = "evaluating") -> dict[str, Any]:
    """Per-factor accuracy, macro-F1 and confusion matrices; keys are factors as strings."""
    k = len(CLASSES)
    size = images.shape[-1]
    result: dict[str, Any] = {"n": int(len(labels)), "factors": [int(f) for f in factors],
                              "face_px": {}, "accuracy": {}, "macro_f1": {}, "confusion": {}}
    with bar(len(labels) * len(factors), description, unit="face") as progress:
        for f in factors:
            pred = predict(probs_fn, images, f, batch_size, progress).argmax(1)
            cm = confusion_matrix(labels, pred, k)
            key = str(int(f))
            result["face_px"][key] = lr_size(size, f)
            result["accuracy"][key] = accuracy(cm)
            result["macro_f1"][key] = macro_f1(cm)
            result["confusion"][key] = cm.tolist()
    return result


def mean_accuracy(result: dict[str, Any], factors: Sequence[int] = (2, 3, 4, 6, 8)) -> float:
    vals = [result["accuracy"][str(f)] for f in factors if str(f) in result["accuracy"]]
    return float(np.mean(vals)) if vals else float("nan")


def agreement(probs_fn: ProbsFn, reference_fn: ProbsFn, images: np.ndarray, factors: Sequence[int],
              batch_size: int = 256, description: str = "comparing") -> dict[str, Any]:
    """Per factor: the share of faces where both models pick the same class, and the max |Δ| of probabilities."""
    out: dict[str, Any] = {"argmax_agreement": {}, "max_abs_diff_probs": {}}
    with bar(len(images) * len(factors), description, unit="face") as progress:
        for f in factors:
            a = predict(probs_fn, images, f, batch_size, progress)
            b = predict(reference_fn, images, f, batch_size)
            out["argmax_agreement"][str(int(f))] = float(np.mean(a.argmax(1) == b.argmax(1)))
            out["max_abs_diff_probs"][str(int(f))] = float(np.abs(a - b).max()) if len(a) else 0.0
    return out
