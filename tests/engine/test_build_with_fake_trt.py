"""build_engine and TensorRTRunner against the fake TensorRT 10.3 (tests/engine/fake_trt.py): issue #7's defects.

These check edgefer's own logic around TensorRT (flags, caches, calibration, DLA, shapes). TensorRT
itself never runs here; the real builds are the @gpu tests in tests/gpu and tests/engine/test_builder.py.
"""

from __future__ import annotations

import json
import logging
import sys

import numpy as np
import pytest

from edgefer.backends.softmax import softmax
from edgefer.backends.trt_runner import TensorRTRunner
from edgefer.engine import build_engine
from edgefer.engine.calibrator import cache_key_path, make_calibrator
from edgefer.engine.cuda_mem import FakeDeviceMemory
from edgefer.errors import EdgeferError
from tests.engine import tiny_onnx, tiny_qdq_onnx
from tests.engine.fake_trt import TIMING_MAGIC, engine_blob, make_fake_trt


@pytest.fixture
def fake(monkeypatch):
    """(fake tensorrt module, FakeDeviceMemory), installed as `tensorrt` for the test."""
    memory = FakeDeviceMemory()
    trt = make_fake_trt(memory)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    return trt, memory


@pytest.fixture
def onnx_file(tmp_path):
    path = tmp_path / "tiny.onnx"
    tiny_onnx(path)
    return path


@pytest.fixture
def qdq_onnx(tmp_path):
    return tiny_qdq_onnx(tmp_path / "tiny.int8.onnx")


def faces(n, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, 1, 48, 48)).astype(np.float32)


def build(onnx_file, out, memory, **kw):
    kw.setdefault("progress", False)
    return build_engine(onnx_file, out, memory=memory, **kw)


# 6. an unreadable timing cache ----------------------------------------------------------------

def test_corrupt_timing_cache_starts_fresh_with_a_warning(fake, onnx_file, tmp_path, caplog):
    trt, memory = fake
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"\x00garbage from another tool")
    with caplog.at_level(logging.WARNING):
        build(onnx_file, tmp_path / "m.engine", memory, timing_cache=cache)
    assert any("not usable" in r.message and "fresh" in r.message for r in caplog.records)
    assert cache.read_bytes().startswith(TIMING_MAGIC)  # replaced by the fresh cache after the build
    assert (tmp_path / "m.engine").is_file()


def test_foreign_timing_cache_is_replaced(fake, onnx_file, tmp_path, caplog):
    _, memory = fake
    cache = tmp_path / "timing.cache"
    cache.write_bytes(TIMING_MAGIC + b"Orin Nano")  # readable, but another device's timings
    with caplog.at_level(logging.WARNING):
        build(onnx_file, tmp_path / "m.engine", memory, timing_cache=cache)
    assert any("another device" in r.message for r in caplog.records)
    assert cache.read_bytes() == TIMING_MAGIC + b"FakeDevice"


# 10 / 11. Q/DQ graphs: strongly typed, or weakly typed with INT8 + FP16; fp16 on a Q/DQ graph -----

def test_qdq_is_strongly_typed_without_precision_flags(fake, qdq_onnx, tmp_path):
    trt, memory = fake
    out = build(qdq_onnx, tmp_path / "q.engine", memory, precision="int8", int8_mode="qdq")
    blob = engine_blob(out)
    assert blob["strongly_typed"] and blob["flags"] == []
    assert json.loads((tmp_path / "q.engine.json").read_text())["int8_mode"] == "qdq"


def test_qdq_fp16_is_weakly_typed_with_int8_and_fp16(fake, qdq_onnx, tmp_path):
    _, memory = fake
    out = build(qdq_onnx, tmp_path / "q.engine", memory, precision="int8", int8_mode="qdq-fp16")
    blob = engine_blob(out)
    assert not blob["strongly_typed"] and {"INT8", "FP16"} <= set(blob["flags"]) and blob["calibrated"] is None
    assert json.loads((tmp_path / "q.engine.json").read_text())["int8_mode"] == "qdq-fp16"


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_float_precision_on_a_qdq_graph_names_the_mode_to_use(fake, qdq_onnx, tmp_path, precision):
    _, memory = fake
    with pytest.raises(EdgeferError, match=r"Q/DQ INT8 graph: build it with --precision int8 --int8-mode qdq-fp16") as e:
        build(qdq_onnx, tmp_path / "q.engine", memory, precision=precision)
    assert "\n" not in str(e.value)
    assert not list(tmp_path.glob("q.engine*"))


def test_fake_refuses_precision_flags_on_a_strongly_typed_network(fake, onnx_file):
    """The fake is honest: a strongly typed network with FP16 fails to build, as in TensorRT 10.3."""
    trt, _ = fake
    builder = trt.Builder(trt.ILogger())
    builder.logger.log = lambda sev, msg: None
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    trt.OnnxParser(network, builder.logger).parse_from_file(str(onnx_file))
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("faces", (1, 1, 48, 48), (1, 1, 48, 48), (1, 1, 48, 48))
    config.add_optimization_profile(profile)
    config.set_flag(trt.BuilderFlag.FP16)
    assert builder.build_serialized_network(network, config) is None


# 5 / 7 / 11. implicit calibration: keyed cache, Ctrl-C, buffers freed ---------------------------

def calibrator(x, cache, memory, onnx_file, batch=4):
    from edgefer.fileio import sha256_file

    return make_calibrator("entropy", x, batch, cache, memory, onnx_sha256=sha256_file(onnx_file))


def calibration_runs(trt):
    return [c[1] for c in trt.calls if c[0] == "calibration"]


def test_calibration_cache_is_keyed_and_a_stale_one_is_ignored(fake, onnx_file, tmp_path):
    trt, memory = fake
    cache = tmp_path / "calib.trtcache"
    kw = dict(precision="int8", int8_mode="implicit", min_batch=1, opt_batch=4, max_batch=8)
    build(onnx_file, tmp_path / "a.engine", memory, calibrator=calibrator(faces(8), cache, memory, onnx_file), **kw)
    assert calibration_runs(trt) == [2] and cache.is_file() and cache_key_path(cache).is_file()
    side = json.loads((tmp_path / "a.engine.json").read_text())
    key = side["calibration"]
    assert key["batch"] == 4 and len(key["onnx_sha256"]) == 64 and len(key["calib_sha256"]) == 64

    # same ONNX, same faces, same batch: the cache is used
    build(onnx_file, tmp_path / "b.engine", memory, calibrator=calibrator(faces(8), cache, memory, onnx_file), **kw)
    assert calibration_runs(trt)[-1] == "from cache"
    # another calibration set, another batch, another ONNX: each calibrates again
    build(onnx_file, tmp_path / "c.engine", memory, calibrator=calibrator(faces(8, seed=1), cache, memory, onnx_file), **kw)
    assert calibration_runs(trt)[-1] == 2
    build(onnx_file, tmp_path / "d.engine", memory, calibrator=calibrator(faces(8, seed=1), cache, memory, onnx_file, batch=2),
          **kw)
    assert calibration_runs(trt)[-1] == 4
    other = tmp_path / "other.onnx"
    tiny_onnx(other, seed=5)
    build(other, tmp_path / "e.engine", memory, calibrator=calibrator(faces(8, seed=1), cache, memory, other, batch=2), **kw)
    assert calibration_runs(trt)[-1] == 2 * 2
    keys = [json.loads((tmp_path / f"{n}.engine.json").read_text())["calibration"]["digest"] for n in "abcde"]
    assert keys[0] == keys[1] and len(set(keys[1:])) == 4


def test_a_cache_without_its_key_is_not_trusted(fake, onnx_file, tmp_path):
    trt, memory = fake
    cache = tmp_path / "old.trtcache"
    cache.write_bytes(b"TRT-1003-EntropyCalibration2\nfaces: 3c010a14\n")  # from before keys existed
    build(onnx_file, tmp_path / "a.engine", memory, precision="int8", int8_mode="implicit", opt_batch=4,
          calibrator=calibrator(faces(8), cache, memory, onnx_file))
    assert calibration_runs(trt) == [2]


def test_ctrl_c_during_calibration_writes_no_engine_and_no_cache(fake, onnx_file, tmp_path):
    trt, memory = fake
    cache = tmp_path / "calib.trtcache"
    cal = calibrator(faces(16), cache, memory, onnx_file)
    real, calls = cal.batcher.get_batch, []

    def interrupted(names):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(names)

    cal.batcher.get_batch = interrupted
    with pytest.raises(KeyboardInterrupt):
        build(onnx_file, tmp_path / "m.engine", memory, precision="int8", int8_mode="implicit", opt_batch=4, calibrator=cal)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx"]
    assert memory.buffers == {}  # the calibration buffer was freed on the way out


def test_calibration_buffers_are_freed_after_the_build(fake, onnx_file, tmp_path):
    _, memory = fake
    build(onnx_file, tmp_path / "m.engine", memory, precision="int8", int8_mode="implicit", opt_batch=4,
          calibrator=calibrator(faces(8), None, memory, onnx_file))
    assert memory.buffers == {}


def test_calibration_buffers_are_freed_when_the_build_fails_early(fake, qdq_onnx, tmp_path):
    _, memory = fake
    with pytest.raises(EdgeferError, match="Q/DQ INT8 graph"):
        build(qdq_onnx, tmp_path / "m.engine", memory, precision="int8", int8_mode="implicit", opt_batch=4,
              calibrator=calibrator(faces(8), None, memory, qdq_onnx))
    assert memory.buffers == {}


# 3 / 4 / 8. DLA, fixed batches, set_input_shape, buffer sizes ------------------------------------

def test_dla_needs_a_fixed_batch(fake, onnx_file, tmp_path):
    _, memory = fake
    with pytest.raises(EdgeferError, match=r"DLA needs a fixed batch \(min = opt = max\), got 1/8/32"):
        build(onnx_file, tmp_path / "m.engine", memory, precision="fp16", dla_core=0)


def test_dla_engine_runs_on_its_core_and_pads_partial_batches(fake, onnx_file, tmp_path):
    import onnxruntime as ort

    trt, memory = fake
    out = build(onnx_file, tmp_path / "m.engine", memory, precision="fp16", dla_core=1, min_batch=4, opt_batch=4,
                max_batch=4)
    assert json.loads((tmp_path / "m.engine.json").read_text())["dla_core"] == 1
    x = faces(6, seed=3)
    with TensorRTRunner(str(out), memory=memory, require_sidecar=True) as runner:
        got = runner.infer(x)
        assert trt.engines[-1].runs_on_dla_core == 1  # runtime.DLA_core was set before deserializing
        assert runner.meta["min_batch"] == runner.meta["max_batch"] == 4
    want = softmax(ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"]).run(None, {"faces": x})[0])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert trt.contexts[-1].executed == [(4, 1, 48, 48), (4, 1, 48, 48)]  # 6 faces: 4 + (2 padded to 4)
    assert not [c for c in trt.calls if c[0] == "set_input_shape" and not c[2]]  # TensorRT never refused a shape


def test_dynamic_engine_matches_onnxruntime_in_chunks(fake, onnx_file, tmp_path):
    import onnxruntime as ort

    trt, memory = fake
    out = build(onnx_file, tmp_path / "m.engine", memory, precision="fp16", min_batch=1, opt_batch=2, max_batch=4)
    x = faces(9, seed=4)
    with TensorRTRunner(str(out), memory=memory, require_sidecar=True) as runner:
        got = runner.infer(x)
        runner.time_infer(x[:3], repeats=2, warmup=1)
    assert memory.live_events == 0 and memory.buffers == {}  # events, buffers and stream released
    want = softmax(ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"]).run(None, {"faces": x})[0])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert trt.contexts[-1].executed[:3] == [(4, 1, 48, 48), (4, 1, 48, 48), (1, 1, 48, 48)]


def test_set_input_shape_refusal_is_one_error_not_one_per_frame(fake, onnx_file, tmp_path, monkeypatch):
    trt, memory = fake
    out = build(onnx_file, tmp_path / "m.engine", memory, precision="fp16", min_batch=2, opt_batch=2, max_batch=4)
    with TensorRTRunner(str(out), memory=memory) as runner:
        runner.min_batch = 1  # as the runner was before: it would ask for a batch the profile does not allow
        with pytest.raises(EdgeferError, match=r"TensorRT refused input shape \[1, 1, 48, 48\]") as e:
            runner.infer(faces(1))
        assert "\n" not in str(e.value)


def test_build_engine_records_classes_passed_in(fake, onnx_file, tmp_path):
    _, memory = fake
    build(onnx_file, tmp_path / "m.engine", memory, extra={"classes": ["a", "b"]})
    assert json.loads((tmp_path / "m.engine.json").read_text())["classes"] == ["a", "b"]


# a routed graph's detail score stays FP32 in reduced-precision builds -------------------------------

@pytest.fixture
def routed_onnx(tmp_path):
    import torch

    from edgefer.models.fer import FERNet
    from edgefer.models.gate import RouteBySize

    torch.manual_seed(0)
    nets = [FERNet(widths=(4, 4, 8, 8), emb_dim=8).eval() for _ in range(2)]
    path = tmp_path / "routed.onnx"
    torch.onnx.export(RouteBySize(*nets, threshold=0.0).eval(), (torch.rand(1, 1, 48, 48) * 255,), str(path),
                      dynamo=False, opset_version=17, input_names=["faces"], output_names=["logits"],
                      dynamic_axes={"faces": {0: "batch"}, "logits": {0: "batch"}})
    return path


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_router_layers_are_pinned_to_fp32(fake, routed_onnx, tmp_path, precision):
    _, memory = fake
    kw = {"calibrator": calibrator(faces(8), tmp_path / "c.cache", memory, routed_onnx)} if precision == "int8" else {}
    build(routed_onnx, tmp_path / "r.engine", memory, precision=precision, int8_mode="implicit", **kw)
    blob = engine_blob(tmp_path / "r.engine")
    assert "PREFER_PRECISION_CONSTRAINTS" in blob["flags"]
    assert blob["fp32_layers"] and all(name.startswith("/score/") for name in blob["fp32_layers"])
    assert any("Log" in name for name in blob["fp32_layers"])  # the whole score, not only its convolutions


def test_plain_graph_pins_nothing(fake, onnx_file, tmp_path):
    _, memory = fake
    build(onnx_file, tmp_path / "p.engine", memory, precision="fp16")
    blob = engine_blob(tmp_path / "p.engine")
    assert blob["fp32_layers"] == {} and "PREFER_PRECISION_CONSTRAINTS" not in blob["flags"]
