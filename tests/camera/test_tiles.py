"""Tiled detection (--det-tiles) and carrying faces between tiles: geometry, parsing, the relocation of carried
faces, and real YuNet on a composed 1080p clip with moving faces (recall against full-resolution detection)."""

from __future__ import annotations

import numpy as np
import pytest

from edgefer.camera.carry import Carrier
from edgefer.camera.tiles import OVERLAP_PX, TileSpec, cut_at_inner_edge, nms, parse_det_tiles, tile_grid
from edgefer.camera.tracker import IoUTracker, iou_matrix
from edgefer.errors import EdgeferError


def test_parse_det_tiles():
    assert parse_det_tiles("none") is None and parse_det_tiles(None) is None and parse_det_tiles("auto") == "auto"
    assert parse_det_tiles("2x3") == TileSpec(2, 3)
    assert parse_det_tiles("2x2@1.5/2") == TileSpec(2, 2, 1.5, 2) and str(TileSpec(2, 2, 1.5, 2)) == "2x2@1.5/2"
    assert parse_det_tiles("1x1/3").cycle == 3 and parse_det_tiles("3x3@1.5").cycle == 9
    for bad in ("2by2", "0x2", "2x2@9", "2x2/0", "4x4", "2x2/4"):  # the last two: cycles of 16 frames
        with pytest.raises(EdgeferError, match="^--det-tiles"):
            parse_det_tiles(bad)


def test_the_default_tiles_only_frames_wider_than_1280():
    """The default (BENCHMARKS.md, "Tiled detection"): 2x2 tiles up-scaled 1.5x, one every 3rd frame, on 1080p;
    720p and smaller keep the plain pass."""
    from edgefer.camera.defaults import DET_TILES, YUNET_MODEL
    from edgefer.camera.tiles import TiledDetector

    det = TiledDetector(YUNET_MODEL, parse_det_tiles(DET_TILES))
    assert DET_TILES == "auto" and det.spec_for(1920) == TileSpec(2, 2, 1.5, 3) and det.spec_for(1920).cycle == 12
    assert det.spec_for(1280) is None and det.spec_for(640) is None


@pytest.mark.parametrize("size,spec", [((1920, 1080), TileSpec(2, 2)), ((1920, 1080), TileSpec(3, 3)),
                                        ((1280, 720), TileSpec(1, 3)), ((640, 480), TileSpec(1, 1))])
def test_tiles_cover_the_frame_and_every_small_face_lies_whole_in_one(size, spec):
    w, h = size
    tiles = tile_grid(w, h, spec)
    assert len(tiles) == spec.rows * spec.cols
    assert len({(t[2] - t[0], t[3] - t[1]) for t in tiles}) == 1  # one input size for YuNet
    assert tiles[:, :2].min() >= 0 and tiles[:, 2].max() <= w and tiles[:, 3].max() <= h
    rng = np.random.default_rng(0)
    for _ in range(500):  # any box up to 2 * OVERLAP_PX fits wholly inside some tile
        s = rng.integers(8, 2 * OVERLAP_PX + 1)
        x, y = rng.integers(0, w - s + 1), rng.integers(0, h - s + 1)
        assert ((tiles[:, 0] <= x) & (tiles[:, 1] <= y) & (tiles[:, 2] >= x + s) & (tiles[:, 3] >= y + s)).any()


def test_cut_faces_at_inner_tile_edges_are_dropped_and_nms_keeps_the_best():
    tile = np.array([900, 0, 1920, 600])  # the right half's tile: its left and bottom edges are inside the frame
    boxes = np.array([[900, 100, 30, 30], [1000, 100, 30, 30], [1890, 100, 30, 30], [1000, 580, 30, 20]], np.float32)
    assert cut_at_inner_edge(boxes, tile, 1920, 1080).tolist() == [True, False, False, True]  # the frame's edge is no cut
    b = np.array([[0, 0, 20, 20], [1, 1, 20, 20], [100, 0, 20, 20]], np.float32)
    assert sorted(nms(b, np.array([0.7, 0.9, 0.8], np.float32)).tolist()) == [1, 2]


def _scene(shift: tuple[int, int], face: np.ndarray, size=(240, 320)) -> np.ndarray:
    """A grey noise-free gradient with ``face`` pasted at ``shift``: (H, W, 3) uint8."""
    h, w = size
    img = np.tile(np.linspace(60, 120, w, dtype=np.float32), (h, 1))
    img = np.repeat(img[..., None], 3, axis=2).astype(np.uint8)
    x, y = shift
    img[y:y + face.shape[0], x:x + face.shape[1]] = face[..., None]
    return img


def test_carried_faces_follow_the_pixels_and_vanish_with_the_face():
    rng = np.random.default_rng(1)
    face = rng.integers(0, 255, (24, 24)).astype(np.uint8)
    carrier = Carrier(IoUTracker())
    no = np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    pos = [(40 + 7 * i, 60 + 3 * i) for i in range(6)]  # 7 px a frame to the right, 3 down
    boxes, _, _, ids, ages = carrier.step(_scene(pos[0], face), np.array([[*pos[0], 24, 24]], np.float32), np.ones(1), None, 5)
    assert ages == [0]
    for i in range(1, 5):  # the detector is silent: the face is carried, at its true place
        boxes, _, _, ids2, ages = carrier.step(_scene(pos[i], face), *no, None, 5)
        assert ages == [i] and ids2.tolist() == ids.tolist()
        assert iou_matrix(np.array([[*pos[i], 24, 24]]), boxes)[0, 0] > 0.9
    blank = _scene((0, 0), np.full((1, 1), 90, np.uint8))  # the face is gone: no box, although the tracker remembers it
    boxes, *_ = carrier.step(blank, *no, None, 5)
    assert len(boxes) == 0 and len(carrier.tracker.tracks) == 1
    # without carrying (carry 0), a silent detector means no box at all
    plain = Carrier(IoUTracker())
    plain.step(_scene(pos[0], face), np.array([[*pos[0], 24, 24]], np.float32), np.ones(1), None, 0)
    assert len(plain.step(_scene(pos[1], face), *no, None, 0)[0]) == 0


@pytest.fixture(scope="module")
def hd_clip(tmp_path_factory):
    """1920 x 1080, 20 faces of 20-64 px moving up to ~2.5 px a frame (12 px sines over 2-2.7 s at 15 fps)."""
    from edgefer.camera.clip import make_crowd_clip

    return make_crowd_clip(tmp_path_factory.mktemp("hd") / "hd.mp4", 20, 10, (1920, 1080), (20, 64),
                           motion_px=12, motion_period_s=(2.0, 2.67))


def test_tiles_find_what_full_resolution_finds_on_moving_faces(hd_clip):
    from edgefer.camera.bench import detector_sweep

    full, today = detector_sweep(hd_clip, [None, 1280])
    (tiled,) = detector_sweep(hd_clip, ["auto"], tiles="2x2@1.5/2")
    assert tiled["carried_per_frame"] > 3  # most frames see one tile: the rest is carried
    assert tiled["false_per_frame"] == 0 and full["false_per_frame"] == 0
    assert tiled["found"] > today["found"]  # more than the 1280 pass of the default before tiles
    assert tiled["found"] >= 0.97 * full["found"], (tiled, full)
    assert tiled["recall_by_px"]["20-31"] >= full["recall_by_px"]["20-31"]  # up-scaled tiles: the small faces


def test_analyzer_carries_faces_and_images_get_no_tiles(onnx_model, hd_clip):
    from edgefer import FaceAnalyzer
    from edgefer.camera.clip import read_clip_frames
    from edgefer.camera.detectors import YuNetDetector
    from edgefer.camera.defaults import DET_TILES, YUNET_MODEL
    from edgefer.camera.tiles import TiledDetector

    frames = read_clip_frames(hd_clip.path, 3)
    with FaceAnalyzer(onnx_model, det_tiles="2x2") as a:
        assert isinstance(a.detector, TiledDetector)
        runs = [a(f) for f in frames]
        assert a.detector.carry_frames == 4 and a.describe()
    assert all(f.carried == 0 for f in runs[0])  # the first frame is searched whole
    later = [f for f in runs[2] if f.carried]
    assert later and all(f.record(2, 0.1)["carried"] == f.carried for f in later)
    truth = hd_clip.boxes[2]
    assert (iou_matrix(np.stack([f.box for f in later]), truth).max(axis=1) >= 0.4).all()  # on faces, not drifted off
    with FaceAnalyzer(onnx_model, det_tiles="2x2", track=False) as still:
        assert isinstance(still.detector, YuNetDetector)  # independent images: no tracker, no tiles
    with pytest.raises(EdgeferError, match="--det-tiles needs --detector yunet"):
        FaceAnalyzer(onnx_model, detector="haar", det_tiles="2x2")
