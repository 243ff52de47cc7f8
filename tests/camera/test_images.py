"""Still images as --source: a file, a folder and a glob; annotated PNGs at the image's own size."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.camera.conftest import read_frames


@pytest.fixture(scope="module")
def photos(tmp_path_factory, crowd_clip):
    import cv2

    d = tmp_path_factory.mktemp("photos")
    frames = read_frames(crowd_clip.path)
    cv2.imwrite(str(d / "a.jpg"), frames[0][:, :, :])
    cv2.imwrite(str(d / "b.png"), frames[5][:461, :])  # an odd height must survive (the old path cut 661 to 660)
    (d / "notes.txt").write_text("not an image")
    return d


def cli(*args):
    from edgefer.cli.main import app

    return CliRunner().invoke(app, ["infer", *args])


@pytest.mark.parametrize("how", ["file", "folder", "glob"])
def test_image_sources_write_pngs_and_records(how, photos, onnx_model, tmp_path):
    import cv2

    source = {"file": str(photos / "b.png"), "folder": str(photos), "glob": str(photos / "*.jpg")}[how]
    r = cli("--model", str(onnx_model), "--source", source, "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    want = {"file": ["b.png"], "folder": ["a.jpg", "b.png"], "glob": ["a.jpg"]}[how]
    assert [p.split("/")[-1] for p in (i["file"] for i in summary["images"])] == want
    for entry in summary["images"]:
        png = cv2.imread(entry["annotated"])
        src = cv2.imread(entry["file"])
        assert png.shape == src.shape and entry["faces"] > 0
    records = [json.loads(line) for line in (tmp_path / "faces.jsonl").read_text().splitlines()]
    assert len(records) == summary["faces"] and {r["frame"] for r in records} == {i["frame"] for i in summary["images"]}
    assert not (tmp_path / "annotated.mp4").exists()


def test_privacy_mode_writes_no_png(photos, onnx_model, tmp_path):
    r = cli("--model", str(onnx_model), "--source", str(photos), "--out", str(tmp_path), "--no-save-frames")
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "annotated").exists() and not (tmp_path / "faces.jsonl").exists()
    assert json.loads((tmp_path / "summary.json").read_text())["faces"] > 0


@pytest.mark.parametrize("source, message", [("{d}/*.gif", "matches no image"), ("{d}/missing.jpg", "no such image file")])
def test_bad_image_sources_are_one_line_errors(source, message, photos, onnx_model, tmp_path):
    r = cli("--model", str(onnx_model), "--source", source.format(d=photos), "--out", str(tmp_path))
    assert r.exit_code == 2 and message in r.output and r.output.count("\n") == 1


def test_video_files_get_an_annotated_video_by_default(crowd_clip, onnx_model, tmp_path):
    r = cli("--model", str(onnx_model), "--source", str(crowd_clip.path), "--out", str(tmp_path), "--max-frames", "3")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "annotated.mp4").is_file()
    r = cli("--model", str(onnx_model), "--source", str(crowd_clip.path), "--out", str(tmp_path / "n"), "--max-frames", "3",
            "--no-save-video")
    assert r.exit_code == 0 and not (tmp_path / "n" / "annotated.mp4").exists()
    assert np.isfinite(json.loads((tmp_path / "summary.json").read_text())["fps"])


def test_unreadable_images_are_skipped_and_listed(photos, onnx_model, tmp_path):
    import shutil

    d = tmp_path / "mixed"
    d.mkdir()
    shutil.copy(photos / "a.jpg", d / "a.jpg")
    (d / "broken.jpg").write_bytes(b"not a jpeg")
    r = cli("--model", str(onnx_model), "--source", str(d), "--out", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [i["file"].split("/")[-1] for i in s["images"]] == ["a.jpg"] and s["unreadable"] == [str(d / "broken.jpg")]
    (d / "a.jpg").unlink()
    r = cli("--model", str(onnx_model), "--source", str(d), "--out", str(tmp_path / "out2"))
    assert r.exit_code == 2 and "none of the 1 images could be read" in r.output


@pytest.mark.parametrize("args, message", [(["--det-enhance", "sharpen"], "--det-enhance 'sharpen'"),
                                           (["--det-width", "wide"], "--det-width 'wide'")])
def test_bad_detector_options_fail_before_any_work(args, message, photos, tmp_path):
    r = cli("--source", str(photos), "--out", str(tmp_path / "out"), *args)
    assert r.exit_code == 2 and message in r.output and "model:" not in r.output
    assert not (tmp_path / "out").exists()
