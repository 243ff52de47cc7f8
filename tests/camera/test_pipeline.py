"""``edgefer infer`` end to end on generated clips, checked against the clips' truth; backends agree."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from edgefer.backends import load_runner
from edgefer.camera.clip import make_crowd_clip
from edgefer.camera.defaults import CROP_MARGIN
from edgefer.camera.detectors import make_detector
from edgefer.camera.pipeline import InferOptions, run_infer
from edgefer.camera.sources import SourceOptions, SourceSpec
from edgefer.camera.tracker import iou_matrix
from edgefer.classes import CLASSES
from edgefer.cli.common import handle_errors
from edgefer.cli.infer import bench_command, infer_command
from edgefer.errors import EdgeferError
from edgefer.preprocess import preprocess_faces, square_box
from tests.camera.conftest import read_frames
from tests.camera.fakes import FakeCamera

KEYS = {"frame", "t", "box", "track", "label", "score", "probs", "face_px"}


def cli_app() -> typer.Typer:
    app = typer.Typer()
    app.command("infer")(handle_errors(infer_command))
    app.command("bench")(handle_errors(bench_command))
    return app


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory, onnx_model, crowd_clip):
    out = tmp_path_factory.mktemp("run")
    result = CliRunner().invoke(cli_app(), ["infer", "--model", str(onnx_model), "--source", str(crowd_clip.path),
                                            "--out", str(out), "--save-video"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_jsonl_matches_the_clip_truth(clip_run, crowd_clip):
    out, _ = clip_run
    records = read_jsonl(out / "faces.jsonl")
    by_frame: dict[int, list[dict]] = {}
    for r in records:
        assert KEYS <= set(r), r
        by_frame.setdefault(r["frame"], []).append(r)
    assert sorted(by_frame) == list(range(crowd_clip.frames))  # every frame had faces and was processed
    recall = []
    for i, truth in enumerate(crowd_clip.boxes):
        boxes = np.array([r["box"] for r in by_frame[i]])
        iou = iou_matrix(truth, boxes)
        assert (iou.max(axis=0) >= 0.4).all(), f"frame {i}: a reported face overlaps no true face"
        recall.append((iou.max(axis=1) >= 0.4).mean())
        assert abs(len(boxes) - len(truth)) <= 3
    assert np.mean(recall) >= 0.8, f"mean recall {np.mean(recall):.2f}"
    r = records[0]
    assert len(r["box"]) == 4 and all(isinstance(v, int) for v in r["box"])
    assert r["t"] == 0.0 and records[-1]["t"] == pytest.approx((crowd_clip.frames - 1) / crowd_clip.fps, abs=1e-3)
    known = [r for r in records if r["label"] != "unknown"]
    assert len(known) >= 0.9 * len(records)  # the clip's faces are 20-64 px and sharp: few unknowns
    for r in known:
        assert set(r["probs"]) == set(CLASSES) and sum(r["probs"].values()) == pytest.approx(1.0, abs=1e-3)
        assert r["label"] == max(r["probs"], key=r["probs"].get) and r["score"] == pytest.approx(r["probs"][r["label"]], abs=1e-4)
        assert r["raw_label"] in CLASSES and abs(r["face_px"] - max(r["box"][2:])) <= 1


def test_tracks_follow_each_true_face(clip_run, crowd_clip):
    out, _ = clip_run
    records = read_jsonl(out / "faces.jsonl")
    tracks_of_face: dict[int, set[int]] = {}
    for r in records:
        iou = iou_matrix(crowd_clip.boxes[r["frame"]], np.array([r["box"]]))[:, 0]
        if iou.max() >= 0.4:
            tracks_of_face.setdefault(int(iou.argmax()), set()).add(r["track"])
    assert len(tracks_of_face) >= 0.8 * crowd_clip.n_faces
    stable = [len(t) == 1 for t in tracks_of_face.values()]
    assert np.mean(stable) >= 0.8, tracks_of_face  # most faces keep one id over the whole clip


def test_summary_crowd_csv_plot_and_video(clip_run, crowd_clip):
    out, output = clip_run
    s = json.loads((out / "summary.json").read_text())
    records = read_jsonl(out / "faces.jsonl")
    assert s["frames"] == crowd_clip.frames == s["frames_read"] and s["dropped_frames"] == 0
    assert s["faces"] == len(records) and s["stopped"] == "end of file"
    assert s["backend"].startswith("onnxruntime") and s["detector"]["name"] == "yunet"
    from edgefer.camera.model import CAMERA_ORT_THREADS

    assert s["threads"] == CAMERA_ORT_THREADS  # the loop's ONNX Runtime default (non-spinning threads)
    assert sum(s["per_class"].values()) == s["faces"] and set(s["per_class"]) == {*CLASSES, "unknown"}
    assert s["fps"] > 0 and s["faces_per_s"] > 0
    assert set(s["stages"]) == {"read", "detect", "preprocess", "infer", "post"}
    assert s["infer_calls"] <= s["frames"]  # at most ONE batched call per frame
    assert s["frame_size"] == list(crowd_clip.size) and s["source_fps"] == pytest.approx(crowd_clip.fps)
    rows = list(csv.DictReader((out / "crowd.csv").open()))
    assert [int(r["second"]) for r in rows] == sorted({int(i / crowd_clip.fps) for i in range(crowd_clip.frames)})
    assert sum(int(r["frames"]) for r in rows) == crowd_clip.frames
    mean_faces = np.mean([float(r["faces"]) for r in rows])
    assert abs(mean_faces - crowd_clip.n_faces) <= 3
    for r in rows:
        shares = sum(float(r[c]) for c in CLASSES)
        assert shares == pytest.approx(1.0, abs=1e-3) or shares == 0
    assert (out / "crowd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(read_frames(out / "annotated.mp4")) == crowd_clip.frames
    assert not list(out.glob(".*"))  # no partial files left behind
    assert "frames/s" in output and "faces_jsonl" in output


def test_one_batched_infer_per_frame_with_the_shared_preprocessing(onnx_model, crowd_clip, tmp_path):
    calls = []
    with load_runner(onnx_model) as runner:
        inner = runner.infer

        def spy(batch):
            calls.append(batch.copy())
            return inner(batch)

        runner.infer = spy
        s = run_infer(runner, str(crowd_clip.path), tmp_path, options=InferOptions(max_frames=2))
    assert s["frames"] == 2 and len(calls) == 2
    frame = read_frames(crowd_clip.path)[0]
    opts = InferOptions()
    boxes, _ = make_detector("yunet", input_width=opts.det_width, enhance=opts.det_enhance).detect(frame)  # as the loop does
    crops = [frame[y0:y1, x0:x1] for x0, y0, x1, y1 in (square_box(b, CROP_MARGIN, frame.shape) for b in boxes)]
    np.testing.assert_array_equal(calls[0], preprocess_faces(crops))  # the training preprocessing, one batch


def test_backends_agree_on_camera_faces(tiny_models, crowd_clip, tmp_path):
    pt, onnx = tiny_models
    frame = read_frames(crowd_clip.path)[5]
    opts = InferOptions()
    boxes, _ = make_detector("yunet", input_width=opts.det_width, enhance=opts.det_enhance).detect(frame)  # as the loop does
    crops = [frame[y0:y1, x0:x1] for x0, y0, x1, y1 in (square_box(b, CROP_MARGIN, frame.shape) for b in boxes)]
    batch = preprocess_faces(crops)
    with load_runner(pt) as a, load_runner(onnx) as b:
        pa, pb = a.infer(batch), b.infer(batch)
    assert pa.shape == pb.shape == (len(crops), len(CLASSES))
    np.testing.assert_allclose(pa, pb, atol=1e-4)
    # and through the whole loop: the same records from either backend
    runs = {}
    for name, model in (("pt", pt), ("onnx", onnx)):
        s = run_infer(model, str(crowd_clip.path), tmp_path / name, options=InferOptions(max_frames=4))
        runs[name] = read_jsonl(tmp_path / name / "faces.jsonl")
        assert s["backend"].startswith({"pt": "torch", "onnx": "onnxruntime"}[name])
    assert len(runs["pt"]) == len(runs["onnx"]) > 0
    for ra, rb in zip(runs["pt"], runs["onnx"]):
        assert (ra["box"], ra["track"], ra["label"]) == (rb["box"], rb["track"], rb["label"])
        assert max(abs(ra["probs"][c] - rb["probs"][c]) for c in CLASSES) <= 2e-4


def test_privacy_mode_keeps_only_aggregates(onnx_model, crowd_clip, tmp_path):
    (tmp_path / "faces.jsonl").write_text("{}\n")  # left over from an earlier run in the same folder
    s = run_infer(onnx_model, str(crowd_clip.path), tmp_path, options=InferOptions(save_frames=False, max_frames=5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crowd.csv", "crowd.png", "summary.json"]
    assert s["privacy"] is True and s["faces"] > 0 and "faces_jsonl" not in s["files"]
    with pytest.raises(EdgeferError, match="--save-video and --no-save-frames contradict"):
        run_infer(onnx_model, str(crowd_clip.path), tmp_path, options=InferOptions(save_frames=False, save_video=True))


def test_small_faces_are_unknown_with_a_reason(onnx_model, crowd_clip, tmp_path):
    s = run_infer(onnx_model, str(crowd_clip.path), tmp_path, options=InferOptions(min_face=40, max_frames=3))
    records = read_jsonl(tmp_path / "faces.jsonl")
    small = [r for r in records if r["face_px"] < 40]
    assert small and all(r["label"] == "unknown" and r["probs"] is None and r["score"] is None for r in small)
    assert all(r["reason"] == f"small: {r['face_px']} px < --min-face 40" for r in small)
    assert all(r["label"] != "unknown" for r in records if r["face_px"] >= 45)
    assert s["per_class"]["unknown"] == len(small) and s["unknown_reasons"] == {"small": len(small)}


def test_truncated_video_gives_valid_outputs(onnx_model, tmp_path):
    clip = make_crowd_clip(tmp_path / "c.avi", n_faces=4, frames=20, size=(320, 240), face_px=(24, 40))
    cut = tmp_path / "cut.avi"
    cut.write_bytes(clip.path.read_bytes()[: int(clip.path.stat().st_size * 0.5)])
    s = run_infer(onnx_model, str(cut), tmp_path / "out")
    assert 1 <= s["frames"] < 20 and s["stopped"] == "truncated?"
    records = read_jsonl(tmp_path / "out" / "faces.jsonl")
    assert records and max(r["frame"] for r in records) == s["frames"] - 1


def test_live_source_with_a_dropout_through_the_loop(onnx_model, crowd_clip, tmp_path):
    cam = FakeCamera(frames=read_frames(crowd_clip.path), total=60, fail_after=20, fail_opens=2, delay_s=0.004)
    opts = SourceOptions(backoff_s=(0.01, 0.04), open_timeout_s=0.5, reopen_timeout_s=0.3)
    s = run_infer(onnx_model, SourceSpec("fake", "camera", 0, live=True), tmp_path, source_options=opts,
                  capture_factory=cam.factory)
    assert s["frames_read"] == 60 and s["dropped_frames"] == 60 - s["frames"] and s["dropped_frames"] > 0
    assert s["source_gaps"][0]["attempts"] == 3 and s["stopped"] == "gave up reopening"
    frames = [r["frame"] for r in read_jsonl(tmp_path / "faces.jsonl")]
    assert frames == sorted(frames) and frames[-1] == 59


@pytest.mark.parametrize("args, message", [
    (["--source", "nope.mp4"], "error: nope.mp4: no such video file"),
    (["--source", "{clip}", "--detector-model", "missing.onnx"], "error: missing.onnx: no such YuNet model file"),
    (["--source", "{clip}", "--model", "{bad}"], "error: {bad}: ONNX Runtime cannot load this graph"),
    (["--source", "{clip}", "--model", "model.bin"], "unknown model type '.bin'"),
    (["--source", "{clip}", "--min-face", "0"], "error: --min-face must be at least 1 px"),
])
def test_cli_errors_are_one_line(args, message, onnx_model, crowd_clip, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    (tmp_path / "model.bin").write_bytes(b"x")
    fill = {"clip": str(crowd_clip.path), "bad": str(bad)}
    args = [a.format(**fill) for a in args]
    if "--model" not in args:
        args += ["--model", str(onnx_model)]
    args = [str(tmp_path / a) if a == "model.bin" else a for a in args]
    result = CliRunner().invoke(cli_app(), ["infer", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message.format(**fill) in lines[0], result.output
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_pt_model_without_torch_is_a_one_line_error(tiny_models, monkeypatch):
    import builtins

    from edgefer.camera.model import open_runner

    real_import = builtins.__import__

    def no_torch(name, *a, **k):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(EdgeferError, match=r"cannot load the torch backend \(torch is not installed\); .* export it"):
        open_runner(tiny_models[0])


def test_display_without_a_screen_is_a_one_line_error(onnx_model, crowd_clip, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(EdgeferError, match=r"--display: no \$DISPLAY"):
        run_infer(onnx_model, str(crowd_clip.path), tmp_path, options=InferOptions(display=True))
    assert not (tmp_path / "summary.json").exists()
