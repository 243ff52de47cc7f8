"""Compare candidate checkpoints on the edge recipe's holdout (training faces no model trained on), never
on FER2013Valid: the shipped default is chosen here.

    .venv/bin/python tools/holdout_eval.py --data ../shared/data/ferplus --seed 0 --holdout 2000 A.pt B.pt ...

Prints accuracy and balanced accuracy per factor and their means over factors 1-8, as JSON lines.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from edgefer.checkpoint import load_classifier
from edgefer.degrade import FACTORS_EVAL
from edgefer.evaluate import evaluate
from edgefer.training.common import load_splits, probs_fn, split_holdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--holdout", type=int, default=2000)
    args = ap.parse_args()
    train, _ = load_splits(args.data, None, args.seed)
    _, hold = split_holdout(train, args.holdout, args.seed)
    for path in args.models:
        model, _ = load_classifier(path)
        r = evaluate(probs_fn(model), hold.images, hold.labels, FACTORS_EVAL, description=path)
        print(json.dumps({"model": path, "accuracy": r["accuracy"], "balanced_accuracy": r["balanced_accuracy"],
                          "mean_accuracy": float(np.mean(list(r["accuracy"].values()))),
                          "mean_balanced_accuracy": float(np.mean(list(r["balanced_accuracy"].values())))}))


if __name__ == "__main__":
    main()
