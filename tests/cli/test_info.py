"""`edgefer info` on the three model formats: .pt (checkpoint), .onnx (graph), .engine (its sidecar)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from edgefer.cli.main import app
from tests.engine import tiny_onnx

runner = CliRunner()


def test_info_describes_an_onnx_graph(tmp_path):
    """Issue #7: `info --model X.onnx` used to fail with "not a loadable PyTorch checkpoint"."""
    onnx = tmp_path / "fsrfer.onnx"
    tiny_onnx(onnx)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "edgefer-export", "classes": list("abcdefgh"), "files": {"fsrfer.onnx": {}}}))
    r = runner.invoke(app, ["info", "--model", str(onnx), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["format"] == "onnx" and d["opset"] == 17 and d["qdq"] is False
    assert d["inputs"] == {"faces": [-1, 1, 48, 48]} and d["outputs"] == {"logits": [-1, 8]}
    assert d["classes"] == list("abcdefgh") and len(d["sha256"]) == 64


def test_info_shows_embedded_metadata_and_qdq(tmp_path):
    import onnx as onnx_lib

    from tests.engine import tiny_qdq_onnx

    path = tiny_qdq_onnx(tmp_path / "q.int8.onnx")
    model = onnx_lib.load(str(path))
    onnx_lib.helper.set_model_props(model, {"edgefer.classes": json.dumps(["x", "y"]), "source": "test"})
    onnx_lib.save(model, str(path))
    r = runner.invoke(app, ["info", "--model", str(path)])
    assert r.exit_code == 0, r.output
    assert "qdq: True" in r.output and "['x', 'y']" in r.output and "source" in r.output


def test_info_describes_an_engine_from_its_sidecar(tmp_path):
    from edgefer.engine.sidecar import engine_sidecar, write_sidecar

    engine = tmp_path / "m.fp16.engine"
    engine.write_bytes(b"\0" * 64)  # never deserialized: info reads the sidecar only
    side = engine_sidecar("0" * 64, "10.3.0.30", "Orin", "8.7", "fp16", None, {"min": 1, "opt": 8, "max": 32}, None,
                          {"faces": [-1, 1, 48, 48]}, {"logits": [-1, 8]}, "m.onnx", {"classes": list("abcdefgh")})
    write_sidecar(engine, side)
    r = runner.invoke(app, ["info", "--model", str(engine), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["trt_version"] == "10.3.0.30" and d["precision"] == "fp16" and d["classes"] == list("abcdefgh")


@pytest.mark.parametrize("name,content,match", [
    ("bad.onnx", b"not a protobuf at all", "not a readable ONNX graph"),
    ("lone.engine", b"\0" * 8, "no sidecar"),
    ("model.bin", b"", "unknown model type"),
])
def test_info_bad_files_are_one_line(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    r = runner.invoke(app, ["info", "--model", str(tmp_path / name)])
    assert r.exit_code == 2 and match in r.output and r.output.strip().count("\n") == 0, r.output


def test_info_says_which_faces_each_route_takes(tmp_path):
    from edgefer.checkpoint import save_checkpoint
    from tests.test_checkpoint import routed_ckpt

    path = save_checkpoint(routed_ckpt(tiny_threshold=-2.0, tiny_blend=True), tmp_path / "routed.pt")
    r = runner.invoke(app, ["info", "--model", str(path), "--json"])
    assert r.exit_code == 0, r.output
    routes = json.loads(r.output)["routes"]
    assert routes["sharp"] == "fer; score > -1.000"
    assert routes["small"] == "fer; -2.000 < score ≤ -1.000" and routes["tiny"] == "fer, blended with small; score ≤ -2.000"
    r = runner.invoke(app, ["info", "--model", str(path)])
    assert "routes: sharp: fer; score > -1.000; small:" in r.output
