"""Classification metrics: accuracy, balanced accuracy, per-class recall, macro-F1 and the confusion matrix
(numpy only). Balanced accuracy and macro-F1 average over the classes present in the truth."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    return np.bincount(np.asarray(y_true) * n_classes + np.asarray(y_pred), minlength=n_classes**2).reshape(
        n_classes, n_classes
    )


def accuracy(cm: np.ndarray) -> float:
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over the classes present in the truth: a class that is only ever predicted (a false
    alarm) lowers the precision of nothing real and is not averaged in as a zero."""
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(1), cm.sum(0)
    present = support > 0
    if not present.any():
        return 0.0
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[present].mean())


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    """(K,) recall of each class; nan for a class absent from the truth."""
    support = cm.sum(1).astype(float)
    return np.divide(np.diag(cm).astype(float), support, out=np.full(len(cm), np.nan), where=support > 0)


def balanced_accuracy(cm: np.ndarray) -> float:
    """Mean per-class recall over the classes present in the truth."""
    r = per_class_recall(cm)
    return float(np.nanmean(r)) if np.isfinite(r).any() else 0.0
