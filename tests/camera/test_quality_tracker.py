"""Unit tests: the quality gate (size, blur, contrast) and the IoU tracker with its EMA."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgefer.camera.quality import BLUR_RESIDUAL, assess, detail_residual
from edgefer.camera.tracker import IoUTracker, iou_matrix
from edgefer.sample_faces import lfw_faces


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return lfw_faces(20).astype(np.uint8)


def at(face: np.ndarray, px: int) -> np.ndarray:
    return cv2.resize(face, (px, px), interpolation=cv2.INTER_AREA if px < 25 else cv2.INTER_CUBIC)


# quality ------------------------------------------------------------------------------------------

def test_sharp_faces_from_10_to_25_px_are_classified(faces):
    for px in (10, 16, 25):
        for f in faces:
            q = assess(at(f, px), px, min_face=8)
            assert q.ok, (px, q)


def test_below_min_face_is_unknown_with_the_reason(faces):
    q = assess(at(faces[0], 6), 6, min_face=8)
    assert not q.ok and q.reason == "small: 6 px < --min-face 8"
    assert assess(at(faces[0], 20), 20, min_face=24).reason.startswith("small: 20 px")


def test_a_big_but_blurred_face_is_unknown(faces):
    for f in faces[:10]:
        big = at(f, 64)
        assert assess(big, 64, min_face=8).ok  # up-scaled from 25 px: still about 25 px of detail
        blurred = cv2.GaussianBlur(big, (0, 0), 10)  # a face in a fog: a few px of real detail
        q = assess(blurred, 64, min_face=8)
        assert not q.ok and q.reason == "blurred: less than 8 px of detail" and q.residual < BLUR_RESIDUAL
        assert assess(at(at(f, 5), 64), 64, min_face=8).reason.startswith("blurred")  # 5 px of detail, shown at 64
        mild = cv2.GaussianBlur(big, (0, 0), 2)
        assert assess(mild, 64, min_face=8).ok  # what FSR-FER exists for: a soft face is still read
        assert assess(at(at(f, 12), 48), 48, min_face=8).ok  # 12 px of detail at 48 px


def test_blur_ranks_faces_and_flat_crops_are_unknown(faces):
    f = at(faces[2], 40).astype(np.float32)
    r = [detail_residual(cv2.GaussianBlur(f, (0, 0), s), 8) for s in (0.5, 1.5, 3, 6)]
    assert r == sorted(r, reverse=True)  # more blur, less left to lose
    q = assess(np.full((30, 30, 3), 128, np.uint8), 30, min_face=8)
    assert not q.ok and q.reason == "flat: no contrast"
    assert assess(np.dstack([at(faces[3], 30)] * 3), 30, 8).ok  # BGR crops work as grey ones


# tracker -------------------------------------------------------------------------------------------

def test_iou_matrix():
    a = np.array([[0, 0, 10, 10], [100, 100, 10, 10]], np.float32)
    b = np.array([[5, 0, 10, 10], [0, 0, 10, 10], [300, 300, 1, 1]], np.float32)
    m = iou_matrix(a, b)
    assert m.shape == (2, 3)
    assert m[0, 0] == pytest.approx(50 / 150) and m[0, 1] == 1.0 and m[1].max() == 0.0
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_ids_follow_moving_faces_and_new_faces_get_new_ids():
    t = IoUTracker(iou_threshold=0.3, max_missed=2)
    a, b = np.array([10, 10, 20, 20.0]), np.array([100, 50, 30, 30.0])
    assert t.update(np.stack([a, b])).tolist() == [1, 2]
    for step in range(1, 6):  # both drift 3 px per frame, reported in a shuffled order
        ids = t.update(np.stack([b + 3 * step, a + 3 * step]))
        assert ids.tolist() == [2, 1]
    c = np.array([300, 300, 20, 20.0])
    assert t.update(np.stack([a + 18, c])).tolist() == [1, 3]
    assert t.total == 3


def test_lost_tracks_expire_after_max_missed():
    t = IoUTracker(max_missed=2)
    box = np.array([[10, 10, 20, 20.0]])
    assert t.update(box).tolist() == [1]
    t.update(np.zeros((0, 4)))
    t.update(np.zeros((0, 4)))
    assert t.update(box).tolist() == [1]  # missed 2 frames: still remembered
    for _ in range(3):
        t.update(np.zeros((0, 4)))
    assert t.update(box).tolist() == [2]  # missed 3 > 2: forgotten, a new id


def test_greedy_matching_prefers_the_best_overlap():
    t = IoUTracker(iou_threshold=0.1)
    t.update(np.array([[0, 0, 10, 10], [8, 0, 10, 10.0]]))
    ids = t.update(np.array([[8, 0, 10, 10], [1, 0, 10, 10.0]]))  # each overlaps both old tracks
    assert ids.tolist() == [2, 1]


def test_ema_smooths_one_noisy_frame_away():
    t = IoUTracker(alpha=0.4)
    (tid,) = t.update(np.array([[0, 0, 10, 10.0]]))
    happy, angry = np.eye(8, dtype=np.float32)[1], np.eye(8, dtype=np.float32)[4]
    s = t.smooth(tid, happy)
    np.testing.assert_allclose(s, happy)  # the first frame is taken as it is
    for _ in range(4):
        t.update(np.array([[0, 0, 10, 10.0]]))
        s = t.smooth(tid, happy)
    s = t.smooth(tid, angry)  # one frame disagrees
    assert s.argmax() == 1 and s[4] == pytest.approx(0.4) and s.sum() == pytest.approx(1.0)
    s = t.smooth(tid, angry)
    assert s.argmax() == 4  # two in a row: s = 0.36 happy vs 0.64 angry
    with pytest.raises(ValueError):
        IoUTracker(alpha=0.0)


def test_stage_timer_sums_the_parts_of_a_frame():
    from edgefer.camera.timing import StageTimer

    t = StageTimer()
    for frame in range(4):
        t.add("post", 0.001)
        t.add("post", 0.002)  # a second part of the same stage in the same frame
        t.add("infer", 0.010 * (frame + 1))
        t.commit()
    s = t.summary()
    assert s["post"]["mean_ms"] == pytest.approx(3.0) and len(t.samples["post"]) == 4
    assert s["infer"]["p50_ms"] == pytest.approx(25.0) and s["read"]["mean_ms"] == 0.0
    assert sum(v["share"] for v in s.values()) == pytest.approx(1.0, abs=1e-3)
