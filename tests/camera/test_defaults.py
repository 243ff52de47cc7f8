"""The default model: the fastest graph this machine runs correctly, never torch; and the shipped graphs exist."""

from edgefer.camera import defaults
from edgefer.camera.defaults import SHIPPED_FP32, SHIPPED_INT8_CPU, choose_model, cpu_has_fast_int8

AVX2 = "processor : 0\nflags : fpu sse2 avx avx2 fma\n"
OLD = "processor : 0\nflags : fpu sse2 sse4_2\n"


def test_fast_int8_needs_x86_with_avx2_or_vnni():
    assert cpu_has_fast_int8(AVX2, "x86_64")
    assert cpu_has_fast_int8("flags : sse2 avx512_vnni\n", "AMD64")
    assert not cpu_has_fast_int8(OLD, "x86_64")
    assert not cpu_has_fast_int8(AVX2, "aarch64")  # a Jetson: FP32 (or its TensorRT engine)


def test_choice_order(tmp_path):
    assert SHIPPED_FP32.is_file() and SHIPPED_INT8_CPU.is_file()  # shipped: a fresh install never needs torch
    c = choose_model(tmp_path, fast_int8=True, tensorrt=False)
    assert c.path == SHIPPED_INT8_CPU and "fast int8" in c.why
    c = choose_model(tmp_path, fast_int8=False, tensorrt=False)
    assert c.path == SHIPPED_FP32 and "no fast int8" in c.why
    (tmp_path / "fsrfer.onnx").write_bytes(b"x")  # the user's own export beats the shipped FP32 graph
    assert choose_model(tmp_path, fast_int8=False, tensorrt=False).path == tmp_path / "fsrfer.onnx"
    (tmp_path / "fsrfer.int8-cpu.onnx").write_bytes(b"x")
    assert choose_model(tmp_path, fast_int8=True, tensorrt=False).path == tmp_path / "fsrfer.int8-cpu.onnx"
    (tmp_path / "fsrfer.fp16.engine").write_bytes(b"x")
    assert choose_model(tmp_path, fast_int8=True, tensorrt=False).path.suffix == ".onnx"  # no TensorRT: not the engine
    c = choose_model(tmp_path, fast_int8=True, tensorrt=True)
    assert c.path == tmp_path / "fsrfer.fp16.engine" and "TensorRT" in c.why
    (tmp_path / "fsrfer.int8.engine").write_bytes(b"x")
    assert choose_model(tmp_path, fast_int8=True, tensorrt=True).path.name == "fsrfer.int8.engine"


def test_no_graph_at_all_falls_back_to_the_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(defaults, "SHIPPED_FP32", tmp_path / "none.onnx")
    monkeypatch.setattr(defaults, "SHIPPED_INT8_CPU", tmp_path / "none.int8-cpu.onnx")
    c = choose_model(tmp_path, fast_int8=True, tensorrt=False)
    assert c.path == defaults.BUNDLED_MODEL and "torch" in c.why
