"""``edgefer info``: what a model file is.

.pt      kind, classes, input, parameters, MFLOPs per face, training command, metrics (needs torch)
.onnx    inputs, outputs, opset, Q/DQ or not, embedded metadata, classes (no torch)
.engine  what its sidecar records: TensorRT version, GPU, precision, profile, DLA core, classes (no torch,
         no TensorRT)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgefer.cli.evaluate import ModelOpt


def info_command(
    model: ModelOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Describe a model: a checkpoint (.pt), an ONNX graph (.onnx) or a TensorRT engine (.engine/.plan, from its sidecar)."""
    from edgefer.backends.select import backend_for
    from edgefer.paths import DEFAULT_MODEL

    path = model or DEFAULT_MODEL
    backend = backend_for(path)  # one-line error for an unknown extension
    if backend == "onnxruntime":
        from edgefer.deploy.describe import describe_onnx

        return _print(describe_onnx(path), as_json)
    if backend == "tensorrt":
        from edgefer.deploy.describe import describe_engine

        return _print(describe_engine(path), as_json)
    from edgefer.checkpoint import load_classifier
    from edgefer.complexity import count_macs, count_parameters

    net, ckpt = load_classifier(path)
    macs = count_macs(net)
    desc = {
        "model": str(path),
        "kind": ckpt["kind"],
        "classes": ckpt["classes"],
        "input": ckpt["input"],
        "parameters": count_parameters(net),
        "mmacs_per_face": round(macs / 1e6, 2),
        "mflops_per_face": round(2 * macs / 1e6, 2),
        "file_mb": round(Path(path).stat().st_size / 1e6, 2),
        "command": ckpt.get("command"),
        "git_commit": ckpt.get("git_commit"),
        "accuracy": ckpt.get("metrics", {}).get("accuracy"),
        "macro_f1": ckpt.get("metrics", {}).get("macro_f1"),
    }
    _print(desc, as_json)


def _print(desc: dict, as_json: bool) -> None:
    import json

    if as_json:
        typer.echo(json.dumps(desc, indent=2))
        return
    for k, v in desc.items():
        if isinstance(v, dict):
            v = ", ".join(f"×{f}: {100 * a:.1f}%" for f, a in v.items()) if k in ("accuracy", "macro_f1") else v
        typer.echo(f"{k:>16}: {v}")
