"""``edgefer export`` (and, with the TensorRT tooling, calibrate and build-engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgefer.cli.evaluate import ModelOpt


def export_command(
    model: ModelOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the graphs (default: the top-level export/).")] = None,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset (TensorRT 10 parses 9-20).")] = 17,
    max_batch: Annotated[int, typer.Option("--max-batch", help="Largest batch checked, and the engines' default max.")] = 64,
) -> None:
    """Export the model to ONNX (fused graph, backbone, G, head), check it against PyTorch, write manifest.json."""
    from edgefer.checkpoint import DEFAULT_MODEL
    from edgefer.cli.common import in_file, out_dir
    from edgefer.deploy.onnx_export import export_model
    from edgefer.paths import export_dir

    out = out or export_dir()
    in_file("--model", model, "checkpoint")
    out_dir("--out", out)
    m = export_model(model or DEFAULT_MODEL, out, opset, max_batch)
    c = m["check"]
    typer.echo(f"checked {m['main']} against PyTorch on {c['faces']} at factors {c['factors']}, batches {c['batches']}: "
               f"max |Δp| = {c['max_abs_diff_probs']:.2e}, argmax agreement {100 * c['argmax_agreement']:.1f}%")
    for name, f in m["files"].items():
        typer.echo(f"  {out / name}  ({f['bytes'] / 1e6:.2f} MB, sha256 {f['sha256'][:12]}…)")
    typer.echo(f"  {out / 'manifest.json'}")


def calibrate_command(
    data: Annotated[Path, typer.Option("--data", help="Dataset whose real faces calibrate the graph.")],
    onnx: Annotated[Path | None, typer.Option("--onnx", help="FP32 graph (default: export/fsrfer.onnx).")] = None,
    split: Annotated[str, typer.Option("--split", help="Split the calibration faces come from.")] = "train",
    samples: Annotated[int, typer.Option("--samples", help="Calibration faces (spread over factors 1-8).")] = 512,
    method: Annotated[str, typer.Option("--method", help="entropy | minmax | percentile.")] = "entropy",
    out: Annotated[Path | None, typer.Option("--out", help="INT8 graph (default: <onnx>.int8.onnx, or .int8-cpu.onnx).")] = None,
    target: Annotated[str, typer.Option("--target", help="tensorrt: S8S8 Q/DQ that TensorRT accepts | cpu: ONNX Runtime's "
                                        "faster U8S8 for x86 CPUs (not for TensorRT).")] = "tensorrt",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the calibration set.")] = 0,
    calib_dir: Annotated[Path | None, typer.Option("--calib-dir", help="Where calibration sets go (default: calibration/).")] = None,
    eval_split: Annotated[str, typer.Option("--eval-split", help="Split for the FP32-vs-INT8 report ('none' skips it).")] = "val",
    factors: Annotated[str, typer.Option("--factors", help="Factors of the report.")] = "1,2,3,4,6,8",
) -> None:
    """Build a calibration set from real faces and write a Q/DQ INT8 ONNX that TensorRT accepts."""
    from rich.console import Console
    from rich.table import Table

    from edgefer.cli.common import choice, factor_list, in_file, out_dir, out_file, positive_int
    from edgefer.deploy.calibrate import calibrate
    from edgefer.errors import EdgeferError
    from edgefer.paths import calibration_dir, export_dir

    # every option and the graph itself before the calibration set or the INT8 graph is written (#11)
    parsed = factor_list("--factors", factors)
    positive_int("--samples", samples, maximum=1_000_000)
    choice("--split", split, ("train", "val", "test", "all"))
    choice("--eval-split", eval_split, ("train", "val", "test", "all", "none"))
    if not data.exists():
        raise EdgeferError(f"--data {data}: no such file or folder")
    onnx = onnx or export_dir() / "fsrfer.onnx"
    in_file("--onnx", onnx, "ONNX file (run `edgefer export` first)")
    if out is not None:
        out_file("--out", out)
    out_dir("--calib-dir", calib_dir or calibration_dir())
    from edgefer.backends.ort_runner import OnnxRuntimeRunner

    with OnnxRuntimeRunner(str(onnx), providers=["CPUExecutionProvider"]):  # the model contract (input, classes, finite)
        pass
    m = calibrate(onnx, data, split, samples, method, out, seed, calib_dir or calibration_dir(),
                  None if eval_split == "none" else eval_split, parsed, target)
    for w in m.get("warnings", []):  # after the progress bars, where the user reads
        typer.secho(f"warning: {w}", err=True, fg="yellow")
    typer.echo(f"wrote {m['int8_onnx']} ({m['qdq']['quantize_linear']} Q / {m['qdq']['dequantize_linear']} DQ nodes; "
               f"calibration set {m['calibration_set']['file']})")
    if "accuracy" in m:
        a = m["accuracy"]
        table = Table(title=f"FP32 vs INT8 (ONNX Runtime, CPU) on {Path(a['data']).name} {a['split']} (n={a['n']})")
        table.add_column("")
        keys = list(a["fp32"]["accuracy"])
        for k in keys:
            table.add_column(f"×{k}", justify="right")
        for name in ("fp32", "int8"):
            table.add_row(name, *(f"{100 * a[name]['accuracy'][k]:.2f}" for k in keys))
        table.add_row("drop (points)", *(f"{a['drop_points'][k]:+.2f}" for k in keys))
        Console(width=max(Console().width, 120)).print(table)


def build_engine_command(
    onnx: Annotated[Path, typer.Option("--onnx", help="ONNX graph: fsrfer.onnx, its .int8.onnx, or any other (a detector).")],
    precision: Annotated[str, typer.Option("--precision", help="fp32 | fp16 | int8.")] = "fp16",
    int8_mode: Annotated[str, typer.Option("--int8-mode", help="qdq (a Q/DQ graph from calibrate, strongly typed) | qdq-fp16 "
                                           "(the same graph, float parts in FP16: try first on Orin) | implicit "
                                           "(calibrator; DLA).")] = "qdq",
    min_batch: Annotated[int | None, typer.Option("--min-batch", help="Smallest batch of the profile (default 1; with --dla: the fixed batch).")] = None,
    opt_batch: Annotated[int | None, typer.Option("--opt-batch", help="Batch TensorRT tunes for (default 8; with --dla the fixed batch).")] = None,
    max_batch: Annotated[int | None, typer.Option("--max-batch", help="Largest batch of the profile (default 32; with --dla: the fixed batch).")] = None,
    workspace: Annotated[int, typer.Option("--workspace", help="Workspace pool limit (MB).")] = 1024,
    timing_cache: Annotated[Path | None, typer.Option("--timing-cache", help="Timing cache to load and update.")] = None,
    dla: Annotated[int | None, typer.Option("--dla", help="DLA core (with GPU fallback); fp16 or implicit int8; a fixed batch "
                                            "(--opt-batch, default 8).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Engine file (default: export/<onnx stem>.<precision>.engine).")] = None,
    calib_set: Annotated[Path | None, typer.Option("--calib-set", help="Implicit INT8: a calibration .npz from `edgefer calibrate`.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Implicit INT8 without --calib-set: build one from this dataset.")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Implicit INT8: calibration faces.")] = 512,
    calib_method: Annotated[str, typer.Option("--calib-method", help="Implicit INT8: entropy | minmax.")] = "entropy",
    calib_cache: Annotated[Path | None, typer.Option("--calib-cache", help="TensorRT calibration cache (read only if its key "
                                                     "matches this ONNX, calibration set and batch; then written).")] = None,
) -> None:
    """Build a TensorRT 10 engine (with a JSON sidecar) from an ONNX graph. Needs TensorRT: JetPack or Dockerfile.jetson."""
    from edgefer.engine.builder import build_engine, check_build_args
    from edgefer.engine.trt_import import import_tensorrt
    from edgefer.errors import EdgeferError
    from edgefer.cli.common import positive_int
    from edgefer.paths import calibration_dir, export_dir

    for name, value in (("--min-batch", min_batch), ("--opt-batch", opt_batch), ("--max-batch", max_batch)):
        positive_int(name, value, maximum=4096, allow_none=True)  # 0 is not "the default" (#11)
    positive_int("--samples", samples, maximum=1_000_000)
    if not onnx.is_file():
        raise EdgeferError(f"{onnx}: no such ONNX file (run `edgefer export` first)")
    stem = onnx.stem if onnx.stem.endswith(f".{precision}") else f"{onnx.stem}.{precision}"  # fsrfer.int8.onnx -> fsrfer.int8
    out = out or export_dir() / f"{stem}.engine"
    implicit = precision == "int8" and int8_mode == "implicit"
    if dla is not None:  # the DLA takes one fixed batch: every flag left out follows the one given (or 8)
        fixed = opt_batch or min_batch or max_batch or 8
        min_batch, opt_batch, max_batch = min_batch or fixed, opt_batch or fixed, max_batch or fixed
    else:
        min_batch, opt_batch, max_batch = min_batch or 1, opt_batch or 8, max_batch or 32
    check_build_args(out, precision, int8_mode, min_batch, opt_batch, max_batch, workspace, dla,
                     object() if implicit else None)  # the calibrator comes later, after TensorRT is found
    trt = import_tensorrt()  # before any slow work: a machine without TensorRT stops here, with nothing written
    calibrator = None
    if implicit:
        import numpy as np

        from edgefer.deploy.calibset import load_or_make_calibration_set
        from edgefer.engine.calibrator import make_calibrator

        if calib_set:
            try:
                with np.load(calib_set) as z:
                    x = z["x"]
            except (OSError, ValueError, KeyError):
                raise EdgeferError(f"{calib_set}: not a calibration set from `edgefer calibrate` (needs an 'x' array)") from None
        elif data:
            x, _ = load_or_make_calibration_set(data, "train", samples, 0, calibration_dir())
        else:
            raise EdgeferError("--int8-mode implicit needs --calib-set F.npz or --data DIR for calibration faces")
        from edgefer.engine.calibrator import calibration_key
        from edgefer.fileio import sha256_file

        # keyed by ONNX, calibration set and batch: a re-export or another set never reuses old scales
        onnx_sha256, batch = sha256_file(onnx), min(opt_batch, len(x))
        key = calibration_key(onnx_sha256, x, batch, calib_method)
        cache = calib_cache or calibration_dir() / f"{onnx.stem}.{calib_method}.b{batch}.{key['digest']}.trtcache"
        calibrator = make_calibrator(calib_method, x, batch, cache, onnx_sha256=onnx_sha256)
    from edgefer.deploy.describe import classes_for_onnx

    classes = classes_for_onnx(onnx)
    if classes is None:
        typer.secho(f"warning: no class names for {onnx.name} (no 'classes' metadata, no manifest.json beside it): "
                    "the engine's sidecar will not name its classes", err=True)
    path = build_engine(onnx, out, precision, int8_mode, min_batch, opt_batch, max_batch, workspace, timing_cache, dla,
                        calibrator, extra={"classes": classes} if classes else None)
    typer.echo(f"wrote {path} (TensorRT {trt.__version__}, {precision}{' ' + int8_mode if precision == 'int8' else ''}, "
               f"batch {min_batch}/{opt_batch}/{max_batch}) and its sidecar {path}.json")
