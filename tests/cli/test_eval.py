import json

import pytest
from typer.testing import CliRunner

from edgefer.checkpoint import save_checkpoint
from edgefer.cli.main import app
from tests.test_checkpoint import tiny_fsr_ckpt

runner = CliRunner()


@pytest.fixture
def tiny_model(tmp_path):
    return save_checkpoint(tiny_fsr_ckpt(), tmp_path / "tiny.pt")


def test_eval_json_contract_and_plots(tiny_model, ferplus_tiny, tmp_path):
    out = tmp_path / "res.json"
    r = runner.invoke(app, ["eval", "--model", str(tiny_model), "--data", str(ferplus_tiny), "--split", "val",
                            "--factors", "1,3,8", "--json", str(out), "--plot", str(tmp_path / "plots")])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert {"model", "backend", "n", "factors", "accuracy", "macro_f1"} <= set(res)
    assert res["n"] == 24 and res["backend"] == "torch" and res["factors"] == [1, 3, 8]
    assert set(res["accuracy"]) == set(res["macro_f1"]) == {"1", "3", "8"}
    assert all(0.0 <= v <= 1.0 for v in [*res["accuracy"].values(), *res["macro_f1"].values()])
    assert res["face_px"] == {"1": 48, "3": 16, "8": 6}
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == ["tiny_accuracy_vs_size.png", "tiny_confusion.png"]
    assert all((tmp_path / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)

    r = runner.invoke(app, ["compare", str(out), str(out), "--names", "a,b", "--markdown"])
    assert r.exit_code == 0 and "| a |" in r.output and "| b |" in r.output
    # two results of one model file (a model retrained under the same name): both rows, named by result file
    (tmp_path / "before.json").write_text(out.read_text())
    r = runner.invoke(app, ["compare", str(out), str(tmp_path / "before.json"), "--markdown"])
    assert r.exit_code == 0 and "| tiny |" in r.output and "| before |" in r.output, r.output
    r = runner.invoke(app, ["compare", str(out), str(out), "--names", "a,a"])
    assert r.exit_code == 2 and "a second result named 'a'" in r.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--model", "missing.pt"], "missing.pt: no such model file"),
        (["--factors", "1,x"], "--factors"),
        (["--split", "test"], "this copy has: train, val"),
    ],
)
def test_eval_errors_are_one_line(args, message, ferplus_tiny, tiny_model):
    base = ["eval", "--data", str(ferplus_tiny)]
    if "--model" not in args:
        base += ["--model", str(tiny_model)]
    r = runner.invoke(app, base + args)
    assert r.exit_code == 2
    err = r.output.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


def test_eval_rejects_a_file_that_is_not_a_checkpoint(ferplus_tiny, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("hello")
    r = runner.invoke(app, ["eval", "--model", str(bad), "--data", str(ferplus_tiny), "--split", "val"])
    assert r.exit_code == 2 and "not a loadable PyTorch checkpoint" in r.output


def test_eval_unknown_layout(tmp_path, tiny_model):
    r = runner.invoke(app, ["eval", "--model", str(tiny_model), "--data", str(tmp_path)])
    assert r.exit_code == 2 and "unknown dataset layout" in r.output


def test_eval_against_a_reference(tiny_model, ferplus_tiny, tmp_path):
    out = tmp_path / "res.json"
    r = runner.invoke(app, ["eval", "--model", str(tiny_model), "--data", str(ferplus_tiny), "--split", "val",
                            "--factors", "1,4", "--json", str(out), "--reference", str(tiny_model)])
    assert r.exit_code == 0, r.output
    ref = json.loads(out.read_text())["reference"]
    assert ref["argmax_agreement"] == {"1": 1.0, "4": 1.0} and max(ref["max_abs_diff_probs"].values()) == 0.0
