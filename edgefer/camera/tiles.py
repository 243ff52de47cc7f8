"""Tiled detection in rotation (``--det-tiles``): full-resolution recall at a fraction of the per-frame cost.

Full-resolution YuNet on a 1080p frame costs ~1.7x the 1280-wide pass, too slow for 12 frames/s on two cores;
the 1280-wide pass loses the small faces (BENCHMARKS.md section 10). Here, as DeepStream's ``interval`` and
SAHI-style slicing do it, each frame gets:

- a cheap **global pass** on the whole frame, scaled down to ``global_width`` (finds the large and new faces);
- **one tile** of an R x C grid at full resolution (or up-scaled by ``scale``), the tiles taken in turn, one
  every ``every`` frames, so every part of the frame is seen at full resolution once per cycle of
  R * C * every frames (the first frame, and the first after a change of frame size, gets every tile: a
  single photo is searched whole, and no face waits a cycle to be found);

merged by non-maximum suppression. The camera loop's tracker (``edgefer.camera.tracker``) carries each face
between its tile's turns (``carry_frames``): boxes in the outputs then come from the tracker, marked
``carried`` in faces.jsonl (docs/outputs.md).

Spec: ``none`` | ``auto`` | ``RxC[@S][/K]``, e.g. ``2x2`` (4 tiles, one a frame), ``2x2@1.5`` (up-scaled
1.5x: finds the 20-31 px faces full resolution misses), ``1x1/3`` (the whole frame at full resolution every
3rd frame: DeepStream's interval=2). ``auto``: ``TILES_AUTO`` on frames wider than ``DET_AUTO_MAX_WIDTH``,
none on smaller ones (where the global pass is the full frame already).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefer.errors import EdgeferError

# Tiles overlap their neighbours by 2 * OVERLAP_PX (frame px): a face up to that size lies whole in some tile;
# larger ones are the global pass's. Detections touching an inner tile edge are cut faces: dropped.
OVERLAP_PX = 48
EDGE_PX = 2.0
NMS_IOU = 0.3  # YuNet's own NMS threshold: the same face from the global pass and a tile is one face
MAX_CYCLE = 15  # IoUTracker's max_missed: a face must be seen again before the tracker forgets it
SPEC = re.compile(r"^(\d+)x(\d+)(?:@(\d+(?:\.\d+)?))?(?:/(\d+))?$")


@dataclass(frozen=True)
class TileSpec:
    rows: int
    cols: int
    scale: float = 1.0  # tile pixels -> YuNet pixels (1.5: up-scaled)
    every: int = 1  # one tile every this many frames

    @property
    def cycle(self) -> int:
        """Frames between two visits of the same tile."""
        return self.rows * self.cols * self.every

    def __str__(self) -> str:
        return f"{self.rows}x{self.cols}" + (f"@{self.scale:g}" if self.scale != 1 else "") + (f"/{self.every}" if self.every != 1 else "")


def parse_det_tiles(value: str | None) -> TileSpec | str | None:
    """``--det-tiles``: "none"/None -> None, "auto" -> "auto", "RxC[@S][/K]" -> TileSpec (one error line otherwise)."""
    if value is None or value == "none":
        return None
    if value == "auto":
        return "auto"
    m = SPEC.match(str(value).strip().lower())
    if not m:
        raise EdgeferError(f"--det-tiles {value!r}: expected auto, none or RxC[@SCALE][/EVERY] (e.g. 2x2, 2x2@1.5, 1x1/3)")
    rows, cols, every = int(m[1]), int(m[2]), int(m[4] or 1)
    scale = float(m[3] or 1)
    if not (1 <= rows <= 8 and 1 <= cols <= 8):
        raise EdgeferError(f"--det-tiles {value!r}: rows and columns must be 1-8")
    if not 0.5 <= scale <= 4:
        raise EdgeferError(f"--det-tiles {value!r}: the scale must be between 0.5 and 4")
    if not 1 <= every <= 30:
        raise EdgeferError(f"--det-tiles {value!r}: EVERY must be 1-30 frames")
    spec = TileSpec(rows, cols, scale, every)
    if spec.cycle > MAX_CYCLE:
        raise EdgeferError(f"--det-tiles {value!r}: a cycle of {spec.cycle} frames; at most {MAX_CYCLE} "
                           "(rows x columns x EVERY), the frames the tracker remembers a face it does not see")
    return spec


def tile_grid(width: int, height: int, spec: TileSpec, overlap: int = OVERLAP_PX) -> np.ndarray:
    """(rows * cols, 4) int [x0, y0, x1, y1] tiles of a ``width`` x ``height`` frame, row-major, all the same size.

    Each cell of the grid grows by ``overlap`` px on every side; tiles at the frame's border shift inwards
    instead of shrinking, so YuNet keeps one input size."""
    tw = min(width, math.ceil(width / spec.cols) + 2 * overlap) if spec.cols > 1 else width
    th = min(height, math.ceil(height / spec.rows) + 2 * overlap) if spec.rows > 1 else height
    out = []
    for r in range(spec.rows):
        for c in range(spec.cols):
            cx, cy = (c + 0.5) * width / spec.cols, (r + 0.5) * height / spec.rows
            x0 = int(min(max(round(cx - tw / 2), 0), width - tw))
            y0 = int(min(max(round(cy - th / 2), 0), height - th))
            out.append((x0, y0, x0 + tw, y0 + th))
    return np.asarray(out, np.int64).reshape(-1, 4)


def cut_at_inner_edge(boxes: np.ndarray, tile: np.ndarray, width: int, height: int, edge: float = EDGE_PX) -> np.ndarray:
    """(N,) bool: boxes (N, 4) xywh (frame px) that touch an edge of ``tile`` lying inside the frame (a cut face)."""
    x0, y0, x1, y1 = (float(v) for v in tile)
    bx0, by0 = boxes[:, 0], boxes[:, 1]
    bx1, by1 = bx0 + boxes[:, 2], by0 + boxes[:, 3]
    cut = np.zeros(len(boxes), bool)
    if x0 > 0:
        cut |= bx0 <= x0 + edge
    if y0 > 0:
        cut |= by0 <= y0 + edge
    if x1 < width:
        cut |= bx1 >= x1 - edge
    if y1 < height:
        cut |= by1 >= y1 - edge
    return cut


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Greedy non-maximum suppression: indices (M,) of the boxes (N, 4) xywh kept, best score first."""
    from edgefer.camera.tracker import iou_matrix

    order = np.argsort(-scores, kind="stable")
    m = iou_matrix(boxes, boxes)
    keep: list[int] = []
    for i in order.tolist():
        if all(m[i, k] <= iou for k in keep):
            keep.append(i)
    return np.asarray(keep, np.int64)


class TiledDetector:
    """A global pass + one tile a frame (see the module docstring); the YuNetDetector interface.

    global_width: the global pass's ``--det-width`` ("auto": at most ``TILE_GLOBAL_WIDTH`` px when tiling).
    """

    name = "yunet"

    def __init__(self, model_path: str | Path, spec: TileSpec | str, score_threshold: float = 0.6,
                 global_width: int | str | None = "auto", enhance: str | None = None) -> None:
        from edgefer.camera.defaults import TILE_GLOBAL_WIDTH
        from edgefer.camera.detectors import YuNetDetector

        self.spec = spec
        self.global_setting = global_width
        self._auto_global = TILE_GLOBAL_WIDTH
        self.score_threshold, self.enhance, self.model_path = score_threshold, enhance, str(model_path)
        # two YuNet instances: each keeps its own input size (the global frame, the tile), no reshape per call
        self._global = YuNetDetector(model_path, score_threshold, input_width=global_width, enhance=enhance)
        self._tile = YuNetDetector(model_path, score_threshold, input_width=None, enhance=enhance)
        self._frame = 0
        self._size: tuple[int, int] | None = None  # the frame size of the rotation in progress
        self._active: TileSpec | None = None  # the spec in force on the last frame (auto: None on small frames)

    def spec_for(self, width: int) -> TileSpec | None:
        from edgefer.camera.defaults import DET_AUTO_MAX_WIDTH, TILES_AUTO

        if self.spec == "auto":
            return parse_det_tiles(TILES_AUTO) if width > DET_AUTO_MAX_WIDTH else None
        return self.spec  # type: ignore[return-value]

    @property
    def carry_frames(self) -> int:
        """How long the tracker carries a face this detector did not report (a tile's cycle; 0 untiled)."""
        return self._active.cycle if self._active is not None else 0

    def reset(self) -> None:
        """Start again: the next frame is detected whole (every tile), then one tile a frame (a new clip)."""
        self._frame, self._size = 0, None

    def detect(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores, _ = self.detect_landmarks(frame)
        return boxes, scores

    def detect_landmarks(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(H, W[, C]) frame -> boxes (N, 4) xywh, scores (N,), landmarks (N, 5, 2), frame px: global pass + this frame's tile."""
        h, w = frame.shape[:2]
        spec = self._active = self.spec_for(w)
        if spec is None:  # auto on a small frame: the plain detector at --det-width ("auto": the frame itself)
            self._global.input_width = self.global_setting
            return self._global.detect_landmarks(frame)
        if self.global_setting == "auto":
            self._global.input_width = min(w, self._auto_global)
        parts = [self._global.detect_landmarks(frame)]
        if (w, h) != self._size:  # the first frame (or a new size): every tile at once, so nothing waits a cycle
            self._size, self._frame = (w, h), 0
            todo = list(range(spec.rows * spec.cols))
        else:
            n = self._frame
            todo = [(n // spec.every) % (spec.rows * spec.cols)] if n % spec.every == 0 else []
        self._frame += 1
        tiles = tile_grid(w, h, spec)
        for t in todo:
            x0, y0, x1, y1 = (int(v) for v in tiles[t])
            self._tile.input_width = None if spec.scale == 1 else max(32, int(round((x1 - x0) * spec.scale)))
            b, s, m = self._tile.detect_landmarks(np.ascontiguousarray(frame[y0:y1, x0:x1]))
            b = b + np.array([x0, y0, 0, 0], np.float32)
            m = m + np.array([x0, y0], np.float32)
            keep = ~cut_at_inner_edge(b, tiles[t], w, h)
            parts.append((b[keep], s[keep], m[keep]))
        boxes = np.concatenate([p[0] for p in parts]).astype(np.float32)
        scores = np.concatenate([p[1] for p in parts]).astype(np.float32)
        marks = np.concatenate([p[2] for p in parts]).astype(np.float32)
        if len(parts) > 1 and len(boxes):
            keep = nms(boxes, scores)
            boxes, scores, marks = boxes[keep], scores[keep], marks[keep]
        return boxes, scores, marks

    def describe(self) -> dict:
        return {"name": self.name, "model": self.model_path, "score_threshold": self.score_threshold,
                "input_width": self.global_setting, "enhance": self.enhance, "tiles": str(self.spec),
                "carry_frames": self.carry_frames}
