"""A synthetic crowd clip with ground truth: real faces (scikit-image's LFW subset) on drawn heads.

    clip = make_crowd_clip("crowd.mp4", n_faces=12, frames=30)   # 640 x 480, faces of 20-64 px
    clip.boxes[i]   # (n_faces, 4) int [x, y, w, h] of every face in frame i
    clip.write_truth("crowd.truth.json")

Layout: the frame is cut into a grid with one face per cell, so faces never overlap; each face drifts
slowly on its own sine path (a few px), so a tracker has something to follow. Each face sits on a head
(hair ellipse) and shoulders: like real scenes, YuNet relies on that context, and a bare 25 px square
pasted on a wall is rarely found (measured: 3 of 20 at 25 px without context, 20 of 20 with it).

The largest face shrinks to fit its cell when many faces share the frame (64 faces in 640 x 480 get
20-32 px); ``face_px_range`` says what was used. The video is mp4v (.mp4) or MJPG (.avi).
Used by the tests, ``edgefer bench`` and the demo.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgefer.errors import EdgeferError

FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}
# A head spans 1.9 face widths across (hair + shoulders) and 1.9 face heights down: the cell must hold it.
HEAD_W, HEAD_H = 1.9, 1.9


@dataclass
class CrowdClip:
    path: Path
    fps: float
    size: tuple[int, int]  # (w, h)
    boxes: list[np.ndarray] = field(repr=False)  # per frame: (n_faces, 4) int xywh
    face_px_range: tuple[int, int] = (0, 0)

    @property
    def frames(self) -> int:
        return len(self.boxes)

    @property
    def n_faces(self) -> int:
        return len(self.boxes[0]) if self.boxes else 0

    def write_truth(self, path: str | Path) -> Path:
        from edgefer.fileio import write_json

        write_json(path, {"video": str(self.path), "fps": self.fps, "size": list(self.size),
                          "face_px_range": list(self.face_px_range),
                          "boxes": [b.tolist() for b in self.boxes]})
        return Path(path)

    @classmethod
    def read_truth(cls, path: str | Path) -> CrowdClip:
        d = json.loads(Path(path).read_text())
        return cls(Path(d["video"]), d["fps"], tuple(d["size"]), [np.asarray(b, int).reshape(-1, 4) for b in d["boxes"]],
                   tuple(d["face_px_range"]))


def _background(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A wall with a soft vertical gradient and fixed sensor-like noise: (h, w, 3) uint8 BGR."""
    top, bottom = rng.uniform(70, 140, 3), rng.uniform(50, 120, 3)
    ramp = np.linspace(0, 1, h)[:, None, None]
    img = top * (1 - ramp) + bottom * ramp + rng.normal(0, 4, (h, w, 3))
    return np.clip(np.broadcast_to(img, (h, w, 3)), 0, 255).astype(np.uint8)


def _grid(n: int, w: int, h: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(n * w / h)))
    return cols, math.ceil(n / cols)


def make_crowd_clip(path: str | Path, n_faces: int = 12, frames: int = 30, size: tuple[int, int] = (640, 480),
                    face_px: tuple[int, int] = (20, 64), fps: float = 15.0, seed: int = 0, motion_px: float = 4.0,
                    motion_period_s: tuple[float, float] = (3.0, 4.0)) -> CrowdClip:
    """Write the clip to ``path`` and return its truth. Faces of ``face_px`` (min, max) px, one per grid cell.

    Each face moves on x and y sines of amplitude ``motion_px`` and periods ``motion_period_s``: its top speed
    is 2 pi motion_px / (period * fps) px per frame (0.56 by default; 24 px over 1 s at 15 fps: 10)."""
    import cv2

    from edgefer.sample_faces import lfw_faces

    path = Path(path)
    if path.suffix.lower() not in FOURCC:
        raise EdgeferError(f"{path}: the clip must be .mp4 or .avi")
    w, h = size
    if n_faces < 0 or frames < 1:
        raise EdgeferError(f"a clip needs frames >= 1 and faces >= 0, got {frames} frames, {n_faces} faces")
    rng = np.random.default_rng(seed)
    cols, rows = _grid(max(n_faces, 1), w, h)
    cell_w, cell_h = w // cols, h // rows
    biggest = int(min(face_px[1], (cell_w - 2 * motion_px) / HEAD_W, (cell_h - 2 * motion_px) / HEAD_H))
    if n_faces and biggest < face_px[0]:
        raise EdgeferError(f"{n_faces} faces of >= {face_px[0]} px do not fit in {w}x{h}: use a bigger frame or smaller faces")
    lo = min(face_px[0], biggest)
    sides = rng.integers(lo, biggest + 1, n_faces) if n_faces else np.zeros(0, int)
    faces = lfw_faces(100)
    pick = rng.permutation(100)[:n_faces] if n_faces <= 100 else rng.integers(0, 100, n_faces)
    cells = rng.permutation(cols * rows)[:n_faces]
    # anchor: the face's top-left at rest, centred in its cell (the head extends above and below)
    anchors = []
    for c, s in zip(cells, sides):
        cx, cy = (c % cols) * cell_w + cell_w / 2, (c // cols) * cell_h + cell_h / 2
        anchors.append((cx - s / 2, cy - s * 0.55))
    phases = rng.uniform(0, 2 * np.pi, (n_faces, 2))
    hair = rng.uniform(15, 90, (n_faces, 3))
    shirt = rng.uniform(40, 220, (n_faces, 3))
    patches = [cv2.resize(faces[i], (int(s), int(s)), interpolation=cv2.INTER_AREA if s < 25 else cv2.INTER_CUBIC)
               for i, s in zip(pick, sides)]
    patches = [np.repeat(np.clip(p, 0, 255).astype(np.uint8)[..., None], 3, axis=2) for p in patches]
    background = _background(w, h, rng)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC[path.suffix.lower()]), fps, (w, h))
    if not writer.isOpened():
        raise EdgeferError(f"{path}: OpenCV cannot write a {FOURCC[path.suffix.lower()]} video here")
    truth = []
    try:
        for i in range(frames):
            img = background.copy()
            boxes = np.zeros((n_faces, 4), int)
            for j, s in enumerate(sides):
                s = int(s)
                x = int(round(anchors[j][0] + motion_px * np.sin(2 * np.pi * i / (motion_period_s[0] * fps) + phases[j, 0])))
                y = int(round(anchors[j][1] + motion_px * np.sin(2 * np.pi * i / (motion_period_s[1] * fps) + phases[j, 1])))
                cxf, hairc, shirtc = x + s / 2, tuple(map(float, hair[j])), tuple(map(float, shirt[j]))
                cv2.ellipse(img, (int(cxf), int(y + 0.42 * s)), (int(0.62 * s), int(0.72 * s)), 0, 0, 360, hairc, -1, cv2.LINE_AA)
                cv2.ellipse(img, (int(cxf), int(y + 1.55 * s)), (int(0.95 * s), int(0.5 * s)), 0, 180, 360, shirtc, -1, cv2.LINE_AA)
                img[y:y + s, x:x + s] = patches[j]
                boxes[j] = (x, y, s, s)
            writer.write(img)
            truth.append(boxes)
    finally:
        writer.release()
    return CrowdClip(path, fps, (w, h), truth, (int(sides.min()), int(sides.max())) if n_faces else (0, 0))


def read_clip_frames(path: str | Path, limit: int | None = None) -> list[np.ndarray]:
    """The first ``limit`` frames (all when None) of a video, as (H, W, 3) BGR arrays."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        while limit is None or len(frames) < limit:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
    finally:
        cap.release()
    if not frames:
        raise EdgeferError(f"{path}: no frame could be decoded")
    return frames
