"""Hostile options of ``edgefer train``: each ends in one ``error:`` line and exit 2, before any write."""

import os

import pytest
from typer.testing import CliRunner

from edgefer.cli.main import app

runner = CliRunner()


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("args, names", [
    (["--factors", "1,a"], "--factors"),  # issue #7
    (["--factors", "0"], "--factors"),
    (["--factors", "1,99"], "--factors"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "-4"], "--batch-size"),
    (["--batch-size", "100", "--limit", "8"], "--batch-size"),
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "-1"], "--epochs"),
    (["--limit", "0"], "--limit"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-1e-3"], "--lr"),
    (["--kd-alpha", "nan"], "--kd-alpha"),
    (["--p-sharp", "2"], "--p-sharp"),
    (["--recipe", "bogus"], "--recipe"),
    (["--init", "missing.pt"], "--init missing.pt: no such checkpoint"),
])
def test_bad_numbers_fail_before_any_write(args, names, ferplus_tiny, tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "fer", "--data", str(ferplus_tiny), "--out", str(out), *args])
    assert r.exit_code == 2, r.output
    lines = error_lines(r.output)
    assert len(lines) == 1 and names in lines[0], r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert not out.exists()  # checked before config.json, before reading the data


@pytest.mark.parametrize("cmd", [["sr"], ["fsr"]])
@pytest.mark.parametrize("args, names", [
    (["--batch-size", "0"], "--batch-size"), (["--lr", "nan"], "--lr"), (["--factors", "x"], "--factors")])
def test_other_trainers_share_the_checks(cmd, args, names, ferplus_tiny, tmp_path):
    fer = tmp_path / "fer.pt"
    fer.write_bytes(b"not read: the options fail first")
    r = runner.invoke(app, ["train", *cmd, "--data", str(ferplus_tiny), "--fer", str(fer), "--out", str(tmp_path / "o"), *args])
    assert r.exit_code == 2 and names in "".join(error_lines(r.output)), r.output


def test_fsr_needs_some_epoch(ferplus_tiny, tmp_path):
    fer = tmp_path / "fer.pt"
    fer.write_bytes(b"x")
    r = runner.invoke(app, ["train", "fsr", "--data", str(ferplus_tiny), "--fer", str(fer), "--out", str(tmp_path / "o"),
                            "--pretrain-epochs", "0", "--epochs", "0"])
    assert r.exit_code == 2 and "nothing to train" in r.output


def test_out_that_is_a_file_or_read_only(ferplus_tiny, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = runner.invoke(app, ["train", "fer", "--data", str(ferplus_tiny), "--out", str(f)])
    assert r.exit_code == 2 and "is a file" in r.output
    if os.geteuid() != 0:  # root writes anywhere: the permission check cannot be seen as root
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            r = runner.invoke(app, ["train", "fer", "--data", str(ferplus_tiny), "--out", str(ro / "run")])
            assert r.exit_code == 2 and "not writable" in r.output, r.output
        finally:
            ro.chmod(0o700)
    r = runner.invoke(app, ["train", "fer", "--data", str(ferplus_tiny), "--out", str(tmp_path / ("x" * 300))])
    assert r.exit_code == 2 and "longer than" in r.output


def test_batch_larger_than_the_split_saves_nothing(ferplus_tiny, tmp_path):
    """The tiny FER+ copy has 64 training faces: a batch of 100,000 ran 0 steps and shipped an untrained model."""
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "fer", "--data", str(ferplus_tiny), "--out", str(out), "--batch-size", "100000",
                            "--epochs", "1"])
    assert r.exit_code == 2 and "no full batch" in r.output and "at most 64 faces" in r.output, r.output
    assert not out.exists()


def test_count_faces_reads_labels_only(ferplus_tiny):
    from edgefer.data.layouts import count_faces

    assert count_faces(ferplus_tiny, "train") == 64 and count_faces(ferplus_tiny, "val") == 24
    assert count_faces(ferplus_tiny / "nope") is None


def test_missing_data_writes_nothing(tmp_path):
    r = runner.invoke(app, ["train", "fer", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "--data" in r.output and not (tmp_path / "run").exists()


def test_resume_with_a_bad_config(ferplus_tiny, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(b"x")
    for text in ("{not json", "[1, 2]", "\xff\xfe"):
        (out / "config.json").write_bytes(text.encode("latin-1"))
        r = runner.invoke(app, ["train", "fer", "--data", str(ferplus_tiny), "--out", str(out), "--resume",
                                "--batch-size", "16"])
        assert r.exit_code == 2 and "config.json" in "".join(error_lines(r.output)), r.output


@pytest.mark.parametrize("args, name", [
    (["--faces", "0"], "--faces"),
    (["--faces", "101"], "--faces"),
    (["--sheet-faces", "0"], "--sheet-faces"),
    (["--faces", "4", "--sheet-faces", "5"], "--sheet-faces"),
    (["--clip-frames", "0"], "--clip-frames"),
    (["--clip-faces", "-1"], "--clip-faces"),
    (["--clip-faces", "500"], "--clip-faces"),
    (["--factors", "1,a"], "--factors"),
])
def test_demo_options_fail_before_any_work(args, name, tmp_path):
    out = tmp_path / "demo"
    r = runner.invoke(app, ["demo", "--out", str(out), *args])
    lines = error_lines(r.output)
    assert r.exit_code == 2 and len(lines) == 1 and name in lines[0], r.output
    assert not out.exists()


@pytest.mark.parametrize("extra, says", [(["--tiny-blend"], "--tiny-blend needs --tiny"),
                                         (["--tiny", "missing.pt"], "missing.pt: no such checkpoint file")])
def test_route_tiny_options_fail_in_one_line(extra, says, ferplus_tiny, tmp_path):
    """A blend with no tiny model, or a tiny model that is not there: one error line, nothing written."""
    out = tmp_path / "routed.pt"
    from edgefer.paths import DEFAULT_MODEL

    model = str(DEFAULT_MODEL)
    args = [a if a != "missing.pt" else str(tmp_path / a) for a in extra]
    r = runner.invoke(app, ["train", "route", "--sharp", model, "--small", model, "--data", str(ferplus_tiny),
                            "--out", str(out), *args])
    assert r.exit_code == 2, r.output
    lines = error_lines(r.output)
    assert len(lines) == 1 and says in lines[0], r.output
    assert not out.exists()
