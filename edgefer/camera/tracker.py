"""A light IoU tracker: track ids across frames, and a per-track EMA of class probabilities.

Matching is greedy on IoU (highest pair first), which for the sparse, slow-moving faces of a
classroom or a platform gives the Hungarian answer at a fraction of the code. A track not matched for
more than ``max_missed`` processed frames is forgotten; a face that comes back later gets a new id.

Smoothing: ``s_t = alpha * p_t + (1 - alpha) * s_{t-1}``, starting from the first probabilities.
The smoothed label is ``argmax(s_t)``: one noisy frame no longer flips a face's expression.

Motion: each track keeps a velocity (px per frame, an EMA of its matched displacements) and is matched at
its predicted position, so a face missed for a few frames is still found where it went. ``carried()``
gives those predicted boxes for tracks missed by this frame's detection: with tiled or interval detection
(``edgefer.camera.tiles``) a face is detected only every few frames, and the tracker carries it between.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (N, 4) and b (M, 4), both [x, y, w, h] -> (N, M) float32."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    ax0, ay0, ax1, ay1 = a[:, 0:1], a[:, 1:2], a[:, 0:1] + a[:, 2:3], a[:, 1:2] + a[:, 3:4]
    bx0, by0, bx1, by1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


@dataclass
class Track:
    id: int
    box: np.ndarray  # (4,) xywh, the last matched (or relocated, see ``relocate``) box
    missed: int = 0  # frames since the detector last reported this face
    hits: int = 1
    probs: np.ndarray | None = field(default=None, repr=False)  # (K,) smoothed, None until classified
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # (2,) px per frame of x, y
    det: float = 1.0  # the detector's score at the last match
    marks: np.ndarray | None = field(default=None, repr=False)  # (5, 2) landmarks at the last match, relative to box[:2]
    box_age: int = 0  # frames since ``box`` was observed

    def predicted(self, frames_ahead: int) -> np.ndarray:
        """(4,) xywh: ``box`` moved by ``frames_ahead`` frames of velocity (size kept)."""
        box = self.box.copy()
        box[:2] += self.velocity * frames_ahead
        return box


# Velocity EMA weight of the newest displacement, and its cap as a fraction of the box side per frame: a
# detection jittering by 1-2 px must not send a carried box flying.
VELOCITY_ALPHA = 0.5
MAX_SPEED = 0.5
CARRY_OVERLAP = 0.1  # IoU above which a carried box gives way to a detection (faces in a crowd barely overlap)


class IoUTracker:
    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 15, alpha: float = 0.4) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"EMA alpha must be in (0, 1], got {alpha}")
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.alpha = alpha
        self.tracks: dict[int, Track] = {}
        self.next_id = 1

    def update(self, boxes: np.ndarray, scores: np.ndarray | None = None, marks: np.ndarray | None = None) -> np.ndarray:
        """This frame's boxes (N, 4) xywh -> their track ids (N,) int64 (new faces get new ids).

        scores (N,) and marks (N, 5, 2), when given, are kept with each track for ``carried()``."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        ids = np.zeros(len(boxes), np.int64)
        live = list(self.tracks.values())
        matched_t: set[int] = set()
        matched_d: set[int] = set()
        if live and len(boxes):
            # each track where it should be now: a face missed for m frames has moved m + 1 frames' worth
            iou = iou_matrix(np.stack([t.predicted(t.box_age + 1) for t in live]), boxes)
            # only pairs that overlap enough are sorted: ~N of them, not N x M (a 500-face crowd has 250k pairs)
            cand_t, cand_d = np.nonzero(iou >= self.iou_threshold)
            order = np.argsort(-iou[cand_t, cand_d], kind="stable")  # best pairs first, ties in row-major order
            for ti, di in zip(cand_t[order].tolist(), cand_d[order].tolist()):
                if ti in matched_t or di in matched_d:
                    continue
                matched_t.add(ti)
                matched_d.add(di)
                track = live[ti]
                self._move(track, boxes[di])
                track.missed, track.hits = 0, track.hits + 1
                self._keep(track, di, scores, marks)
                ids[di] = track.id
        for ti, track in enumerate(live):
            if ti not in matched_t:
                track.missed += 1
                track.box_age += 1
                if track.missed > self.max_missed:
                    del self.tracks[track.id]
        for di in range(len(boxes)):
            if di not in matched_d:
                track = Track(self.next_id, boxes[di].copy())
                self._keep(track, di, scores, marks)
                self.tracks[track.id] = track
                self.next_id += 1
                ids[di] = track.id
        return ids

    @staticmethod
    def _move(track: Track, box: np.ndarray) -> None:
        """The face is at ``box`` now: velocity from the displacement since ``box`` was last observed."""
        step = (box[:2] - track.box[:2]) / (track.box_age + 1)
        cap = MAX_SPEED * float(box[2:].max())
        step = np.clip(step, -cap, cap)
        track.velocity = (step if track.hits == 1 else
                          VELOCITY_ALPHA * step + (1 - VELOCITY_ALPHA) * track.velocity).astype(np.float32)
        track.box, track.box_age = np.asarray(box, np.float32).copy(), 0

    def relocate(self, track_id: int, box: np.ndarray) -> None:
        """A carried face was found at ``box`` on this frame by other means than the detector (template match):
        it moves there and its velocity follows; ``missed`` still counts frames since the detector saw it."""
        track = self.tracks[track_id]
        track.box_age -= 1  # _move divides by box_age + 1: the frames since box was observed
        self._move(track, box)

    @staticmethod
    def _keep(track: Track, i: int, scores: np.ndarray | None, marks: np.ndarray | None) -> None:
        if scores is not None:
            track.det = float(scores[i])
        if marks is not None:
            track.marks = np.asarray(marks[i], np.float32) - track.box[:2]

    def carried(self, max_age: int) -> list[tuple[Track, np.ndarray]]:
        """Tracks missed by this frame's ``update`` for at most ``max_age`` frames -> (track, predicted box (4,)).

        Call right after ``update``. A face found once by one tile is carried until its tile comes round
        again, so a false detection is carried as long: the sweeps count those boxes (BENCHMARKS.md §10)."""
        if max_age < 1:
            return []
        return [(t, t.predicted(t.box_age)) for t in self.tracks.values() if 1 <= t.missed <= max_age]

    def step(self, boxes: np.ndarray, scores: np.ndarray, marks: np.ndarray | None, carry: int):
        """One frame of the camera loop: ``update`` with its detections, then append the ``carried(carry)`` faces.

        -> boxes (M, 4) float32, scores (M,), marks: M x ((5, 2) or None), ids (M,) int64, ages: M ints (0: detected
        on this frame; n: carried, last detected n frames ago). The first N rows are the detections, in order."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        out_marks: list[np.ndarray | None] = [None] * len(boxes) if marks is None else list(marks)
        ids = self.update(boxes, scores, marks)
        ages = [0] * len(boxes)
        carried = self.carried(carry)
        if carried and len(boxes):
            # a carried box that overlaps a fresh detection is that face under a new id (the prediction missed
            # it): one face, one box
            near = iou_matrix(np.stack([b for _, b in carried]), boxes).max(axis=1) > CARRY_OVERLAP
            carried = [c for c, n in zip(carried, near) if not n]
        if carried:
            boxes = np.concatenate([boxes, np.stack([b for _, b in carried])]).astype(np.float32)
            scores = np.concatenate([scores, np.asarray([t.det for t, _ in carried], np.float32)])
            # the landmarks move with the box: the geometry gate judges the face it judged when detected
            out_marks += [None if t.marks is None else t.marks + b[:2] for t, b in carried]
            ids = np.concatenate([ids, np.asarray([t.id for t, _ in carried], np.int64)])
            ages += [t.missed for t, _ in carried]
        return boxes, scores, out_marks, ids, ages

    def smooth(self, track_id: int, probs: np.ndarray) -> np.ndarray:
        """Fold this frame's probabilities (K,) into the track's EMA; returns the smoothed (K,)."""
        p = np.asarray(probs, np.float32)
        track = self.tracks[track_id]
        track.probs = p.copy() if track.probs is None else self.alpha * p + (1.0 - self.alpha) * track.probs
        return track.probs.copy()

    @property
    def total(self) -> int:
        """How many tracks were ever started."""
        return self.next_id - 1
