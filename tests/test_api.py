"""The public API: ``from edgefer import FaceAnalyzer``; the README example runs as written."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgefer.errors import EdgeferError
from tests.camera.conftest import crowd_clip, onnx_model, tiny_models  # noqa: F401  (shared fixtures)

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_api_example() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def group_frame(crowd_clip):
    from tests.camera.conftest import read_frames

    return read_frames(crowd_clip.path)[0]


def test_import_edgefer_stays_light():
    code = "import sys, edgefer; print(json.dumps([m for m in ('numpy', 'cv2', 'torch', 'onnxruntime') if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
    out = subprocess.run([sys.executable, "-c", "import sys; from edgefer import FaceAnalyzer; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_readme_example_runs(group_frame, tmp_path, monkeypatch, capsys):
    import cv2

    cv2.imwrite(str(tmp_path / "group.jpg"), group_frame)
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_api_example(), "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 4  # one line per face found, then the classify() line
    assert lines[-1].split()[0] in (*__import__("edgefer.classes").classes.CLASSES, "unknown")


def test_analyzer_finds_the_clip_faces_and_classifies_them(onnx_model, group_frame, crowd_clip):
    from edgefer import FaceAnalyzer
    from edgefer.camera.tracker import iou_matrix

    with FaceAnalyzer(onnx_model) as analyzer:
        faces = analyzer(group_frame)
        again = analyzer(group_frame)
    truth = crowd_clip.boxes[0]
    iou = iou_matrix(truth, np.stack([f.box for f in faces]))
    assert (iou.max(axis=1) > 0.5).sum() >= len(truth) - 1  # YuNet finds the faces, boxes in frame pixels
    for f in faces:
        if f.reason is None:
            assert f.probs.shape == (8,) and abs(f.probs.sum() - 1) < 1e-4 and f.label == analyzer.classes[f.probs.argmax()]
    assert [f.track for f in again] == [f.track for f in faces] and len({f.track for f in faces}) == len(faces)


def test_det_width_maps_boxes_back_to_the_frame(onnx_model, group_frame):
    from edgefer import FaceAnalyzer
    from edgefer.camera.tracker import iou_matrix

    with FaceAnalyzer(onnx_model, det_width=None) as full, FaceAnalyzer(onnx_model, det_width=1280) as up:
        a, b = full(group_frame), up(group_frame)
    assert up.detector.describe()["input_width"] == 1280
    iou = iou_matrix(np.stack([f.box for f in a]), np.stack([f.box for f in b]))
    assert (iou.max(axis=1) > 0.6).all()  # the same faces, in full-frame coordinates


def test_low_confidence_gate_from_option_and_from_model_metadata(onnx_model, group_frame, tmp_path):
    import shutil

    from edgefer import FaceAnalyzer
    from edgefer.deploy.calibrate import set_metadata

    with FaceAnalyzer(onnx_model, min_confidence=1.0) as analyzer:  # nothing is that sure
        faces = analyzer(group_frame)
    classified = [f for f in faces if f.probs is not None]
    assert classified and all(f.label == "unknown" and f.reason.startswith("low confidence") for f in classified)
    assert all(f.raw_label is not None and f.score is not None for f in classified)  # they keep what the model said

    gated = tmp_path / "gated.onnx"
    shutil.copy(onnx_model, gated)
    set_metadata(gated, {"edgefer.abstain": json.dumps({"min_confidence": 0.999})})
    with FaceAnalyzer(gated) as a1, FaceAnalyzer(gated, min_confidence=0) as a2, FaceAnalyzer(onnx_model) as a3:
        assert (a1.min_confidence, a2.min_confidence, a3.min_confidence) == (0.999, None, None)
        assert any(f.reason and f.reason.startswith("low confidence") for f in a1(group_frame))
        assert not any(f.reason and f.reason.startswith("low confidence") for f in a2(group_frame))
    set_metadata(gated, {"edgefer.abstain": "{\"min_confidence\": 7}"})
    with pytest.raises(EdgeferError, match="gated.onnx: abstain min_confidence 7"):
        FaceAnalyzer(gated)


def test_classify_own_crops_with_the_quality_gate(onnx_model, group_frame, crowd_clip):
    import cv2

    from edgefer import FaceAnalyzer

    x, y, w, h = (int(v) for v in max(crowd_clip.boxes[0], key=lambda b: b[2]))
    sharp = group_frame[y:y + h, x:x + w]
    blurred = cv2.GaussianBlur(sharp, (0, 0), w / 6)
    with FaceAnalyzer(onnx_model) as analyzer:
        a, b = analyzer.classify([sharp, blurred])
        with pytest.raises(EdgeferError, match="classify: expected"):
            analyzer.classify([np.zeros((0, 5, 3), np.uint8)])
    assert a.reason is None and a.probs.shape == (8,) and a.track == 0
    assert b.label == "unknown" and b.reason.startswith("blurred")


def test_landmark_geometry_gate():
    from edgefer.camera.quality import landmark_reason

    box = np.array([0, 0, 100, 100], np.float32)
    face = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float32)
    assert landmark_reason(box, face) is None
    upside_down = face.copy()
    upside_down[:, 1] = 100 - upside_down[:, 1]
    assert landmark_reason(box, upside_down).startswith("not a face: the eyes")
    squashed = face.copy()
    squashed[3:, 1] = 55  # mouth above the nose
    assert landmark_reason(box, squashed).startswith("not a face: the nose")
    wide = face.copy()
    wide[0, 0], wide[1, 0] = -20, 120  # eyes further apart than the box is wide
    assert landmark_reason(box, wide).startswith("not a face: eye distance")
