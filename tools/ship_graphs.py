"""Regenerate the graphs that ship inside the package from the shipped checkpoint, in one command:

    .venv/bin/python tools/ship_graphs.py [--data ../shared/data/ferplus]

edgefer/weights/fsrfer.pt -> edgefer/weights/fsrfer.onnx        (FP32, `edgefer export`'s fused graph)
                          -> edgefer/weights/fsrfer.int8-cpu.onnx (ONNX Runtime's U8S8 INT8 for x86 CPUs,
                                                                  `edgefer calibrate --target cpu`)
                          -> edgefer/weights/graphs.json          (sha256 of the source .pt and of each graph)

Why ship graphs at all: the first `edgefer infer` then runs ONNX Runtime, never torch (the Jetson has none,
and PyTorch's thread pool collapses on a busy CPU). tests/test_shipped_graphs.py fails when fsrfer.pt no
longer matches graphs.json: run this tool again after replacing the checkpoint.

Deterministic: same checkpoint, torch, onnxruntime and FER+ copy -> byte-identical graphs. The calibration
set (512 FER+ training faces, seed 0, degraded at factors 1-8) is built in a temporary folder and deleted:
FER+ is research-only and nothing derived from its images is committed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from edgefer.camera.defaults import SHIPPED_FP32, SHIPPED_INT8_CPU, SHIPPED_MANIFEST
from edgefer.fileio import atomic_path, sha256_file, write_json
from edgefer.paths import DEFAULT_MODEL

CALIB_SPLIT, CALIB_SAMPLES, CALIB_SEED, CALIB_METHOD = "train", 512, 0, "entropy"


def ship(checkpoint: Path, data: Path) -> dict:
    from edgefer.checkpoint import load_checkpoint
    from edgefer.deploy.calibrate import copy_metadata, quiet_quantizer, set_metadata
    from edgefer.deploy.calibset import load_or_make_calibration_set
    from edgefer.deploy.onnx_export import export_model
    from edgefer.deploy.quantize import quantize_qdq

    ckpt = load_checkpoint(checkpoint)
    with tempfile.TemporaryDirectory(prefix="ship-graphs-") as tmp:
        tmp = Path(tmp)
        export = export_model(checkpoint, tmp / "export")
        fp32 = tmp / "export" / export["main"]
        # the model's own metadata travels inside the graph (the camera loop reads "edgefer.abstain" from it)
        meta = {"edgefer.source_sha256": sha256_file(checkpoint), "edgefer.classes": json.dumps(list(ckpt["classes"]))}
        if ckpt.get("abstain"):
            meta["edgefer.abstain"] = json.dumps(ckpt["abstain"], sort_keys=True)
        set_metadata(fp32, meta)
        x, calib = load_or_make_calibration_set(data, CALIB_SPLIT, CALIB_SAMPLES, CALIB_SEED, tmp / "calibration")
        int8 = tmp / "export" / SHIPPED_INT8_CPU.name
        with quiet_quantizer():
            quantize_qdq(fp32, x, int8, CALIB_METHOD, target="cpu")
        copy_metadata(fp32, int8)
        for src, dst in ((fp32, SHIPPED_FP32), (int8, SHIPPED_INT8_CPU)):
            with atomic_path(dst) as t:
                Path(t).write_bytes(src.read_bytes())
    manifest = {
        "format": "edgefer-shipped-graphs",
        "regenerate": "python tools/ship_graphs.py --data ../shared/data/ferplus",
        "source": {"checkpoint": checkpoint.name, "sha256": sha256_file(checkpoint)},
        "graphs": {
            SHIPPED_FP32.name: {"sha256": sha256_file(SHIPPED_FP32), "precision": "fp32",
                                "made_by": "edgefer.deploy.onnx_export.export_model (opset 17)",
                                "check_against_torch": export["check"]},
            SHIPPED_INT8_CPU.name: {"sha256": sha256_file(SHIPPED_INT8_CPU), "precision": "int8 U8S8 (ONNX Runtime, x86)",
                                    "made_by": "edgefer.deploy.quantize.quantize_qdq(target='cpu')",
                                    "calibration": {"data": Path(data).name, "split": CALIB_SPLIT, "samples": calib["samples"],
                                                    "seed": CALIB_SEED, "method": CALIB_METHOD, "factors": calib["factors"]}},
        },
        "versions": export["versions"],
    }
    write_json(SHIPPED_MANIFEST, manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_MODEL, help="default: edgefer/weights/fsrfer.pt")
    p.add_argument("--data", type=Path, default=Path("../shared/data/ferplus"), help="FER+ copy for the INT8 calibration")
    a = p.parse_args(argv)
    if not a.data.is_dir():
        print(f"error: --data {a.data}: no such dataset folder (the INT8 calibration needs FER+)", file=sys.stderr)
        return 2
    m = ship(a.checkpoint, a.data)
    for name, g in m["graphs"].items():
        print(f"wrote edgefer/weights/{name} (sha256 {g['sha256'][:12]}…)")
    print(f"wrote {SHIPPED_MANIFEST} (source {m['source']['checkpoint']} sha256 {m['source']['sha256'][:12]}…)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
