"""Models that break the contract ((N, 1, 48, 48) faces in, edgefer's 8 classes out, finite weights) are
refused on load with one line, in every command that loads them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from edgefer.backends.contract import CLASSES_KEY, ContractError
from edgefer.backends.select import load_runner
from edgefer.checkpoint import save_checkpoint
from edgefer.classes import CLASSES
from edgefer.cli.main import app
from edgefer.deploy.onnx_export import export_model
from tests.test_checkpoint import tiny_fsr_ckpt

runner = CliRunner()


def linear_onnx(path, in_shape=(1, 48, 48), k=8, weight=None, names=None):
    """faces (N, *in_shape) -> Flatten -> MatMul (D, k) -> logits (N, k)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    d = int(np.prod(in_shape))
    w = np.full((d, k), 1e-4, np.float32) if weight is None else weight.astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["faces"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "g", [helper.make_tensor_value_info("faces", TensorProto.FLOAT, ["batch", *in_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", k])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if names is not None:
        helper.set_model_props(model, {CLASSES_KEY: json.dumps(names)})
    onnx.save(model, str(path))
    return path


def test_a_good_graph_loads(tmp_path):
    with load_runner(linear_onnx(tmp_path / "ok.onnx", names=list(CLASSES))) as r:
        assert r.infer(np.zeros((3, 1, 48, 48), np.float32)).shape == (3, 8)


@pytest.mark.parametrize("kw, message", [
    ({"in_shape": (3, 48, 48)}, "input shape"),
    ({"in_shape": (1, 64, 64)}, "input shape"),
    ({"k": 3}, "gives 3 classes"),
    ({"weight": np.full((2304, 8), np.nan)}, "non-finite"),
    ({"names": list(reversed(CLASSES))}, "class names"),
])
def test_broken_graphs_are_refused(kw, message, tmp_path):
    path = linear_onnx(tmp_path / "bad.onnx", **kw)
    with pytest.raises(ContractError, match=message):
        load_runner(path).activate()


def test_class_names_from_the_export_manifest(tmp_path):
    path = linear_onnx(tmp_path / "fsrfer.onnx")
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "edgefer-export", "classes": ["a"] * 8,
                                                         "files": {"fsrfer.onnx": {}}}))
    with pytest.raises(ContractError, match="manifest.json"):
        load_runner(path).activate()


def nan_checkpoint(path):
    ckpt = tiny_fsr_ckpt()
    for state in ckpt["state"].values():
        for k, v in state.items():
            if torch.is_floating_point(v):
                state[k] = torch.full_like(v, float("nan"))
    return save_checkpoint(ckpt, path)


def test_nan_weights_do_not_export(tmp_path):
    pt = nan_checkpoint(tmp_path / "nan.pt")
    with pytest.raises(ContractError, match="non-finite"):
        export_model(pt, tmp_path / "export")
    assert not (tmp_path / "export").exists()  # refused before any write
    with pytest.raises(ContractError, match="non-finite"):
        load_runner(pt).activate()


@pytest.mark.parametrize("kw", [{"in_shape": (3, 48, 48)}, {"k": 3}])
def test_infer_with_a_broken_graph_is_one_line(kw, crowd_clip, tmp_path):
    path = linear_onnx(tmp_path / "bad.onnx", **kw)
    r = runner.invoke(app, ["infer", "--source", str(crowd_clip.path), "--model", str(path), "--out", str(tmp_path / "o"),
                            "--max-frames", "1"])
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {path}"), r.output
    assert not (tmp_path / "o" / "faces.jsonl").exists()


def test_calibrate_checks_the_graph_before_writing(ferplus_tiny, tmp_path):
    path = linear_onnx(tmp_path / "bad.onnx", in_shape=(3, 48, 48))
    calib = tmp_path / "calib"
    r = runner.invoke(app, ["calibrate", "--data", str(ferplus_tiny), "--onnx", str(path), "--calib-dir", str(calib),
                            "--samples", "8", "--eval-split", "none"])
    assert r.exit_code == 2 and "input shape" in r.output and not calib.exists(), r.output
    r = runner.invoke(app, ["calibrate", "--data", str(ferplus_tiny), "--onnx", str(linear_onnx(tmp_path / "ok.onnx")),
                            "--calib-dir", str(calib), "--eval-split", "bogus"])
    assert r.exit_code == 2 and "--eval-split" in r.output and not calib.exists(), r.output


def test_exported_graphs_carry_their_class_names(tmp_path):
    import onnx

    pt = save_checkpoint(tiny_fsr_ckpt(), tmp_path / "m.pt")
    export_model(pt, tmp_path / "export", max_batch=8)
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "export" / "fsrfer.onnx")).metadata_props}
    assert json.loads(props[CLASSES_KEY]) == list(CLASSES)
