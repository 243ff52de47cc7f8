"""What the confidence gate costs: per face size, the share of faces kept and the accuracy of the kept and
of the abstained faces, at the model's own threshold (checkpoint ``abstain``) and a few others.

    .venv/bin/python tools/abstain_coverage.py --model edgefer/weights/fsrfer.pt --data ../shared/data/ferplus
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from edgefer.backends import load_runner
from edgefer.confidence import coverage_curve
from edgefer.data import load_dataset
from edgefer.evaluate import predict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--factors", default="1,4,6")
    args = ap.parse_args()
    faces = load_dataset(args.data, args.split)
    with load_runner(args.model) as runner:
        own = (runner.meta.get("abstain") or {}).get("min_confidence")
        thresholds = sorted({0.3, 0.4, 0.5, *([own] if own else [])})
        for f in (int(x) for x in args.factors.split(",")):
            probs = predict(runner.infer, faces.images, f)
            for row in coverage_curve(probs, faces.labels, np.array(thresholds)):
                print(json.dumps({"factor": f, "own_threshold": row["threshold"] == own, **{k: round(v, 4) for k, v in row.items()}}))


if __name__ == "__main__":
    main()
