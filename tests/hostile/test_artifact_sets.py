"""Artifact sets (INT8 graph + report, engine + sidecar) are written together or not at all."""

import os

import pytest

from edgefer.fileio import atomic_pair


def test_a_pair_replaces_both(tmp_path):
    a, b = tmp_path / "g.onnx", tmp_path / "g.json"
    a.write_text("old graph"), b.write_text("old report")
    with atomic_pair(a, b) as (ta, tb):
        ta.write_text("new graph")
        tb.write_text("new report")
    assert (a.read_text(), b.read_text()) == ("new graph", "new report")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json", "g.onnx"]  # no temp file left


def test_a_failure_inside_changes_neither(tmp_path):
    a, b = tmp_path / "g.onnx", tmp_path / "g.json"
    a.write_text("old graph"), b.write_text("old report")
    with pytest.raises(RuntimeError):
        with atomic_pair(a, b) as (ta, tb):
            ta.write_text("new graph")
            raise RuntimeError("calibration failed")
    assert (a.read_text(), b.read_text()) == ("old graph", "old report")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json", "g.onnx"]


def test_a_kill_between_the_renames_never_pairs_new_with_old(tmp_path, monkeypatch):
    """The worst a kill can do: the new artifact without a companion; never the old companion beside it."""
    a, b = tmp_path / "g.onnx", tmp_path / "g.json"
    a.write_text("old graph"), b.write_text("old report")
    real_replace, calls = os.replace, []

    def die_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies before the companion is renamed in
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", die_on_second)
    with pytest.raises(KeyboardInterrupt):
        with atomic_pair(a, b) as (ta, tb):
            ta.write_text("new graph")
            tb.write_text("new report")
    assert a.read_text() == "new graph" and not b.exists()


def test_quantization_scratch_of_a_dead_process_is_cleaned_and_nothing_else(tmp_path, monkeypatch):
    import subprocess
    import sys
    import tempfile

    from edgefer.fileio import clean_scratch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / f"edgefer-quant-{pid}-abc").mkdir()          # a killed run's scratch
    (tmp_path / f"edgefer-quant-{os.getpid()}-def").mkdir()  # a live one's
    (tmp_path / ".someone.else.tmp").write_text("x")          # not ours
    clean_scratch("edgefer-quant-")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".someone.else.tmp", f"edgefer-quant-{os.getpid()}-def"]


def test_a_video_cut_short_never_takes_its_name(tmp_path, monkeypatch):
    """OpenCV reports no failed write: a truncated mp4 (a full disk) must not be renamed into place."""
    import numpy as np

    from edgefer.camera.annotate import VideoSink
    from edgefer.errors import EdgeferError

    frames = [np.full((64, 96, 3), i * 20, np.uint8) for i in range(8)]
    good = VideoSink(tmp_path / "good.mp4", 10)
    for f in frames:
        good.write(f)
    assert good.close() == tmp_path / "good.mp4" and (tmp_path / "good.mp4").stat().st_size > 0

    cut = VideoSink(tmp_path / "cut.mp4", 10)
    for f in frames:
        cut.write(f)
    writer = cut._writer
    real_release = writer.release

    class Truncating:  # cv2.VideoWriter's release, then the disk "fills": the file is cut
        def release(self):
            real_release()
            data = cut.partial.read_bytes()
            cut.partial.write_bytes(data[: len(data) // 3])

    cut._writer = Truncating()
    with pytest.raises(EdgeferError, match="could not be written whole"):
        cut.close()
    assert not (tmp_path / "cut.mp4").exists() and not cut.partial.exists()
