"""Tests of edgefer.engine. Helpers shared with tests/backends/test_trt_runner.py live here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def tiny_onnx(path: Path, classes: int = 8, dynamic: bool = True, seed: int = 0) -> np.ndarray:
    """Write a tiny classifier ONNX: faces (N, 1, 48, 48) -> Flatten -> Gemm -> logits (N, classes).

    Returns the Gemm weight (2304, classes) so a test can compute the expected logits.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((48 * 48, classes)) / 255.0).astype(np.float32)
    b = rng.standard_normal(classes).astype(np.float32)
    batch = "N" if dynamic else 2
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["faces"], ["flat"], axis=1),
         helper.make_node("Gemm", ["flat", "W", "B"], ["logits"])],
        "tiny",
        [helper.make_tensor_value_info("faces", TensorProto.FLOAT, [batch, 1, 48, 48])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by TensorRT 10.x's parser and onnxruntime alike
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return w


def tiny_qdq_onnx(path: Path) -> Path:
    """The tiny classifier with a Q/DQ pair on its input (what `edgefer calibrate` makes, in miniature)."""
    import onnx
    from onnx import helper, numpy_helper

    fp32 = path.with_name(path.stem + ".fp32.onnx")
    tiny_onnx(fp32)
    model = onnx.load(str(fp32))
    g = model.graph
    g.initializer.extend([numpy_helper.from_array(np.array(2.0, np.float32), "s"),
                          numpy_helper.from_array(np.array(0, np.int8), "zp")])
    for n in g.node:
        n.input[:] = ["dq" if i == "faces" else i for i in n.input]
    old = list(g.node)
    del g.node[:]
    g.node.extend([helper.make_node("QuantizeLinear", ["faces", "s", "zp"], ["q"]),
                   helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["dq"]), *old])
    onnx.save(model, str(path))
    fp32.unlink()
    return path


def require_trt_gpu() -> None:
    """Skip (with the reason) unless TensorRT imports and a CUDA device answers."""
    from edgefer.engine.cuda_mem import device_memory
    from edgefer.engine.trt_import import import_tensorrt
    from edgefer.errors import EdgeferError

    try:
        import_tensorrt()
        device_memory().device_info()
    except EdgeferError as e:
        pytest.skip(f"needs TensorRT and a CUDA GPU: {e}")
