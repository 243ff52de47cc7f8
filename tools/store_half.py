"""Store a checkpoint's float weights as float16 (half the file; the models still run in float32):

    .venv/bin/python tools/store_half.py IN.pt OUT.pt

Every float tensor under ``state`` (nested route/member tables included) becomes float16; everything else
(config, calibration, metrics) is copied. Re-measure the result: its accuracy is what ships.
"""

from __future__ import annotations

import sys

import torch

from edgefer.checkpoint import load_checkpoint, save_checkpoint


def halve(tree):
    if isinstance(tree, dict):
        return {k: halve(v) for k, v in tree.items()}
    if isinstance(tree, torch.Tensor) and tree.is_floating_point():
        return tree.half()
    return tree


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    ckpt = load_checkpoint(argv[0])
    ckpt["state"] = halve(ckpt["state"])
    ckpt["stored_as"] = "float16 weights (tools/store_half.py); built in float32"
    save_checkpoint(ckpt, argv[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
