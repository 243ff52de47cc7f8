"""Would the sharp route help the tiny-face blend? Measured on the holdout, never on FER2013Valid.

    .venv/bin/python tools/tiny_blend_check.py --data ../shared/data/ferplus edgefer/weights/fsrfer.pt

A routed model with a tiny-face blend gives its tiniest faces (detail score at or below the tiny threshold)
the mean of the small and tiny routes' logits. The graph computes the sharp route on every face too, so
a share ``w`` of its logits would cost nothing. For w in 0-0.4 (the rest split evenly between the small
and tiny routes), prints accuracy and balanced accuracy on the holdout faces the blend serves at 12, 8
and 6 px, with each route's own decision rule (the route temperatures apart: argmax does not see them).

``--weights``: instead, the blend's own two knobs, with no sharp route: the tiny route's share ``t`` of
the blend (the graph's is 0.5) and a shift ``d`` of the blended logits by ``-d·log π`` (towards balance;
the small route's own rule leans to accuracy, λ = 0.5), with accuracy and balanced accuracy of *every*
holdout face at 12, 8 and 6 px (faces outside the blend keep their route's answer).
"""

from __future__ import annotations

import argparse

import numpy as np

from edgefer.checkpoint import _route, load_checkpoint
from edgefer.classes import CLASSES
from edgefer.metrics import accuracy, balanced_accuracy, confusion_matrix
from edgefer.training.common import holdout_keys, load_splits, logits_at, split_holdout
from edgefer.training.losses import log_prior
from edgefer.training.route import detail_scores

PX = (12, 8, 6)
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4)
TINY_SHARES = (0.5, 0.6, 0.7)
SHIFTS = (0.0, 0.1, 0.2, 0.3)


def scores_line(pred: np.ndarray, labels: np.ndarray, n: int) -> str:
    out = []
    for k, px in enumerate(PX):
        cm = confusion_matrix(labels[k * n : (k + 1) * n], pred[k * n : (k + 1) * n], len(CLASSES))
        out.append(f"{px} px {100 * accuracy(cm):.1f} / {100 * balanced_accuracy(cm):.1f}")
    return ", ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--data", required=True)
    ap.add_argument("--weights", action="store_true", help="the blend's tiny share and balance shift instead")
    args = ap.parse_args()
    ck = load_checkpoint(args.model)
    if ck["kind"] != "routed" or not ck["arch"].get("tiny_blend"):
        raise SystemExit(f"error: {args.model}: a routed model with a tiny-face blend is needed")
    cfg = holdout_keys(ck["config"])
    train, _ = load_splits(args.data, cfg.get("limit"), cfg["seed"])
    train, hold = split_holdout(train, cfg["holdout"], cfg["seed"])
    factors = [48 / px for px in PX]
    z = {name: logits_at(_route(ck, name).float(), hold.images, factors) for name in ("sharp", "small", "tiny")}
    blended = detail_scores(hold.images, factors) <= float(ck["arch"]["tiny_threshold"])
    labels, n = np.tile(hold.labels, len(PX)), len(hold)
    if args.weights:
        scores = detail_scores(hold.images, factors)
        routed = np.where(scores > float(ck["arch"]["threshold"]), z["sharp"].argmax(1), z["small"].argmax(1))
        log_pi = log_prior(train.labels, len(CLASSES)).numpy()
        for t in TINY_SHARES:
            for d in SHIFTS:
                pred = np.where(blended, ((1 - t) * z["small"] + t * z["tiny"] - d * log_pi).argmax(1), routed)
                print(f"tiny share {t:.1f}, shift {d:.1f}: {scores_line(pred, labels, n)}")
        return
    for k, px in enumerate(PX):
        rows = np.arange(k * n, (k + 1) * n)
        rows = rows[blended[rows]]
        print(f"{px} px: {len(rows)} of {n} holdout faces blended")
        for w in WEIGHTS:
            pred = (w * z["sharp"][rows] + (1 - w) * 0.5 * (z["small"][rows] + z["tiny"][rows])).argmax(1)
            cm = confusion_matrix(labels[rows], pred, len(CLASSES)) if len(rows) else None
            if cm is not None:
                print(f"  w {w:.1f}: accuracy {100 * accuracy(cm):.1f}, balanced {100 * balanced_accuracy(cm):.1f}")


if __name__ == "__main__":
    main()
