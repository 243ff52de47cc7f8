"""The fake TensorRT's assumptions, checked against the real TensorRT 10.x (skipped without TensorRT + GPU).

tests/engine/fake_trt.py claims TensorRT 10.3 behaves this way; these tests are where that is checked on a
machine that has TensorRT (a Jetson, or an x86 GPU with `pip install tensorrt`). Nothing here ran yet.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from tests.engine import require_trt_gpu, tiny_onnx, tiny_qdq_onnx

pytestmark = pytest.mark.gpu


@pytest.fixture
def trt_gpu():
    require_trt_gpu()


def ort_probs(onnx_path, x):
    import onnxruntime as ort

    from edgefer.backends.softmax import softmax

    return softmax(ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"faces": x})[0])


def test_corrupt_timing_cache_is_replaced(trt_gpu, tmp_path, caplog):
    from edgefer.engine import build_engine

    onnx_path = tmp_path / "tiny.onnx"
    tiny_onnx(onnx_path)
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"\x00 not a timing cache")
    with caplog.at_level(logging.WARNING):
        build_engine(onnx_path, tmp_path / "t.engine", precision="fp16", max_batch=8, workspace_mb=256,
                     timing_cache=cache, progress=False)
    assert any("fresh" in r.message for r in caplog.records)
    assert cache.stat().st_size > 20 and not cache.read_bytes().startswith(b"\x00 not")


@pytest.mark.parametrize("mode", ["qdq", "qdq-fp16"])
def test_qdq_modes_build_and_match_onnxruntime(trt_gpu, tmp_path, mode):
    from edgefer.backends.trt_runner import TensorRTRunner
    from edgefer.engine import build_engine

    q = tiny_qdq_onnx(tmp_path / "tiny.int8.onnx")
    engine = build_engine(q, tmp_path / f"{mode}.engine", precision="int8", int8_mode=mode, min_batch=1, opt_batch=4,
                          max_batch=8, workspace_mb=256, progress=False)
    assert json.loads((tmp_path / f"{mode}.engine.json").read_text())["int8_mode"] == mode
    x = np.random.default_rng(0).uniform(0, 255, (11, 1, 48, 48)).astype(np.float32)
    with TensorRTRunner(str(engine), require_sidecar=True) as runner:
        got = runner.infer(x)
    agree = (got.argmax(1) == ort_probs(q, x).argmax(1)).mean()
    assert agree >= 0.9, agree


def test_fp16_on_a_qdq_graph_is_refused_before_tensorrt_fails(trt_gpu, tmp_path):
    from edgefer.engine import build_engine
    from edgefer.errors import EdgeferError

    q = tiny_qdq_onnx(tmp_path / "tiny.int8.onnx")
    with pytest.raises(EdgeferError, match="qdq-fp16"):
        build_engine(q, tmp_path / "x.engine", precision="fp16", progress=False)


def test_fixed_batch_engine_refuses_other_shapes_and_the_runner_pads(trt_gpu, tmp_path):
    from edgefer.backends.trt_runner import TensorRTRunner
    from edgefer.engine import build_engine

    onnx_path = tmp_path / "tiny.onnx"
    tiny_onnx(onnx_path)
    engine = build_engine(onnx_path, tmp_path / "fixed.engine", precision="fp32", min_batch=4, opt_batch=4, max_batch=4,
                          workspace_mb=256, progress=False)
    x = np.random.default_rng(1).uniform(0, 255, (6, 1, 48, 48)).astype(np.float32)
    with TensorRTRunner(str(engine), require_sidecar=True) as runner:
        assert runner.context.set_input_shape("faces", (2, 1, 48, 48)) is False  # what the fake assumes
        got = runner.infer(x)  # 4 + (2 padded to 4)
    np.testing.assert_allclose(got, ort_probs(onnx_path, x), atol=1e-3)
