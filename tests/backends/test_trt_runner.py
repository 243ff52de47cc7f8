"""TensorRTRunner: pure helpers, its chunked copy/execute loop over test doubles, and a real GPU run.

``FakeContext`` + ``FakeDeviceMemory`` are test doubles standing in for a TensorRT execution context
and CUDA memory: they check the runner's own logic (chunking, addresses, copies, softmax), never
TensorRT. The real TensorRT path is the @pytest.mark.gpu test at the end.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from edgefer.backends.trt_runner import (
    TensorRTRunner,
    bind_io_names,
    chunk_ranges,
    needs_softmax,
    softmax,
    tensor_nbytes,
)
from edgefer.engine.cuda_mem import FakeDeviceMemory
from edgefer.errors import EdgeferError
from tests.engine import require_trt_gpu, tiny_onnx


@pytest.mark.parametrize("n,max_batch,want", [
    (0, 4, []), (1, 4, [(0, 1)]), (4, 4, [(0, 4)]), (5, 2, [(0, 2), (2, 4), (4, 5)]),
    (3, 1, [(0, 1), (1, 2), (2, 3)]), (8, 4, [(0, 4), (4, 8)]),
])
def test_chunk_ranges(n, max_batch, want):
    assert chunk_ranges(n, max_batch) == want


def test_chunk_ranges_cover_in_order():
    for n in range(0, 40):
        for mb in (1, 3, 7, 32):
            r = chunk_ranges(n, mb)
            assert [i for a, b in r for i in range(a, b)] == list(range(n))
            assert all(0 < b - a <= mb for a, b in r)


def test_chunk_ranges_invalid():
    with pytest.raises(ValueError):
        chunk_ranges(5, 0)
    with pytest.raises(ValueError):
        chunk_ranges(-1, 4)


def test_tensor_nbytes():
    assert tensor_nbytes((32, 1, 48, 48), np.float32) == 32 * 48 * 48 * 4
    assert tensor_nbytes((8, 8), np.float32) == 8 * 8 * 4
    assert tensor_nbytes((4, 8), np.float16) == 4 * 8 * 2
    assert tensor_nbytes((), np.int32) == 4
    with pytest.raises(ValueError, match="unknown dimension"):
        tensor_nbytes((-1, 1, 48, 48), np.float32)


def test_bind_io_names():
    assert bind_io_names([("faces", True), ("logits", False)]) == ("faces", "logits")
    assert bind_io_names([("input", True), ("aux", False), ("logits", False)]) == ("input", "logits")
    assert bind_io_names([("x", True), ("y", False)]) == ("x", "y")
    with pytest.raises(EdgeferError, match="one input"):
        bind_io_names([("a", True), ("b", True), ("logits", False)])
    with pytest.raises(EdgeferError, match="one input"):
        bind_io_names([("logits", False)])
    with pytest.raises(EdgeferError, match="'logits' or a single output.*boxes, scores"):
        bind_io_names([("faces", True), ("boxes", False), ("scores", False)])


def test_softmax():
    z = np.array([[0.0, 0.0], [1000.0, 0.0], [-5.0, 5.0]], dtype=np.float32)
    p = softmax(z)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p[0], [0.5, 0.5])
    np.testing.assert_allclose(p[1], [1.0, 0.0])
    assert np.isfinite(p).all()
    assert needs_softmax("logits") and not needs_softmax("probs")


class FakeContext:
    """TEST DOUBLE for a TensorRT execution context (TensorRT never runs here).

    execute_async_v3 reads the "device" input at the address last set, computes logits = x @ W and
    writes them at the output's address, through FakeDeviceMemory.
    """

    def __init__(self, memory: FakeDeviceMemory, weight: np.ndarray, max_batch: int = 4) -> None:
        self.memory, self.weight, self.max_batch = memory, weight, max_batch
        self.addresses: dict[str, int] = {}
        self.shapes: list[tuple[int, ...]] = []
        self.address_calls: list[set[str]] = []

    def set_input_shape(self, name, shape):
        assert name == "faces"
        if not 1 <= shape[0] <= self.max_batch:  # TensorRT 10.3: False for a shape outside the profile
            return False
        self.shapes.append(tuple(shape))
        self.address_calls.append(set())
        return True

    def set_tensor_address(self, name, ptr):
        self.addresses[name] = ptr
        self.address_calls[-1].add(name)
        return True

    def execute_async_v3(self, stream_handle):
        assert isinstance(stream_handle, int)
        n = self.shapes[-1][0]
        x = self.memory.read(self.addresses["faces"], np.float32, self.shapes[-1])
        self.memory.write(self.addresses["logits"], (x.reshape(n, -1) @ self.weight).astype(np.float32))
        return True


def fake_runner(max_batch=4, classes=8):
    fake = FakeDeviceMemory()
    w = np.random.default_rng(0).standard_normal((48 * 48, classes)).astype(np.float32) / 2000
    ctx = FakeContext(fake, w, max_batch)
    runner = TensorRTRunner("fake.engine", memory=fake)
    runner._setup(ctx, fake, "faces", "logits", {
        "faces": ((max_batch, 1, 48, 48), np.dtype(np.float32)),
        "logits": ((max_batch, classes), np.dtype(np.float32)),
        "aux": ((3 * max_batch, 16), np.dtype(np.float16)),  # an extra output, dim 0 not the batch
    })
    return runner, ctx, fake, w


def test_infer_chunks_copies_and_softmax():
    runner, ctx, fake, w = fake_runner(max_batch=4)
    x = np.random.default_rng(1).uniform(0, 255, (10, 1, 48, 48)).astype(np.float32)
    p = runner.infer(x)
    assert p.shape == (10, 8) and p.dtype == np.float32
    np.testing.assert_allclose(p, softmax(x.reshape(10, -1) @ w), rtol=1e-5, atol=1e-6)
    assert ctx.shapes == [(4, 1, 48, 48), (4, 1, 48, 48), (2, 1, 48, 48)]
    assert all(calls == {"faces", "logits", "aux"} for calls in ctx.address_calls)
    kinds = [c[0] for c in fake.copies]
    assert kinds == ["htod", "dtoh"] * 3
    assert runner.meta["max_batch"] == 4 and runner.meta["input"]["shape"] == [-1, 1, 48, 48]


def test_buffers_are_sized_from_the_context_shapes():
    """Issue #7, 8: an output whose dim 0 is not the batch gets its own size, not max_batch rows."""
    runner, ctx, fake, _ = fake_runner(max_batch=4)
    sizes = {name: fake.buffers[buf.ptr].nbytes for name, buf in runner._device.items()}
    assert sizes == {"faces": 4 * 48 * 48 * 4, "logits": 4 * 8 * 4, "aux": 12 * 16 * 2}


def test_refused_input_shape_raises_once():
    """Issue #7, 4: set_input_shape's False is an error, not ignored on every frame."""
    runner, ctx, fake, _ = fake_runner(max_batch=4)
    ctx.max_batch = 2  # the engine's profile is narrower than the runner believes
    with pytest.raises(EdgeferError, match=r"refused input shape \[4, 1, 48, 48\]"):
        runner.infer(np.zeros((4, 1, 48, 48), np.float32))
    assert not any(c[0] == "htod" for c in fake.copies)  # nothing ran with the stale shape


def test_fixed_batch_engine_pads_the_last_chunk():
    runner, ctx, fake, w = fake_runner(max_batch=4)
    runner.min_batch = 4  # a fixed-batch engine (the DLA): min = max
    x = np.random.default_rng(5).uniform(0, 255, (5, 1, 48, 48)).astype(np.float32)
    np.testing.assert_allclose(runner.infer(x), softmax(x.reshape(5, -1) @ w), rtol=1e-5, atol=1e-6)
    assert ctx.shapes == [(4, 1, 48, 48), (4, 1, 48, 48)]


def test_trt_logger_keeps_a_bounded_error_list():
    from edgefer.engine.trt_import import MAX_LOGGED_ERRORS, make_trt_logger
    from tests.engine.fake_trt import make_fake_trt

    trt = make_fake_trt()
    logger = make_trt_logger(trt, name="edgefer.test.bounded")
    import logging

    logging.getLogger("edgefer.test.bounded").disabled = True
    for i in range(5 * MAX_LOGGED_ERRORS):
        logger.log(trt.ILogger.Severity.ERROR, f"setInputShape failed {i}")
    assert len(logger.errors) == MAX_LOGGED_ERRORS and logger.n_errors == 5 * MAX_LOGGED_ERRORS
    assert logger.errors[-1] == f"setInputShape failed {5 * MAX_LOGGED_ERRORS - 1}"


@pytest.mark.parametrize("missing", ["libnvdla_compiler.so", "libcuda.so.1"])
def test_missing_jetson_library_names_runtime_nvidia(monkeypatch, missing):
    from edgefer.engine.trt_import import import_tensorrt

    def import_module(name):
        raise ImportError(f"{missing}: cannot open shared object file: No such file or directory")

    monkeypatch.setattr("edgefer.engine.trt_import.importlib.import_module", import_module)
    with pytest.raises(EdgeferError, match="--runtime nvidia") as e:
        import_tensorrt()
    assert missing in str(e.value) and "\n" not in str(e.value)


def test_infer_one_face_and_none():
    runner, _, _, w = fake_runner(max_batch=4)
    x = np.full((1, 1, 48, 48), 128, dtype=np.uint8)  # any numeric dtype is cast to the engine's
    np.testing.assert_allclose(runner.infer(x), softmax(x.reshape(1, -1).astype(np.float32) @ w), rtol=1e-5)
    assert runner.infer(np.zeros((0, 1, 48, 48), np.float32)).shape == (0, 8)


def test_infer_rejects_wrong_shape():
    runner, *_ = fake_runner()
    with pytest.raises(EdgeferError, match=r"takes batches of shape \(N, 1, 48, 48\), got \(2, 1, 64, 64\)"):
        runner.infer(np.zeros((2, 1, 64, 64), np.float32))


def test_setup_rejects_non_classifier_output():
    fake = FakeDeviceMemory()
    runner = TensorRTRunner("det.engine", memory=fake)
    with pytest.raises(EdgeferError, match=r"expected a \(N, K\)"):
        runner._setup(None, fake, "faces", "logits", {"faces": ((4, 1, 48, 48), np.dtype(np.float32)),
                                                     "logits": ((4, 100, 5), np.dtype(np.float32))})


def test_time_infer_and_deactivate_free_everything():
    runner, _, fake, _ = fake_runner()
    t = runner.time_infer(np.zeros((6, 1, 48, 48), np.float32), repeats=3, warmup=1)
    assert t["batch"] == 6 and t["repeats"] == 3 and t["min_ms"] >= 0
    assert len(fake.buffers) == 3 and fake.live_events == 2
    runner.deactivate()
    assert fake.buffers == {} and not runner.active
    assert fake.live_events == 0  # issue #7, 11: the CUDA events are destroyed too
    runner.deactivate()  # twice is harmless


def test_activate_without_tensorrt(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    (tmp_path / "x.engine").write_bytes(b"\0" * 16)
    with pytest.raises(EdgeferError, match="TensorRT Python bindings not found") as e:
        TensorRTRunner(str(tmp_path / "x.engine")).activate()
    assert "\n" not in str(e.value)


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_activate_without_tensorrt_for_real(tmp_path):
    (tmp_path / "x.engine").write_bytes(b"\0" * 16)
    with pytest.raises(EdgeferError, match="python3-libnvinfer"):
        with TensorRTRunner(str(tmp_path / "x.engine")):
            pass


@pytest.mark.gpu
def test_engine_matches_onnxruntime_on_gpu(tmp_path):
    require_trt_gpu()
    import onnxruntime as ort

    from edgefer.engine import build_engine

    onnx_path = tmp_path / "tiny.onnx"
    tiny_onnx(onnx_path)
    engine = build_engine(onnx_path, tmp_path / "tiny.engine", precision="fp32", min_batch=1, opt_batch=4,
                          max_batch=8, workspace_mb=256, progress=False)
    x = np.random.default_rng(2).uniform(0, 255, (19, 1, 48, 48)).astype(np.float32)  # 3 chunks of <= 8
    want = softmax(ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"faces": x})[0])
    with TensorRTRunner(str(engine), require_sidecar=True) as runner:
        got = runner.infer(x)
        assert runner.meta["max_batch"] == 8
        assert runner.time_infer(x[:8], repeats=2, warmup=1)["mean_ms"] > 0
    np.testing.assert_allclose(got, want, atol=1e-3)


def test_an_engine_with_other_classes_is_refused():
    with pytest.raises(EdgeferError, match="gives 3 classes"):
        fake_runner(classes=3)
