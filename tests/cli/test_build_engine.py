import importlib.util

import pytest
from typer.testing import CliRunner

from edgefer.cli.main import app
from tests.engine import tiny_onnx

runner = CliRunner()


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_build_engine_without_tensorrt_is_one_line_and_writes_nothing(tmp_path):
    onnx = tmp_path / "m.onnx"
    tiny_onnx(onnx)
    out = tmp_path / "engines" / "m.engine"
    r = runner.invoke(app, ["build-engine", "--onnx", str(onnx), "--precision", "fp16", "--out", str(out)])
    assert r.exit_code == 2
    line = r.output.strip()
    assert line.startswith("error: TensorRT") and "JetPack" in line and "Dockerfile.jetson" in line and "\n" not in line
    assert not out.parent.exists() or not any(out.parent.iterdir())


@pytest.mark.parametrize(
    "args,message",
    [
        (["--precision", "fp32", "--dla", "0"], "DLA runs fp16 or int8 only"),
        (["--min-batch", "8", "--opt-batch", "4"], "batch"),
        (["--out", "x.onnx"], "must end in"),
    ],
)
def test_build_engine_flag_errors_come_before_tensorrt(tmp_path, args, message):
    onnx = tmp_path / "m.onnx"
    tiny_onnx(onnx)
    r = runner.invoke(app, ["build-engine", "--onnx", str(onnx), *args])
    assert r.exit_code == 2 and message in r.output


def test_build_engine_missing_onnx(tmp_path):
    r = runner.invoke(app, ["build-engine", "--onnx", str(tmp_path / "none.onnx")])
    assert r.exit_code == 2 and "no such ONNX file" in r.output


@pytest.fixture
def fake_trt(monkeypatch):
    """The fake TensorRT 10.3 (tests/engine/fake_trt.py) and fake CUDA memory: edgefer's logic only, no TensorRT."""
    import sys

    from edgefer.engine.cuda_mem import FakeDeviceMemory
    from tests.engine.fake_trt import make_fake_trt

    memory = FakeDeviceMemory()
    trt = make_fake_trt(memory)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr("edgefer.engine.builder.device_memory", lambda: memory)
    monkeypatch.setattr("edgefer.engine.calibrator.device_memory", lambda: memory)
    return trt, memory


def test_build_engine_records_the_export_classes(fake_trt, tmp_path):
    """Issue #7, 11: the sidecar names the classes (from the export manifest beside the ONNX)."""
    import json

    onnx = tmp_path / "fsrfer.onnx"
    tiny_onnx(onnx)
    classes = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"]
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "edgefer-export", "classes": classes, "files": {"fsrfer.onnx": {}}}))
    r = runner.invoke(app, ["build-engine", "--onnx", str(onnx), "--out", str(tmp_path / "m.engine")])
    assert r.exit_code == 0, r.output
    side = json.loads((tmp_path / "m.engine.json").read_text())
    assert side["classes"] == classes and side["profile"] == {"min": 1, "opt": 8, "max": 32}


def test_build_engine_dla_uses_one_fixed_batch(fake_trt, tmp_path):
    import json

    onnx = tmp_path / "m.onnx"
    tiny_onnx(onnx)
    r = runner.invoke(app, ["build-engine", "--onnx", str(onnx), "--dla", "1", "--out", str(tmp_path / "m.engine")])
    assert r.exit_code == 0, r.output
    side = json.loads((tmp_path / "m.engine.json").read_text())
    assert side["profile"] == {"min": 8, "opt": 8, "max": 8} and side["dla_core"] == 1
    assert "no class names" in r.output  # said, not guessed
    r = runner.invoke(app, ["build-engine", "--onnx", str(onnx), "--dla", "0", "--min-batch", "1", "--max-batch", "32",
                            "--out", str(tmp_path / "n.engine")])
    assert r.exit_code == 2 and "DLA needs a fixed batch" in r.output


def test_build_engine_implicit_cache_name_follows_onnx_and_set(fake_trt, tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.setattr("edgefer.paths.calibration_dir", lambda: tmp_path / "calibration")  # not the repo's folder
    onnx = tmp_path / "m.onnx"
    tiny_onnx(onnx)
    rng = np.random.default_rng(0)
    for i in range(2):
        np.savez(tmp_path / f"set{i}.npz", x=rng.uniform(0, 255, (16, 1, 48, 48)).astype(np.float32))
    for i in range(2):
        r = runner.invoke(app, ["build-engine", "--onnx", str(onnx), "--precision", "int8", "--int8-mode", "implicit",
                                "--calib-set", str(tmp_path / f"set{i}.npz"), "--opt-batch", "4",
                                "--out", str(tmp_path / f"m{i}.engine")])
        assert r.exit_code == 0, r.output
    caches = sorted((tmp_path / "calibration").glob("m.entropy.b4.*.trtcache"))
    assert len(caches) == 2  # two calibration sets: two caches, neither reused for the other
