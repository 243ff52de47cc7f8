"""``edgefer calibrate``: calibration set -> Q/DQ INT8 ONNX -> FP32 vs INT8 accuracy per factor."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from edgefer.deploy.calibset import load_or_make_calibration_set
from edgefer.deploy.quantize import METHODS, TARGETS, describe_qdq, qdq_violations, quantize_qdq
from edgefer.errors import EdgeferError
from edgefer.fileio import atomic_pair, sha256_file, write_json

log = logging.getLogger("edgefer.calibrate")


def int8_path_for(onnx_path: Path, target: str = "tensorrt") -> Path:
    return onnx_path.with_name(onnx_path.stem + (".int8.onnx" if target == "tensorrt" else ".int8-cpu.onnx"))


@contextlib.contextmanager
def quiet_quantizer() -> Iterator[None]:
    """ONNX Runtime's calibrator print()s "Collecting tensor data ..." and logs on the root logger: keep that out of
    the user's terminal (it goes to the debug log instead; ``edgefer -v`` shows it)."""
    buf = io.StringIO()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(buf):
            yield
    finally:
        root.setLevel(level)
        for line in buf.getvalue().splitlines():
            log.debug("onnxruntime.quantization: %s", line)


def set_metadata(path: Path, props: dict[str, str]) -> None:
    """Add (or replace) ONNX metadata_props ``props`` in the graph at ``path``, atomically."""
    import onnx

    from edgefer.fileio import atomic_path

    model = onnx.load(str(path))
    keep = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    for p in keep:
        model.metadata_props.add(key=p.key, value=p.value)
    for k, v in sorted(props.items()):
        model.metadata_props.add(key=k, value=v)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def copy_metadata(src: Path, dst: Path) -> None:
    """The quantizer drops the FP32 graph's ``edgefer.*`` metadata_props (abstain gate, classes): copy them over."""
    import onnx

    props = {p.key: p.value for p in onnx.load(str(src), load_external_data=False).metadata_props if p.key.startswith("edgefer.")}
    if props:
        set_metadata(dst, props)


def calibration_warnings(asked: int, got: int, split: str, eval_split: str | None, data: Path) -> list[str]:
    """What the user should see, not only in a log: a smaller set than asked, or calibrating on the evaluated split."""
    out = []
    if got < asked:
        out.append(f"--samples {asked}: {data} split {split!r} has only {got} faces, so the calibration set has {got}")
    if eval_split and eval_split == split:
        out.append(f"--split {split} and --eval-split {eval_split} are the same: the FP32-vs-INT8 report is measured on "
                   "the calibration faces and flatters INT8; use another split for --eval-split")
    return out


def precision_report(fp32: Path, int8: Path, data: Path, split: str, factors: Sequence[int]) -> dict[str, Any]:
    """Accuracy of both graphs (ONNX Runtime, CPU) on one split: {"fp32": result, "int8": result, "drop": {f: points}}."""
    from edgefer.backends.ort_runner import OnnxRuntimeRunner
    from edgefer.data import load_dataset
    from edgefer.evaluate import evaluate

    faces = load_dataset(data, split)
    out: dict[str, Any] = {"data": str(data), "split": split, "n": len(faces)}
    for name, path in (("fp32", fp32), ("int8", int8)):  # both ONNX (int8 may still be a .tmp of atomic_pair)
        with OnnxRuntimeRunner(str(path), providers=["CPUExecutionProvider"]) as runner:
            res = evaluate(runner.infer, faces.images, faces.labels, factors, description=f"evaluating {name}")
        out[name] = {"accuracy": res["accuracy"], "macro_f1": res["macro_f1"]}
    out["drop_points"] = {k: round(100 * (out["fp32"]["accuracy"][k] - out["int8"]["accuracy"][k]), 2)
                          for k in out["fp32"]["accuracy"]}
    return out


def calibrate(onnx_path: Path, data: Path, split: str, samples: int, method: str, out: Path | None, seed: int,
              calib_folder: Path, eval_split: str | None, factors: Sequence[int], target: str = "tensorrt") -> dict[str, Any]:
    if not onnx_path.is_file():
        raise EdgeferError(f"{onnx_path}: no such ONNX file (run `edgefer export` first)")
    if method not in METHODS or target not in TARGETS or samples < 1:  # fail before reading any data
        raise EdgeferError(f"--method must be one of {', '.join(METHODS)}, --target one of {', '.join(TARGETS)}, "
                           f"--samples at least 1 (got {method!r}, {target!r}, {samples})")
    out = out or int8_path_for(onnx_path, target)
    x, calib_manifest = load_or_make_calibration_set(data, split, samples, seed, calib_folder)
    log.info("calibrating on %d faces from %s (%s), method %s", len(x), data, split, method)
    warnings = calibration_warnings(samples, len(x), split, eval_split, data)
    for w in warnings:
        log.warning(w)
    # The graph and its report are one set (fileio.atomic_pair): a kill leaves the new graph without a
    # report at worst, never beside the previous graph's report.
    with atomic_pair(out, out.with_suffix(".json")) as (graph, report):
        with quiet_quantizer():
            quantize_qdq(onnx_path, x, graph, method, target=target)
        copy_metadata(onnx_path, graph)
        problems = qdq_violations(graph) if target == "tensorrt" else []
        if problems:
            raise EdgeferError(f"{out.name}: the Q/DQ graph breaks TensorRT's rules: {problems[0]} (and {len(problems) - 1} more)")
        manifest: dict[str, Any] = {"int8_onnx": str(out), "int8_sha256": sha256_file(graph), "fp32_onnx": str(onnx_path),
                                    "method": method, "target": target, "calibration_set": calib_manifest,
                                    "qdq": describe_qdq(graph), "warnings": warnings}
        if eval_split:
            manifest["accuracy"] = precision_report(onnx_path, graph, data, eval_split, factors)
        report.write_text(json.dumps(manifest, indent=2) + "\n")
    export_manifest = onnx_path.parent / "manifest.json"
    if export_manifest.is_file():  # record the INT8 result beside the export it came from
        try:
            m = json.loads(export_manifest.read_text())
            m.setdefault("int8", {})[out.name] = {k: manifest[k] for k in ("method", "target", "qdq", "accuracy") if k in manifest}
            m["int8"][out.name]["calibration_set"] = calib_manifest["file"]
            write_json(export_manifest, m)
        except (OSError, ValueError) as e:
            log.warning("could not update %s: %s", export_manifest, e)
    return manifest
