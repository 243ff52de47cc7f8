"""build_engine without TensorRT (one-line errors, nothing written), its pure parts, and a GPU build."""

from __future__ import annotations

import importlib.util
import json
import sys
import types

import pytest

from edgefer.engine import build_engine
from edgefer.engine.builder import PhaseBars, check_build_args, format_parser_error
from edgefer.engine.trt_import import CUDA_MISSING, TRT_MISSING, import_cuda_layer, import_tensorrt
from edgefer.errors import EdgeferError
from tests.engine import require_trt_gpu, tiny_onnx

HAS_TRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture
def onnx_file(tmp_path):
    path = tmp_path / "tiny.onnx"
    tiny_onnx(path)
    return path


def assert_one_line_trt_missing(err: EdgeferError) -> None:
    msg = str(err)
    assert "\n" not in msg
    assert "TensorRT Python bindings not found" in msg
    assert "python3-libnvinfer" in msg and "--system-site-packages" in msg


@pytest.mark.skipif(HAS_TRT, reason="tensorrt is installed here; the monkeypatched test covers the missing case")
def test_build_without_tensorrt_for_real(onnx_file, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EdgeferError) as e:
        build_engine(onnx_file, out / "tiny.engine", timing_cache=out / "timing.cache")
    assert_one_line_trt_missing(e.value)
    assert list(out.iterdir()) == []


def test_build_with_tensorrt_import_failing(onnx_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # deterministic wherever tensorrt exists
    out = tmp_path / "out"
    with pytest.raises(EdgeferError) as e:
        build_engine(onnx_file, out / "tiny.engine", precision="fp16", timing_cache=out / "timing.cache")
    assert_one_line_trt_missing(e.value)
    assert not out.exists() or list(out.iterdir()) == []


def test_tensorrt_with_broken_dependency(monkeypatch):
    # tensorrt itself is there but one of its own imports is not: say so, not "not found"
    err = ModuleNotFoundError("No module named 'tensorrt_libs'", name="tensorrt_libs")

    def import_module(name):
        raise err

    monkeypatch.setattr("edgefer.engine.trt_import.importlib.import_module", import_module)
    with pytest.raises(EdgeferError, match="failed to import .*tensorrt_libs") as e:
        import_tensorrt()
    assert "\n" not in str(e.value)


def test_tensorrt_too_old(monkeypatch):
    old = types.ModuleType("tensorrt")
    old.__version__ = "8.6.1"
    monkeypatch.setitem(sys.modules, "tensorrt", old)
    with pytest.raises(EdgeferError, match=r"needs TensorRT 10\.x.*8\.6\.1"):
        import_tensorrt()


CUDA_MODULES = ("pycuda", "pycuda.autoprimaryctx", "pycuda.driver", "cuda", "cuda.bindings",
                "cuda.bindings.runtime", "cuda.cudart")


def hide_cuda(monkeypatch):
    for name in CUDA_MODULES:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delenv("EDGEFER_CUDA", raising=False)


def test_no_cuda_layer(monkeypatch):
    hide_cuda(monkeypatch)
    with pytest.raises(EdgeferError) as e:
        import_cuda_layer()
    assert str(e.value) == CUDA_MISSING
    assert "pycuda" in CUDA_MISSING and "cuda-python" in CUDA_MISSING


def test_cuda_python_chosen_when_pycuda_absent(monkeypatch):
    hide_cuda(monkeypatch)
    runtime = types.ModuleType("cuda.bindings.runtime")
    for name, mod in (("cuda", types.ModuleType("cuda")), ("cuda.bindings", types.ModuleType("cuda.bindings")),
                      ("cuda.bindings.runtime", runtime)):
        monkeypatch.setitem(sys.modules, name, mod)
    assert import_cuda_layer() == ("cuda-python", runtime)


def test_old_cuda_python_fallback(monkeypatch):
    hide_cuda(monkeypatch)
    cudart = types.ModuleType("cuda.cudart")
    monkeypatch.setitem(sys.modules, "cuda", types.ModuleType("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.cudart", cudart)
    assert import_cuda_layer() == ("cuda-python", cudart)


def test_forced_layer_missing(monkeypatch):
    hide_cuda(monkeypatch)
    monkeypatch.setenv("EDGEFER_CUDA", "pycuda")
    with pytest.raises(EdgeferError, match="pycuda is not installed"):
        import_cuda_layer()
    with pytest.raises(EdgeferError, match="unknown CUDA layer"):
        import_cuda_layer("cupy")


def check(out="m.engine", precision="fp16", int8_mode="qdq", batches=(1, 8, 32), workspace=1024, dla=None, calib=None):
    from pathlib import Path

    check_build_args(Path(out), precision, int8_mode, *batches, workspace, dla, calib)


@pytest.mark.parametrize("kwargs,match", [
    (dict(out="m.onnx"), r"must end in \.engine or \.plan"),
    (dict(precision="int4"), "unknown precision"),
    (dict(int8_mode="ptq"), "unknown int8 mode"),
    (dict(batches=(4, 2, 8)), "1 <= min <= opt <= max"),
    (dict(workspace=0), "workspace"),
    (dict(precision="fp32", dla=0), "DLA runs fp16 or int8 only"),
    (dict(precision="int8", dla=0), "needs --int8-mode implicit"),
    (dict(dla=-1), "non-negative"),
    (dict(precision="fp16", dla=0), r"DLA needs a fixed batch \(min = opt = max\), got 1/8/32"),
    (dict(precision="int8", int8_mode="implicit"), "calibration faces"),
    (dict(precision="fp16", calib=object()), "only used with"),
])
def test_bad_arguments_one_line(kwargs, match):
    with pytest.raises(EdgeferError, match=match) as e:
        check(**kwargs)
    assert "\n" not in str(e.value)


def test_good_arguments():
    check()
    check(out="m.plan", precision="int8", int8_mode="implicit", dla=1, calib=object(), batches=(8, 8, 8))
    check(precision="int8", int8_mode="qdq-fp16")
    check(precision="fp16", dla=0, batches=(4, 4, 4))


def test_bad_arguments_fail_before_tensorrt(onnx_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(EdgeferError, match="DLA runs fp16 or int8 only"):
        build_engine(onnx_file, tmp_path / "out" / "x.engine", precision="fp32", dla_core=0)
    with pytest.raises(EdgeferError, match="no such ONNX file"):
        build_engine(tmp_path / "missing.onnx", tmp_path / "out" / "x.engine")
    assert not (tmp_path / "out").exists()


def test_format_parser_error():
    class Err:  # stands in for trt.IParserError's accessors
        def desc(self):
            return "Assertion failed:\n  unsupported op"

        def node(self):
            return 3

        def node_name(self):
            return "/conv1/Conv"

        def node_operator(self):
            return "Conv"

    assert format_parser_error(Err()) == "Conv '/conv1/Conv' (node 3): Assertion failed: unsupported op"
    assert format_parser_error("plain text error") == "plain text error"


class FakeBar:
    def __init__(self, total, desc):
        self.total, self.desc, self.n, self.closed = total, desc, 0, False

    def update(self, k):
        self.n += k

    def close(self):
        self.closed = True


def test_phase_bars():
    made = []
    bars = PhaseBars(lambda total, desc: made.append(FakeBar(total, desc)) or made[-1])
    bars.start("Building engine", None, 3)
    bars.start("Tactic timing", "Building engine", 10)
    assert [b.desc for b in made] == ["Building engine", "  Tactic timing"]
    assert bars.step("Tactic timing", 0) and made[1].n == 1
    assert bars.step("Tactic timing", 4) and made[1].n == 5
    bars.step("Tactic timing", 4)  # repeated step: no double count
    assert made[1].n == 5
    bars.finish("Tactic timing")
    assert made[1].closed and not made[0].closed
    assert bars.step("unknown phase", 0)
    bars.cancel()
    assert bars.step("Building engine", 0) is False  # asks TensorRT to stop
    bars.close()
    assert made[0].closed


def test_trt_missing_message_is_one_line():
    assert "\n" not in TRT_MISSING and "\n" not in CUDA_MISSING


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_build_tiny_engine_on_gpu(tmp_path, precision):
    require_trt_gpu()
    onnx_path = tmp_path / "tiny.onnx"
    tiny_onnx(onnx_path)
    out = build_engine(onnx_path, tmp_path / "tiny.engine", precision=precision, min_batch=1, opt_batch=4,
                       max_batch=16, workspace_mb=256, timing_cache=tmp_path / "timing.cache", progress=False)
    assert out.stat().st_size > 0
    side = json.loads((tmp_path / "tiny.engine.json").read_text())
    assert side["precision"] == precision and side["profile"] == {"min": 1, "opt": 4, "max": 16}
    assert side["inputs"] == {"faces": [-1, 1, 48, 48]} and side["outputs"] == {"logits": [-1, 8]}
    assert (tmp_path / "timing.cache").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timing.cache", "tiny.engine", "tiny.engine.json", "tiny.onnx"]


@pytest.mark.gpu
def test_unparsable_onnx_lists_errors_on_gpu(tmp_path):
    require_trt_gpu()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(EdgeferError, match="cannot parse") as e:
        build_engine(bad, tmp_path / "bad.engine", progress=False)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "bad.engine").exists()
