"""Detectors: YuNet finds the small faces of the clip; Haar is used when OpenCV has it and refused clearly when not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgefer.camera.defaults import YUNET_MODEL
from edgefer.camera.detectors import HaarDetector, YuNetDetector, make_detector
from edgefer.camera.tracker import iou_matrix
from edgefer.errors import EdgeferError
from tests.camera.conftest import read_frames

SHARED_YUNET_SHA = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"


def test_vendored_yunet_is_the_documented_file():
    import hashlib

    assert YUNET_MODEL.is_file(), "edgefer/weights/face_detection_yunet.onnx is missing"
    assert hashlib.sha256(YUNET_MODEL.read_bytes()).hexdigest() == SHARED_YUNET_SHA
    assert (YUNET_MODEL.parent / "YUNET_LICENSE.md").read_text().count(SHARED_YUNET_SHA) == 1


def test_yunet_finds_most_small_faces_of_the_clip(crowd_clip):
    det = make_detector("yunet")
    frame = read_frames(crowd_clip.path)[0]
    boxes, scores = det.detect(frame)
    assert boxes.shape[1] == 4 and boxes.dtype == np.float32 and scores.shape == (len(boxes),)
    truth = crowd_clip.boxes[0]
    iou = iou_matrix(truth, boxes)
    found = iou.max(axis=1) >= 0.4
    assert found.mean() >= 0.75, f"YuNet found {found.sum()} of {len(truth)} faces"
    assert (iou.max(axis=0) >= 0.4).all(), "a detection that overlaps no face"
    small = truth[:, 2] <= 32
    assert small.any() and found[small].mean() >= 0.6  # the point of the default: small faces


def test_yunet_takes_grey_and_bgra_frames_and_any_size(crowd_clip):
    det = make_detector("yunet")
    frame = read_frames(crowd_clip.path)[0]
    n = len(det.detect(frame)[0])
    assert abs(len(det.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))[0]) - n) <= 2
    assert len(det.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA))[0]) == n
    boxes, _ = det.detect(frame[:240, :320])  # a new size re-sizes the network input
    assert len(boxes) and (boxes[:, 0] < 320).all()
    assert det.detect(np.zeros((100, 120, 3), np.uint8))[0].shape == (0, 4)


def test_yunet_model_errors_are_one_line(tmp_path):
    with pytest.raises(EdgeferError, match="no such YuNet model file") as e:
        YuNetDetector(tmp_path / "none.onnx")
    assert "\n" not in str(e.value)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(EdgeferError, match="junk.onnx: OpenCV cannot load it as a YuNet model") as e:
        YuNetDetector(junk)
    assert "\n" not in str(e.value)
    with pytest.raises(EdgeferError, match="--detector 'mtcnn'"):
        make_detector("mtcnn")


def test_haar_without_cascade_classifier_says_use_yunet(monkeypatch):
    monkeypatch.delattr(cv2, "CascadeClassifier", raising=False)
    with pytest.raises(EdgeferError, match="needs an OpenCV 4.x build .* use --detector yunet"):
        make_detector("haar")


def test_haar_path_with_an_opencv_4_style_cascade(monkeypatch, tmp_path):
    """OpenCV 5 has no Haar: a stand-in CascadeClassifier checks the wiring (defaults, box format)."""
    calls = {}

    class FakeCascade:
        def __init__(self, path):
            calls["path"] = path

        def empty(self):
            return False

        def detectMultiScale(self, grey, scaleFactor, minNeighbors, minSize):
            calls["grey"] = grey.shape
            return np.array([[10, 20, 30, 30], [50, 60, 24, 24]], np.int32)

    (tmp_path / "haarcascade_frontalface_default.xml").write_text("<xml/>")
    monkeypatch.setattr(cv2, "CascadeClassifier", FakeCascade, raising=False)
    monkeypatch.setattr(cv2, "data", type("data", (), {"haarcascades": str(tmp_path) + "/"}), raising=False)
    det = make_detector("haar")
    boxes, scores = det.detect(np.zeros((120, 160, 3), np.uint8))
    assert calls["path"].endswith("haarcascade_frontalface_default.xml") and calls["grey"] == (120, 160)
    assert boxes.tolist() == [[10, 20, 30, 30], [50, 60, 24, 24]] and scores.tolist() == [1.0, 1.0]
    with pytest.raises(EdgeferError, match="no such Haar cascade file"):
        HaarDetector(tmp_path / "other.xml")


def found(det, frames, truth, iou=0.4):
    n = 0
    for f, t in zip(frames, truth):
        boxes, _ = det.detect(f)
        n += int((iou_matrix(t, boxes).max(axis=1) >= iou).sum()) if len(boxes) else 0
    return n


def test_clahe_finds_more_faces_in_a_dim_frame(crowd_clip):
    frames = [(f.astype(np.float32) * 0.15).astype(np.uint8) for f in read_frames(crowd_clip.path)[:6]]  # a dark room
    plain = found(YuNetDetector(YUNET_MODEL, enhance=None), frames, crowd_clip.boxes)
    clahe = found(YuNetDetector(YUNET_MODEL, enhance="clahe"), frames, crowd_clip.boxes)
    auto = found(YuNetDetector(YUNET_MODEL, enhance="auto"), frames, crowd_clip.boxes)
    assert clahe > plain and auto == clahe  # auto: this frame is dim, so it is equalised
    assert make_detector("yunet", enhance="none").describe()["enhance"] is None
    with pytest.raises(EdgeferError, match="--det-enhance 'sharpen': expected auto, clahe or none"):
        make_detector("yunet", enhance="sharpen")


def test_auto_enhance_only_touches_dim_frames(crowd_clip):
    from edgefer.camera.detectors import is_dim

    frame = read_frames(crowd_clip.path)[0]
    assert not is_dim(frame) and is_dim((frame * 0.3).astype(np.uint8))
    plain, auto = YuNetDetector(YUNET_MODEL, enhance=None), YuNetDetector(YUNET_MODEL, enhance="auto")
    np.testing.assert_array_equal(plain.detect(frame)[0], auto.detect(frame)[0])  # a bright frame is left as it is


def test_det_width_settings():
    from edgefer.camera.detectors import detection_width, parse_det_width

    assert [parse_det_width(v) for v in ("auto", "full", None, "640")] == ["auto", None, None, 640]
    assert detection_width("auto", 1920) == 1280 and detection_width("auto", 640) == 640  # auto never up-scales
    assert detection_width(None, 1920) == 1920 and detection_width(1280, 640) == 1280
    for bad in ("wide", "0", "9000"):
        with pytest.raises(EdgeferError, match="--det-width"):
            parse_det_width(bad)
