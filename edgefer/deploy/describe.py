"""What an exported graph or a built engine is, without torch (``edgefer info``, ``build-engine``).

    describe_onnx("export/fsrfer.int8.onnx")  -> {"format": "onnx", "opset": 17, "inputs": {"faces": [-1, 1, 48, 48]},
                                                  "outputs": {"logits": [-1, 8]}, "qdq": True, "metadata": {...},
                                                  "classes": [...], ...}
    describe_engine("export/fsrfer.fp16.engine") -> the engine's sidecar fields (TensorRT is not needed)
    classes_for_onnx(path)                     -> the class list: the graph's ``edgefer.classes`` metadata,
                                                  else the export manifest.json beside it, else None
                                                  (``edgefer.backends.contract.onnx_class_names``: one definition)

Shapes use -1 for a symbolic (batch) axis. ``onnx`` is used when installed, else ONNX Runtime (the
Jetson image may carry either); neither imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgefer.backends.contract import onnx_class_names
from edgefer.errors import EdgeferError
from edgefer.fileio import sha256_file

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def _with_onnx(path: Path) -> dict[str, Any]:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises its own types for a file that is not ONNX
        raise EdgeferError(f"{path}: not a readable ONNX graph ({type(e).__name__})") from None
    g = model.graph

    def dims(vi: Any) -> list[int]:
        return [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]

    inits = {t.name for t in g.initializer}
    ops = [n.op_type for n in g.node]
    return {
        "opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".strip() or None,
        "inputs": {i.name: dims(i) for i in g.input if i.name not in inits},
        "outputs": {o.name: dims(o) for o in g.output},
        "nodes": len(ops),
        "qdq": any(op in QDQ_OPS for op in ops),
        "quantize_linear": ops.count("QuantizeLinear"),
        "metadata": {p.key: p.value for p in model.metadata_props},
    }


def _with_onnxruntime(path: Path) -> dict[str, Any]:
    try:
        import onnxruntime as ort
    except ImportError:
        raise EdgeferError(f"{path}: describing an ONNX graph needs the onnx or onnxruntime package") from None
    try:
        s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - ORT raises its own types for a bad graph
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise EdgeferError(f"{path}: ONNX Runtime cannot load this graph ({first})") from None

    def dims(shape: list[Any]) -> list[int]:
        return [d if isinstance(d, int) else -1 for d in shape]

    meta = s.get_modelmeta()
    return {"opset": None, "inputs": {i.name: dims(i.shape) for i in s.get_inputs()},
            "outputs": {o.name: dims(o.shape) for o in s.get_outputs()}, "qdq": None,
            "metadata": dict(meta.custom_metadata_map), "producer": meta.producer_name or None}


def describe_onnx(path: str | Path) -> dict[str, Any]:
    """Inputs, outputs, opset, Q/DQ or not, embedded metadata and classes of an ONNX graph."""
    path = Path(path)
    if not path.is_file():
        raise EdgeferError(f"{path}: no such ONNX file")
    try:
        import onnx  # noqa: F401 - only to choose the reader
    except ImportError:
        desc = _with_onnxruntime(path)
    else:
        desc = _with_onnx(path)
    classes, _ = onnx_class_names(path, desc["metadata"])
    return {"model": str(path), "format": "onnx", **desc, "classes": classes,
            "file_mb": round(path.stat().st_size / 1e6, 2), "sha256": sha256_file(path)}


def classes_for_onnx(path: str | Path) -> list[str] | None:
    """The class names an ONNX classifier was exported with, or None when nothing says."""
    path = Path(path)
    try:
        import onnx
    except ImportError:
        meta = None
    else:
        try:
            meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        except Exception:  # noqa: BLE001 - build-engine reports an unreadable ONNX itself
            meta = None
    classes, _ = onnx_class_names(path, meta)
    return classes


def describe_engine(path: str | Path) -> dict[str, Any]:
    """An engine as its sidecar describes it (no TensorRT needed); one-line error without a sidecar."""
    from edgefer.engine.sidecar import read_sidecar, sidecar_path

    path = Path(path)
    if not path.is_file():
        raise EdgeferError(f"{path}: no such engine file")
    side = read_sidecar(path)
    if side is None:
        raise EdgeferError(f"{path}: no sidecar {sidecar_path(path).name}: edgefer cannot describe an engine it did not build")
    keys = ("onnx", "onnx_sha256", "trt_version", "device_name", "compute_capability", "precision", "int8_mode",
            "profile", "dla_core", "inputs", "outputs", "classes", "calibration", "engine_bytes", "built_at",
            "edgefer_version")
    return {"model": str(path), "format": "tensorrt-engine", **{k: side.get(k) for k in keys},
            "file_mb": round(path.stat().st_size / 1e6, 2)}
