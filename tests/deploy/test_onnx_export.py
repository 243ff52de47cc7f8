import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from edgefer.backends import load_runner
from edgefer.checkpoint import load_classifier, save_checkpoint
from edgefer.fileio import sha256_file
from edgefer.cli.main import app
from edgefer.deploy.onnx_export import export_model, main_graph
from edgefer.deploy.verify import check_faces
from edgefer.errors import CheckpointError, EdgeferError
from tests.test_checkpoint import tiny_fsr_ckpt

runner = CliRunner()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    model = save_checkpoint(tiny_fsr_ckpt(), tmp / "tiny.pt")
    manifest = export_model(model, tmp / "out", opset=17, max_batch=64)
    return model, tmp / "out", manifest


def test_files_manifest_and_hashes(exported):
    model, out, m = exported
    assert sorted(p.name for p in out.iterdir()) == ["backbone.onnx", "fsrfer.onnx", "g.onnx", "head.onnx", "manifest.json"]
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(m))
    for name, f in m["files"].items():
        assert f["sha256"] == sha256_file(out / name)
    assert m["source"]["sha256"] == sha256_file(model)
    assert m["input"]["range"] == [0.0, 255.0] and m["input"]["shape"] == ["batch", 1, 48, 48]
    assert m["opset"] == 17 and {"torch", "onnx", "edgefer"} <= set(m["versions"])
    assert m["check"]["batches"] == [1, 7, 64] and m["check"]["argmax_agreement"] == 1.0
    assert m["check"]["max_abs_diff_probs"] <= 1e-4


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_onnx_runtime_matches_pytorch_at_dynamic_batch(exported, batch):
    model, out, _ = exported
    net, _ = load_classifier(model)
    x = check_faces(batch)[:, None]
    with torch.inference_mode():
        ref = torch.softmax(net(torch.from_numpy(x)), 1).numpy()
    with load_runner(out / "fsrfer.onnx") as r:
        got = r.infer(x)
    assert got.shape == (batch, 8)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_bad_checkpoint_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a loadable"):
        export_model(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unwritable_out_and_bad_options(exported, tmp_path):
    model, _, _ = exported
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EdgeferError, match="cannot write"):
        export_model(model, blocker / "sub")
    with pytest.raises(EdgeferError, match="opset"):
        export_model(model, tmp_path / "o", opset=9)


def test_a_failed_check_names_factor_and_batch_and_writes_nothing(exported, tmp_path, monkeypatch):
    model, _, _ = exported
    import edgefer.deploy.verify as verify

    monkeypatch.setattr(verify, "PROB_TOLERANCE", -1.0)  # any difference fails
    with pytest.raises(EdgeferError, match=r"factor 1, batch 1"):
        export_model(model, tmp_path / "o")
    assert list((tmp_path / "o").iterdir()) == []


def test_cli_export_one_line_error(tmp_path):
    r = runner.invoke(app, ["export", "--model", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and r.output.strip().startswith("error:") and "\n" not in r.output.strip()


def test_a_member_that_reads_the_face_smaller_exports_and_matches_pytorch(tmp_path):
    """--input-px: the area-averaging is part of the graph, so ONNX Runtime gives what PyTorch gives."""
    from edgefer.checkpoint import make_checkpoint
    from edgefer.models.fer import FERNet
    from tests.test_checkpoint import ARCH

    small = {**ARCH, "input_px": 12}
    ck = make_checkpoint("ensemble", {"members": [ARCH, small], "flip": [True, False]}, {}, {})
    torch.manual_seed(0)
    ck["state"] = {"member0": FERNet(**ARCH).state_dict(), "member1": FERNet(**small).state_dict()}
    model = save_checkpoint(ck, tmp_path / "ens.pt")
    export_model(model, tmp_path / "out", opset=17, max_batch=8)
    net, _ = load_classifier(model)
    x = check_faces(5)[:, None]
    with torch.inference_mode():
        ref = torch.softmax(net(torch.from_numpy(x)), 1).numpy()
    with load_runner(tmp_path / "out" / main_graph("ensemble")) as r:
        np.testing.assert_allclose(r.infer(x), ref, atol=1e-5)
