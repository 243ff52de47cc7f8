"""``edgefer infer`` under hostile options and faults: one error line, no abort, no lost summary.json."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading

import pytest
from typer.testing import CliRunner

from edgefer.camera import outputs as outputs_mod
from edgefer.camera.pipeline import InferOptions, run_infer
from edgefer.camera.signals import StopFlag, stop_on_signals
from edgefer.camera.sources import SourceOptions, SourceSpec
from edgefer.cli.main import app
from edgefer.errors import EdgeferError
from tests.camera.fakes import FakeCamera

runner = CliRunner()


def invoke(args, onnx_model, crowd_clip, out):
    return runner.invoke(app, ["infer", "--source", str(crowd_clip.path), "--model", str(onnx_model), "--out", str(out),
                               "--max-frames", "2", *args])


@pytest.mark.parametrize("args, name", [
    (["--det-score", "2"], "--det-score"),
    (["--det-score", "nan"], "--det-score"),
    (["--max-frames", "0"], "--max-frames"),
    (["--max-frames", "-3"], "--max-frames"),
    (["--threads", "-1"], "--threads"),
    (["--threads", "0"], "--threads"),
    (["--threads", "2000"], "--threads"),
    (["--min-face", "nan"], "--min-face"),
    (["--min-face", "-inf"], "--min-face"),
    (["--min-confidence", "nan"], "--min-confidence"),
])
def test_bad_numbers_are_one_line_and_write_nothing(args, name, onnx_model, crowd_clip, tmp_path):
    out = tmp_path / "out"
    r = invoke(args, onnx_model, crowd_clip, out)
    lines = [x for x in r.output.splitlines() if x.strip() and not x.startswith("model:")]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:") and name in lines[0], r.output
    assert not out.exists()


def test_out_that_cannot_be_a_folder(onnx_model, crowd_clip, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    for out, message in ((f, "is a file"), (tmp_path / ("n" * 300), "longer than"), (f / "sub", "is a file")):
        r = invoke([], onnx_model, crowd_clip, out)
        assert r.exit_code == 2 and message in r.output, r.output
    assert f.read_text() == "x"


def test_annotated_video_that_is_a_folder(onnx_model, crowd_clip, tmp_path):
    (tmp_path / "out" / "annotated.mp4").mkdir(parents=True)
    r = invoke(["--save-video"], onnx_model, crowd_clip, tmp_path / "out")
    assert r.exit_code == 2 and "annotated.mp4" in r.output and "folder" in r.output, r.output


def test_out_is_a_file_ends_without_an_abort(onnx_model, crowd_clip, tmp_path):
    """As a process: the reader thread used to start before the folder was made, and abort at exit (rc 134)."""
    f = tmp_path / "file"
    f.write_text("x")
    p = subprocess.run([sys.executable, "-m", "edgefer.cli.main", "infer", "--source", str(crowd_clip.path), "--model",
                        str(onnx_model), "--out", str(f)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert [x for x in p.stderr.splitlines() if x.strip()] == [f"error: --out {f}: is a file, not a folder"]


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "edgefer-reader" and t.is_alive()]


def test_no_reader_thread_outlives_a_failed_start(onnx_model, tmp_path, monkeypatch):
    cam = FakeCamera(total=10_000, fail_after=None, delay_s=0.01)

    def no_crowd(*a, **k):
        raise EdgeferError("crowd.csv: cannot write (injected)")

    monkeypatch.setattr(outputs_mod, "CrowdSeries", no_crowd)
    with pytest.raises(EdgeferError, match="injected"):
        run_infer(onnx_model, SourceSpec("fake", "camera", 0, live=True), tmp_path / "o",
                  capture_factory=cam.factory, source_options=SourceOptions(open_timeout_s=1))
    assert not reader_threads() and cam.served == 0  # never read a frame: no thread had started


def faces_lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_disk_full_while_writing_faces(onnx_model, crowd_clip, tmp_path, monkeypatch):
    real_write, calls = os.write, []

    def full_after_some(fd, data):
        calls.append(1)
        if len(calls) == 5:  # a record cut in half, then the disk is full
            real_write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(outputs_mod.os, "write", full_after_some)
    with pytest.raises(EdgeferError, match="disk full"):
        run_infer(onnx_model, str(crowd_clip.path), tmp_path, options=InferOptions(max_frames=5))
    monkeypatch.undo()
    records = faces_lines(tmp_path / "faces.jsonl")  # every line parses: the cut one was dropped
    assert len(records) == 4
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stopped"].startswith("error:") and "disk full" in summary["stopped"]


def test_disk_full_at_the_end_keeps_a_summary(onnx_model, crowd_clip, tmp_path, monkeypatch):
    def no_room(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs_mod, "write_json", no_room)
    with pytest.raises(EdgeferError, match="disk full while finishing"):
        run_infer(onnx_model, str(crowd_clip.path), tmp_path, options=InferOptions(max_frames=3))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frames"] == 3 and summary["stopped"] == "max-frames" and summary["faces"] > 0


def test_summary_that_must_shrink_to_fit():
    big = {"stopped": "x", "frames": 1, "faces": 2, "stages": {str(i): "y" * 100 for i in range(200)}}
    text = outputs_mod._fit(big, 1024)
    assert len(text.encode()) <= 1024 and json.loads(text)["faces"] == 2 and json.loads(text)["truncated"]


def test_second_ctrl_c_during_finalisation_keeps_every_result(onnx_model, crowd_clip, tmp_path, monkeypatch):
    real_plot = outputs_mod.CrowdSeries.plot

    def plot_under_fire(self, path):
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C ...
        os.kill(os.getpid(), signal.SIGINT)  # ... twice, while crowd.png is drawn
        return real_plot(self, path)

    monkeypatch.setattr(outputs_mod.CrowdSeries, "plot", plot_under_fire)
    s = run_infer(onnx_model, str(crowd_clip.path), tmp_path, options=InferOptions(max_frames=3))
    assert (tmp_path / "crowd.png").is_file() and json.loads((tmp_path / "summary.json").read_text())["frames"] == 3
    assert s["stopped"] == "max-frames"


def test_deferred_signals_are_counted_not_raised():
    stop = StopFlag()
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.is_set()
        with stop.finalising():
            os.kill(os.getpid(), signal.SIGINT)
        assert stop.deferred == 1
        with pytest.raises(KeyboardInterrupt):  # outside finalisation, a second SIGINT still breaks a stuck loop
            os.kill(os.getpid(), signal.SIGINT)


def test_a_real_file_size_limit(onnx_model, crowd_clip, tmp_path):
    """``ulimit -f 16`` as in the issue: one error line, whole JSONL lines, a summary.json that parses."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "edgefer.cli.main", "infer", "--source", str(crowd_clip.path), "--model",
                        str(onnx_model), "--out", str(out), "--no-save-video"], capture_output=True, text=True,
                       timeout=300, preexec_fn=limit)
    errors = [x for x in p.stderr.splitlines() if x.startswith("error:")]
    assert p.returncode == 2 and len(errors) == 1 and "disk full" in errors[0], p.stderr
    assert "Traceback" not in p.stderr
    records = faces_lines(out / "faces.jsonl")
    assert records and (out / "faces.jsonl").read_bytes().endswith(b"\n")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"].startswith("error:") and summary["frames"] >= 1
