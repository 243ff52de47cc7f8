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
