"""eval, compare and info on bad options and damaged files: one error line, exit 2, nothing written."""

import json

import pytest
import torch
from typer.testing import CliRunner

from edgefer.cli.main import app
from tests.test_checkpoint import tiny_fsr_ckpt

runner = CliRunner()


@pytest.fixture
def tiny_pt(tmp_path):
    from edgefer.checkpoint import save_checkpoint

    return save_checkpoint(tiny_fsr_ckpt(), tmp_path / "tiny.pt")


def one_error_line(r, text):
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("extra,text", [
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "-3"], "--batch-size"),
    (["--corrupt", "fog"], "--corrupt 'fog'"),
])
def test_eval_refuses_bad_options_before_reading_data(tiny_pt, ferplus_tiny, extra, text):
    one_error_line(runner.invoke(app, ["eval", "--model", str(tiny_pt), "--data", str(ferplus_tiny), *extra]), text)


def test_eval_json_into_a_folder_is_refused(tiny_pt, ferplus_tiny, tmp_path):
    folder = tmp_path / "out.json"
    folder.mkdir()
    one_error_line(runner.invoke(app, ["eval", "--model", str(tiny_pt), "--data", str(ferplus_tiny), "--json", str(folder)]),
                   "is a folder")


@pytest.mark.parametrize("content", [
    "{}",
    json.dumps({"accuracy": {"1": 0.5}}),  # no macro_f1
    json.dumps({"accuracy": "high", "macro_f1": {"1": 0.5}}),
    json.dumps({"accuracy": {"one": 0.5}, "macro_f1": {"one": 0.5}}),
    json.dumps({"accuracy": {"1": "0.5"}, "macro_f1": {"1": 0.5}}),
    "[1, 2]",
    "not json",
])
def test_compare_refuses_damaged_results(tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    one_error_line(runner.invoke(app, ["compare", str(bad)]), "bad.json: not an `edgefer eval --json` result")


@pytest.mark.parametrize("damage", [{"version": "1"}, {"state": None}, {"arch": []}])
def test_info_on_a_damaged_checkpoint(tmp_path, damage):
    ck = {**tiny_fsr_ckpt(), **damage}
    path = tmp_path / "damaged.pt"
    torch.save(ck, path)
    one_error_line(runner.invoke(app, ["info", "--model", str(path)]), "damaged.pt: damaged edgefer checkpoint")
