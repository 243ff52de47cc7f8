"""Resume is idempotent: metrics.jsonl never repeats an epoch, and never holds two "final" lines."""

import json

import pytest

from edgefer.errors import EdgeferError
from edgefer.training import run as run_mod
from edgefer.training.fer import FERConfig, train_fer
from edgefer.training.run import RunDir, append_line


def tiny_cfg(data, **kw):
    return FERConfig(data=str(data), batch_size=16, widths=[8, 16, 16, 32], emb_dim=16, val_factors=[1], **{"epochs": 2, **kw})


def records(out):
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def test_kill_between_metrics_and_save_does_not_repeat_the_epoch(ferplus_tiny, tmp_path):
    out = tmp_path / "run"
    real_save, saves = RunDir.save_last, []

    def killed_at_second_save(self, ckpt):
        saves.append(1)
        if len(saves) == 2:  # epoch 2's metrics line is written, its last.pt is not
            raise KeyboardInterrupt
        real_save(self, ckpt)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RunDir, "save_last", killed_at_second_save)
        with pytest.raises(KeyboardInterrupt):
            train_fer(tiny_cfg(ferplus_tiny), str(out))
    assert [r.get("epoch") for r in records(out)] == [1, 2]
    train_fer(tiny_cfg(ferplus_tiny), str(out), resume=True)
    epochs = [r["epoch"] for r in records(out) if "epoch" in r]
    assert epochs == [1, 2]
    assert sum("final" in r for r in records(out)) == 1

    # Resuming the finished run again: still one final line, no epoch added.
    train_fer(tiny_cfg(ferplus_tiny), str(out), resume=True)
    assert [r.get("epoch") for r in records(out)] == [1, 2, None]
    assert sum("final" in r for r in records(out)) == 1


def test_a_cut_off_metrics_line_is_dropped_on_resume(tmp_path):
    run = RunDir(tmp_path / "r", {"a": 1}, resume=False)
    run.count_step()
    run.log_metrics({"epoch": 1, "loss": 1.0})
    run.count_step()
    run.log_metrics({"epoch": 2, "loss": 0.5})
    with open(run.metrics, "a") as fh:
        fh.write('{"epoch": 3, "lo')  # a full disk cut the line
    assert run.trim_metrics(2) == 1
    assert [r["epoch"] for r in records(run.path)] == [1, 2]
    assert run.trim_metrics(1) == 1 and [r["epoch"] for r in records(run.path)] == [1]


def test_nothing_is_written_before_the_first_epoch(tmp_path):
    run = RunDir(tmp_path / "r", {"a": 1}, resume=False)
    assert not run.path.exists()
    with pytest.raises(EdgeferError, match="no training step"):
        run.log_metrics({"epoch": 1, "loss": float("nan")})
    assert not run.path.exists()


def test_append_line_reports_a_short_write(tmp_path, monkeypatch):
    monkeypatch.setattr(run_mod.os, "write", lambda fd, data: len(data) // 2)
    with pytest.raises(EdgeferError, match="short write"):
        append_line(tmp_path / "m.jsonl", '{"x": 1}')


def test_append_line_turns_a_full_disk_into_one_error(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_mod.os, "write", full)
    with pytest.raises(EdgeferError, match="No space left"):
        append_line(tmp_path / "m.jsonl", '{"x": 1}')
