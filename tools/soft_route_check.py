"""Would a soft router beat the hard one? Cross-fitted on the holdout, never on FER2013Valid.

    .venv/bin/python tools/soft_route_check.py --data ../shared/data/ferplus edgefer/weights/fsrfer.pt

The routed model takes the sharp route's logits above one detail-score threshold and the small route's
below it. A soft router blends them, weighted linearly by the score between two thresholds lo < hi
(no extra compute: both routes already run on every face). Both are fitted on half of the holdout (the
router's own objective: mean over sizes of (accuracy + balanced accuracy) / 2) and scored on the other
half, for three random splits, both ways. Prints each fit and the mean scored objective and accuracy per
size. The model card's "soft routing" entry is this script's output for the default.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from edgefer.checkpoint import load_classifier
from edgefer.classes import CLASSES
from edgefer.metrics import accuracy, balanced_accuracy, confusion_matrix
from edgefer.training.common import holdout_keys, load_splits, logits_at, split_holdout
from edgefer.training.route import PX_FIT, detail_scores


def scores_by_size(sharp, small, score, labels, lo: float, hi: float, faces: np.ndarray, n: int) -> np.ndarray:
    """(len(PX_FIT), 2): accuracy and balanced accuracy per size of the router (lo, hi) on ``faces``."""
    w = np.clip((score - lo) / (hi - lo), 0, 1) if hi > lo else (score > lo).astype(float)
    pred = (w[:, None] * sharp + (1 - w[:, None]) * small).argmax(1)
    out = []
    for k in range(len(PX_FIT)):
        rows = k * n + faces
        cm = confusion_matrix(labels[rows], pred[rows], len(CLASSES))
        out.append((accuracy(cm), balanced_accuracy(cm)))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a routed checkpoint")
    ap.add_argument("--data", required=True)
    args = ap.parse_args()
    model, ck = load_classifier(args.model)
    if ck["kind"] != "routed":
        raise SystemExit(f"error: {args.model}: not a routed checkpoint (kind {ck['kind']!r})")
    if model.tiny is not None:
        raise SystemExit(f"error: {args.model}: has a tiny route; this check compares two routes only")
    cfg = holdout_keys(ck.get("config", {}))
    train, _ = load_splits(args.data, cfg.get("limit"), cfg["seed"])
    _, hold = split_holdout(train, cfg["holdout"], cfg["seed"])
    factors = [48 / px for px in PX_FIT]
    sharp, small = logits_at(model.sharp, hold.images, factors), logits_at(model.small, hold.images, factors)
    score, labels, n = detail_scores(hold.images, factors), np.tile(hold.labels, len(factors)), len(hold)

    grid = sorted(np.quantile(score, np.linspace(0.02, 0.98, 49)))
    candidates = [(q, q) for q in grid] + list(itertools.combinations(grid, 2))
    rng = np.random.default_rng(1)
    scored = {"hard": [], "soft": []}
    for _ in range(3):
        perm = rng.permutation(n)
        halves = (perm[: n // 2], perm[n // 2 :])
        for fit, test in ((0, 1), (1, 0)):
            fits = [(scores_by_size(sharp, small, score, labels, lo, hi, halves[fit], n).mean(), lo, hi)
                    for lo, hi in candidates]
            best = {"hard": max((f for f in fits if f[1] == f[2]), key=lambda f: f[0]), "soft": max(fits, key=lambda f: f[0])}
            line = []
            for name, (_, lo, hi) in best.items():
                r = scores_by_size(sharp, small, score, labels, lo, hi, halves[test], n)
                scored[name].append(r)
                line.append(f"{name} {lo:.2f}..{hi:.2f}: scored objective {r.mean():.4f}")
            print("; ".join(line))
    for name, runs in scored.items():
        r = np.mean(runs, 0)
        print(f"{name}: mean scored objective {r.mean():.4f}")
        print("  accuracy by px ", dict(zip(PX_FIT, np.round(100 * r[:, 0], 1).tolist())))
        print("  balanced by px ", dict(zip(PX_FIT, np.round(100 * r[:, 1], 1).tolist())))


if __name__ == "__main__":
    main()
