"""The synthetic crowd clip, the bench's structure (no timing asserts), and the output writers."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgefer.camera.bench import parse_ints, parse_pair, run_bench
from edgefer.camera.clip import CrowdClip, make_crowd_clip
from edgefer.camera.crowd import CrowdSeries
from edgefer.camera.outputs import FaceResult, RunOutputs
from edgefer.camera.tracker import iou_matrix
from edgefer.classes import CLASSES
from edgefer.errors import EdgeferError
from tests.camera.conftest import read_frames
from tests.camera.test_pipeline import cli_app

# clip ------------------------------------------------------------------------------------------------

def test_clip_truth_is_consistent_with_the_video(crowd_clip, tmp_path):
    frames = read_frames(crowd_clip.path)
    assert len(frames) == crowd_clip.frames == 20 and frames[0].shape == (480, 640, 3)
    lo, hi = crowd_clip.face_px_range
    assert 20 <= lo <= hi <= 64 and hi - lo >= 20
    for boxes in crowd_clip.boxes:
        assert boxes.shape == (12, 4)
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 640).all() and (boxes[:, 1] + boxes[:, 3] <= 480).all()
        iou = iou_matrix(boxes, boxes)
        assert (iou[~np.eye(12, dtype=bool)] == 0).all()  # faces never overlap
    moved = np.abs(crowd_clip.boxes[-1][:, :2] - crowd_clip.boxes[0][:, :2]).max()
    assert 1 <= moved <= 8  # they drift a little: something to track
    again = CrowdClip.read_truth(crowd_clip.write_truth(tmp_path / "t.json"))
    assert all((a == b).all() for a, b in zip(again.boxes, crowd_clip.boxes)) and again.fps == crowd_clip.fps


def test_clip_sizes_shrink_to_fit_many_faces_and_errors(tmp_path):
    c = make_crowd_clip(tmp_path / "c.avi", n_faces=64, frames=2, size=(640, 480), face_px=(20, 64))
    assert c.n_faces == 64 and c.face_px_range[1] < 40
    with pytest.raises(EdgeferError, match="do not fit"):
        make_crowd_clip(tmp_path / "d.avi", n_faces=64, frames=1, size=(320, 240), face_px=(30, 40))
    with pytest.raises(EdgeferError, match="must be .mp4 or .avi"):
        make_crowd_clip(tmp_path / "e.mkv")


# bench -----------------------------------------------------------------------------------------------

def test_bench_reports_every_batch_and_crowd_size(onnx_model, tmp_path):
    r = run_bench(onnx_model, [1, 4], iters=3, faces=[1, 4], frames=4, frame_size=(320, 240), face_px=(20, 40), threads=1)
    assert [b["batch"] for b in r["batches"]] == [1, 4]
    for b in r["batches"]:
        assert b["median_ms"] > 0 and b["p90_ms"] >= b["median_ms"] * 0.999
        assert b["faces_per_s"] == pytest.approx(1e3 * b["batch"] / b["median_ms"], rel=1e-2)
    assert [e["faces_in_clip"] for e in r["end_to_end"]] == [1, 4]
    for e in r["end_to_end"]:
        assert e["frames"] == 4 and e["fps"] > 0
        assert set(e["stages_mean_ms"]) == {"read", "detect", "preprocess", "infer", "post"}
        assert abs(e["faces_detected_per_frame"] - e["faces_in_clip"]) <= 1
    assert r["machine"]["cpus"] >= 1 and r["backend"].startswith("onnxruntime")


def test_bench_uses_the_runners_cuda_event_hook(onnx_model, monkeypatch):
    from edgefer.backends.ort_runner import OnnxRuntimeRunner

    seen = []

    def time_infer(self, batch, repeats=20, warmup=3):
        seen.append((len(batch), repeats))
        return {"median_ms": 0.5}

    monkeypatch.setattr(OnnxRuntimeRunner, "time_infer", time_infer, raising=False)
    r = run_bench(onnx_model, [2, 8], iters=2, faces=[1], end_to_end=False)
    assert seen == [(2, 2), (8, 2)]
    assert [b["gpu_median_ms"] for b in r["batches"]] == [0.5, 0.5] and r["batches"][1]["gpu_faces_per_s"] == 16000.0
    assert "end_to_end" not in r


def test_bench_cli_writes_json(onnx_model, crowd_clip, tmp_path):
    out = tmp_path / "bench.json"
    res = CliRunner().invoke(cli_app(), ["bench", "--model", str(onnx_model), "--batch", "1,2", "--iters", "2",
                                         "--clip", str(crowd_clip.path), "--frames", "3", "--json", str(out)])
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert [b["batch"] for b in r["batches"]] == [1, 2] and r["end_to_end"][0]["frames"] == 3
    assert "runner latency" in res.output
    res = CliRunner().invoke(cli_app(), ["bench", "--model", str(onnx_model), "--batch", "1,x"])
    assert res.exit_code == 2 and "error: --batch: expected comma-separated integers" in res.output


def test_parsers():
    assert parse_ints("1, 8,32", "--batch") == [1, 8, 32]
    assert parse_pair("640x480", "--frame-size", "x") == (640, 480)
    assert parse_pair("20-64", "--face-px", "-") == (20, 64)
    for bad in ("0", "", "a"):
        with pytest.raises(EdgeferError):
            parse_ints(bad, "--batch")
    with pytest.raises(EdgeferError, match="--frame-size"):
        parse_pair("640", "--frame-size", "x")


# outputs ---------------------------------------------------------------------------------------------

def face(label: str, track: int = 1, px: float = 20.0) -> FaceResult:
    if label == "unknown":
        return FaceResult(np.array([1, 2, px, px]), 0.9, px, track, reason="small: 5 px < --min-face 8")
    p = np.full(len(CLASSES), 0.01, np.float32)
    p[CLASSES.index(label)] = 1 - 0.01 * (len(CLASSES) - 1)
    return FaceResult(np.array([1.4, 2.6, px, px]), 0.9, px, track, label, float(p.max()), p, label)


def test_record_schema():
    r = face("happiness", track=7).record(frame=3, t=0.2)
    assert list(r)[:8] == ["frame", "t", "box", "track", "label", "score", "probs", "face_px"]
    assert r["box"] == [1, 3, 20, 20] and r["track"] == 7 and r["probs"]["happiness"] == pytest.approx(0.93)
    u = face("unknown").record(frame=3, t=0.2)
    assert u["label"] == "unknown" and u["probs"] is None and u["score"] is None and u["reason"].startswith("small")
    json.dumps(r), json.dumps(u)


def test_crowd_series_rows(tmp_path):
    s = CrowdSeries(tmp_path / "crowd.csv", CLASSES)
    s.add(0.0, ["happiness", "happiness", "unknown"])
    s.add(0.5, ["neutral", "happiness"])
    assert len(list(csv.reader((tmp_path / "crowd.csv").open()))) == 1  # second 0 is not over yet
    s.add(1.2, [])
    assert len(list(csv.reader((tmp_path / "crowd.csv").open()))) == 2  # ... now it is, and it is on disk
    s.add(3.0, ["anger"])
    s.close()
    rows = list(csv.DictReader((tmp_path / "crowd.csv").open()))
    assert [r["second"] for r in rows] == ["0", "1", "3"]
    r0 = rows[0]
    assert r0["frames"] == "2" and float(r0["faces"]) == 2.5 and r0["max_faces"] == "3"
    assert float(r0["unknown"]) == pytest.approx(0.2) and float(r0["happiness"]) == pytest.approx(0.75)
    assert float(r0["neutral"]) == pytest.approx(0.25) and float(rows[1]["faces"]) == 0.0
    assert s.plot(tmp_path / "crowd.png").read_bytes()[:4] == b"\x89PNG"


def test_run_outputs_finalise_is_atomic_and_idempotent(tmp_path):
    out = RunOutputs(tmp_path, save_frames=True)
    out.add(0, 0.0, [face("happiness"), face("unknown", 2)])
    out.add(1, 0.1, [face("sadness")])
    lines = (tmp_path / "faces.jsonl").read_text().splitlines()
    assert len(lines) == 3  # flushed per record, before finalise
    s = out.finalise({"frames": 2, "files": {"extra": "x"}})
    assert s["faces"] == 3 and s["per_class"]["happiness"] == 1 and s["per_class"]["unknown"] == 1
    assert s["unknown_reasons"] == {"small": 1} and s["files"]["extra"] == "x" and "crowd_png" in s["files"]
    assert json.loads((tmp_path / "summary.json").read_text()) == s
    assert out.finalise({"frames": 99}) is s
