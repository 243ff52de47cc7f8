"""Calibrated confidence: expected calibration error, temperature scaling, and the abstention threshold.

Temperature scaling (Guo et al. 2017) divides the logits by one scalar T, fitted by minimising the
negative log-likelihood on faces the model never trained on. It leaves every prediction's class as it
is and makes the reported probability mean what it says, so a confidence threshold means the same thing
on every backend. The fitted T is stored in the checkpoint and folded into the exported graph.
numpy only: it runs wherever the runtime runs.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """ECE: Σ_b (n_b / N)·|accuracy_b − mean confidence_b| over equal-width bins of top-1 confidence."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels)
    if len(labels) == 0:
        return 0.0
    conf = probs.max(1)
    correct = probs.argmax(1) == labels
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)  # bin b holds (b/n, (b+1)/n]; 1.0 in the last
    ece = 0.0
    for b in np.unique(bins):
        m = bins == b
        ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    p = softmax(logits, temperature)[np.arange(len(labels)), labels]
    return float(-np.log(np.maximum(p, 1e-12)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The T in [lo, hi] that minimises the NLL of softmax(logits / T): golden-section search on log T
    (the NLL is unimodal in T for fixed logits)."""
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, np.exp(c)), nll(logits, labels, np.exp(d))
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, np.exp(d))
    return float(np.exp((a + b) / 2))


def coverage_curve(probs: np.ndarray, labels: np.ndarray, thresholds: np.ndarray) -> list[dict[str, float]]:
    """For each confidence threshold: the share of faces kept (coverage), the accuracy on those kept, and
    the accuracy of those that would be reported unknown."""
    conf = np.asarray(probs).max(1)
    correct = np.asarray(probs).argmax(1) == np.asarray(labels)
    out = []
    for t in thresholds:
        keep = conf >= t
        out.append({"threshold": float(t), "coverage": float(keep.mean()),
                    "accuracy_kept": float(correct[keep].mean()) if keep.any() else float("nan"),
                    "accuracy_abstained": float(correct[~keep].mean()) if (~keep).any() else float("nan")})
    return out


def abstain_threshold(probs: np.ndarray, labels: np.ndarray, max_wrong: float = 0.7, max_abstain: float = 0.15) -> float:
    """The confidence under which a prediction is more likely wrong than right by ``max_wrong`` (the faces
    below it are at most 30 % correct: guesses), capped so that at most ``max_abstain`` of the faces are
    reported unknown. Chosen on held-out faces, never on the evaluation split."""
    conf = np.asarray(probs).max(1)
    correct = np.asarray(probs).argmax(1) == np.asarray(labels)
    order = np.argsort(conf, kind="stable")
    wrong_share = 1.0 - np.cumsum(correct[order]) / np.arange(1, len(conf) + 1)  # of the n least confident
    best = 0.0
    for n in range(1, min(int(max_abstain * len(conf)), len(conf) - 1) + 1):  # abstain on the n least confident
        if wrong_share[n - 1] >= max_wrong:
            best = float(conf[order[n]])  # the gate keeps conf >= threshold: the first face kept
    return best
