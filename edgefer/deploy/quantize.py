"""Explicit INT8: Q/DQ ONNX graphs made with ONNX Runtime's quantize_static, for two targets.

- ``tensorrt`` (default): what TensorRT accepts (deploy.md): signed INT8 with zero-point 0, per-channel
  weights (axis 0 for Conv), per-tensor activations, no INT32 bias DequantizeLinear, Q/DQ on the inputs
  of Conv/Gemm. ONNX Runtime's defaults (UINT8, non-zero zero-points, INT32 bias) break these rules.
- Both keep the **graph outputs in float**: ONNX Runtime puts a Q/DQ pair on every Conv/Gemm output, the
  classifier's logits included; TensorRT keeps explicit Q/DQ, so the logits would sit on a 256-level grid
  (top classes clip and tie). ``keep_outputs_float`` removes that last pair; ``qdq_violations`` checks it.
- Both keep the **first convolution in float**: it reads raw grey levels, and 8-bit steps on them cost
  4-7 accuracy points on small faces (measured: BENCHMARKS.md); it is 1 % of the model's MACs.
- ``cpu``: ONNX Runtime's own x86 format, UINT8 activations and INT8 weights (U8S8). On CPUs without
  AVX-VNNI, ONNX Runtime runs S8S8 convolutions no faster than FP32, and U8S8 ones well faster
  (measured in BENCHMARKS.md). This graph is for ONNX Runtime on a CPU only, never for TensorRT.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgefer.errors import EdgeferError
from edgefer.fileio import atomic_path, clean_scratch, temp_prefix

log = logging.getLogger("edgefer.calibrate")

METHODS = ("entropy", "minmax", "percentile")
TARGETS = ("tensorrt", "cpu")


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol over an in-memory calibration set."""

    def __init__(self, x: np.ndarray, input_name: str, batch: int) -> None:
        # Equal batches: ORT's histogram collectors cannot stack a shorter last batch.
        batch = max(b for b in range(1, min(batch, len(x)) + 1) if len(x) % b == 0)
        self.batches = [x[i : i + batch] for i in range(0, len(x), batch)]
        self.input_name = input_name
        self.i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return {self.input_name: np.ascontiguousarray(self.batches[self.i - 1])}

    def rewind(self) -> None:
        self.i = 0


def input_layers(nodes) -> list[str]:
    """The Conv/Gemm nodes with no Conv/Gemm upstream: the layers that read the image itself. One in a plain
    graph; in a routed graph each route's; in an ensemble each member's, for each view (the mirrored one too).
    ``nodes`` in graph order (ONNX graphs are topologically sorted)."""
    downstream: set[str] = set()  # tensors computed from some Conv/Gemm's output
    found = []
    for n in nodes:
        is_layer, fed = n.op_type in ("Conv", "Gemm"), any(t in downstream for t in n.input)
        if is_layer and not fed:
            found.append(n.name)
        if is_layer or fed:
            downstream.update(n.output)
    return found


def first_conv(path: Path) -> list[str]:
    """Names of the nodes kept in float: the input layers (``input_layers``: INT8 on the raw image costs 4-8
    points), and in a routed graph (``edgefer.models.gate``) the whole router (its detail score and the
    selection), whose threshold INT8 rounding would move."""
    import onnx  # (not edgefer.checkpoint: calibrate runs where torch is not installed)

    nodes = onnx.load(str(path)).graph.node
    router = [n.name for n in nodes if n.name.startswith("/score/") or n.name.count("/") == 1]
    if not any(n.startswith("/score/") for n in router):
        router = []
    return list(dict.fromkeys(router + input_layers(nodes)))


def _options(target: str, keep_float: list[str]) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType

    if target == "tensorrt":
        return {"activation_type": QuantType.QInt8, "weight_type": QuantType.QInt8, "per_channel": True,
                "op_types_to_quantize": ["Conv", "Gemm"], "nodes_to_exclude": keep_float,
                "extra_options": {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False}}
    return {"activation_type": QuantType.QUInt8, "weight_type": QuantType.QInt8, "per_channel": True,
            "nodes_to_exclude": keep_float, "extra_options": {}}


def quantize_qdq(onnx_path: Path, x: np.ndarray, out: Path, method: str = "entropy", batch: int = 64,
                 target: str = "tensorrt") -> Path:
    """Write a Q/DQ INT8 copy of ``onnx_path`` calibrated on ``x`` (n, 1, S, S) for ``target``; atomic."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in METHODS:
        raise EdgeferError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    if target not in TARGETS:
        raise EdgeferError(f"--target {target!r}: expected one of {', '.join(TARGETS)}")
    calib = {"entropy": CalibrationMethod.Entropy, "minmax": CalibrationMethod.MinMax,
             "percentile": CalibrationMethod.Percentile}[method]
    import onnx

    try:
        input_name = onnx.load(str(onnx_path), load_external_data=False).graph.input[0].name
    except Exception as e:  # not an ONNX file
        raise EdgeferError(f"{onnx_path}: not a readable ONNX graph ({type(e).__name__})") from None
    clean_scratch("edgefer-quant-")  # scratch folders of killed runs
    with tempfile.TemporaryDirectory(prefix=temp_prefix("edgefer-quant-")) as tmp:
        prepped = Path(tmp) / "prepped.onnx"
        quant_pre_process(str(onnx_path), str(prepped), skip_symbolic_shape=True)
        with atomic_path(out) as dst:
            opts = _options(target, first_conv(prepped))
            opts["extra_options"]["CalibMovingAverage"] = method == "minmax"
            quantize_static(str(prepped), str(dst), _Reader(x, input_name, batch), quant_format=QuantFormat.QDQ,
                            calibrate_method=calib, **opts)
            model = onnx.load(str(dst))
            if keep_outputs_float(model):
                onnx.save(model, str(dst))
    return out


def keep_outputs_float(model: Any) -> list[str]:
    """Remove the Q->DQ pair in front of every graph output (in place); returns the outputs changed.

    ``X -> QuantizeLinear -> DequantizeLinear -> logits`` becomes ``X -> logits``: the producer of X (the
    classifier Gemm) now writes the graph output itself, and its inputs stay quantized.
    (OpTypesToExcludeOutputQuantization would drop the output Q/DQ of every Gemm, the embedding's too.)
    """
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    uses: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    changed = []
    for out in graph.output:
        dq = producer.get(out.name)
        q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        if q is None or q.op_type != "QuantizeLinear" or uses.get(dq.input[0]) != 1:
            continue
        src = q.input[0]
        for n in graph.node:  # the float tensor takes the output's name, for its producer and other readers
            n.input[:] = [out.name if i == src else i for i in n.input]
            n.output[:] = [out.name if o == src else o for o in n.output]
        graph.node.remove(q)
        graph.node.remove(dq)
        for vi in [v for v in graph.value_info if v.name == src]:
            graph.value_info.remove(vi)
        changed.append(out.name)
    if changed:  # scales and zero-points nobody reads any more
        used = {i for n in graph.node for i in n.input}
        for init in [t for t in graph.initializer if t.name not in used]:
            graph.initializer.remove(init)
    return changed


def qdq_violations(path: Path) -> list[str]:
    """Every way the graph breaks TensorRT's explicit-quantization rules (empty list = compliant)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    problems: list[str] = []
    n_q = 0
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            n_q += 1
            scale = inits.get(node.input[1])
            zp = inits.get(node.input[2]) if len(node.input) > 2 else None
            if zp is not None and (zp.dtype != np.int8 or np.any(zp != 0)):
                problems.append(f"{node.name}: zero-point must be int8 0, got {zp.dtype} {np.unique(zp)[:4]}")
            x = inits.get(node.input[0])
            if node.op_type == "DequantizeLinear" and x is not None and x.dtype == np.int32:
                problems.append(f"{node.name}: INT32 bias DequantizeLinear")
            if scale is not None and scale.size > 1 and x is None:
                problems.append(f"{node.name}: activation quantized per-channel (must be per-tensor)")
        if node.op_type in ("Conv", "Gemm"):
            fed = [producer.get(name) is not None and producer[name].op_type == "DequantizeLinear" for name in node.input[:2]]
            if not any(fed):
                continue  # a layer kept in float on purpose (the input conv): TensorRT runs it unquantized
            for i, name in enumerate(node.input[:2]):
                src = producer.get(name)
                if not fed[i]:
                    problems.append(f"{node.name}: input {i} ({name}) is not fed by DequantizeLinear")
                elif i == 1 and node.op_type == "Conv":
                    scale = inits.get(src.input[1])
                    axis = next((a.i for a in src.attribute if a.name == "axis"), 1)
                    if scale is None or scale.size <= 1 or axis != 0:
                        problems.append(f"{node.name}: weights must be per-channel on axis 0")
    for out in graph.output:
        src = producer.get(out.name)
        if src is not None and src.op_type == "DequantizeLinear":
            problems.append(f"graph output {out.name!r} comes from a DequantizeLinear: TensorRT would quantize it to 8 bits")
    if n_q == 0:
        problems.append("no QuantizeLinear/DequantizeLinear nodes: not a Q/DQ graph")
    return problems


def describe_qdq(path: Path) -> dict[str, Any]:
    import onnx

    graph = onnx.load(str(path)).graph
    ops = [n.op_type for n in graph.node]
    return {"quantize_linear": ops.count("QuantizeLinear"), "dequantize_linear": ops.count("DequantizeLinear"),
            "conv": ops.count("Conv"), "gemm": ops.count("Gemm")}
