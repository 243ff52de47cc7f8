"""Per down-sample factor, for any runner (or any batch -> probs function): accuracy, balanced accuracy
(mean per-class recall), macro-F1 over the classes in the truth, per-class recall, expected calibration
error and the confusion matrix; optionally under a photometric corruption (``edgefer.photometric``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgefer.classes import CLASSES
from edgefer.degrade import degrade, lr_size
from edgefer.confidence import expected_calibration_error
from edgefer.metrics import accuracy, balanced_accuracy, confusion_matrix, macro_f1, per_class_recall
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


def evaluate(probs_fn: ProbsFn, images: np.ndarray, labels: np.ndarray, factors: Sequence[float],
             batch_size: int = 256, description: str = "evaluating", corruption: str | None = None,
             seed: int = 0) -> dict[str, Any]:
    """Per-factor metrics (keys are factors as strings). ``corruption``: a seeded photometric corruption
    applied to the sharp faces before the degradation (``edgefer.photometric.CORRUPTIONS``)."""
    k = len(CLASSES)
    size = images.shape[-1]
    if corruption:
        from edgefer.photometric import corrupt

        images = corrupt(images, corruption, seed)
    result: dict[str, Any] = {"n": int(len(labels)), "factors": [int(f) for f in factors], "corruption": corruption,
                              "classes": list(CLASSES), "face_px": {}, "accuracy": {}, "balanced_accuracy": {},
                              "macro_f1": {}, "per_class_recall": {}, "ece": {}, "confusion": {}}
    with bar(len(labels) * len(factors), description, unit="face") as progress:
        for f in factors:
            probs = predict(probs_fn, images, f, batch_size, progress)
            cm = confusion_matrix(labels, probs.argmax(1), k)
            key = str(int(f))
            result["face_px"][key] = lr_size(size, f)
            result["accuracy"][key] = accuracy(cm)
            result["balanced_accuracy"][key] = balanced_accuracy(cm)
            result["macro_f1"][key] = macro_f1(cm)
            result["per_class_recall"][key] = [None if np.isnan(r) else float(r) for r in per_class_recall(cm)]
            result["ece"][key] = expected_calibration_error(probs, labels)
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
