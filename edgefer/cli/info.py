"""``edgefer info``: what a model file is.

.pt      kind, classes, input, parameters, MFLOPs per face, training command, metrics, and for a routed
         model which faces each route takes (needs torch)
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
        "balanced_accuracy": ckpt.get("metrics", {}).get("balanced_accuracy"),
        "macro_f1": ckpt.get("metrics", {}).get("macro_f1"),
    }
    if ckpt["kind"] == "routed":
        desc["routes"] = route_summary(ckpt)
    _print(desc, as_json)


def route_summary(ckpt: dict) -> dict[str, str]:
    """Which faces each route of a routed checkpoint takes (by the router's detail score) and what it is."""
    arch = ckpt["arch"]
    upper, lower = arch["threshold"], arch.get("tiny_threshold")
    temps = (ckpt.get("calibration") or {}).get("route_temperature") or {}
    out = {}
    for name, route in arch["routes"].items():
        what = route["kind"]
        if route["kind"] == "ensemble":
            flip = route["arch"].get("flip", False)
            views = "mirrored" if flip is True else ("no mirror" if not flip else f"mirror per member {flip}")
            what = f"ensemble of {len(route['arch']['members'])} ({views})"
        span = {"sharp": f"score > {upper:.3f}",
                "small": f"{lower:.3f} < score ≤ {upper:.3f}" if lower is not None else f"score ≤ {upper:.3f}",
                "tiny": f"score ≤ {lower:.3f}" if lower is not None else ""}[name]
        blend = ", blended with small" if name == "tiny" and arch.get("tiny_blend") else ""
        temp = f", T {temps[name]:.3f}" if name in temps else ""
        out[name] = f"{what}{blend}; {span}{temp}"
    return out


def _print(desc: dict, as_json: bool) -> None:
    import json

    if as_json:
        typer.echo(json.dumps(desc, indent=2))
        return
    for k, v in desc.items():
        if isinstance(v, dict):
            if k in ("accuracy", "balanced_accuracy", "macro_f1"):
                v = ", ".join(f"×{f}: {100 * a:.1f}%" for f, a in v.items())
            elif k == "routes":
                v = "; ".join(f"{name}: {what}" for name, what in v.items())
        typer.echo(f"{k:>17}: {v}")
