"""A light IoU tracker: track ids across frames, and a per-track EMA of class probabilities.

Matching is greedy on IoU (highest pair first), which for the sparse, slow-moving faces of a
classroom or a platform gives the Hungarian answer at a fraction of the code. A track not matched for
more than ``max_missed`` processed frames is forgotten; a face that comes back later gets a new id.

Smoothing: ``s_t = alpha * p_t + (1 - alpha) * s_{t-1}``, starting from the first probabilities.
The smoothed label is ``argmax(s_t)``: one noisy frame no longer flips a face's expression.
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
    box: np.ndarray  # (4,) xywh, the last matched box
    missed: int = 0
    hits: int = 1
    probs: np.ndarray | None = field(default=None, repr=False)  # (K,) smoothed, None until classified


class IoUTracker:
    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 15, alpha: float = 0.4) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"EMA alpha must be in (0, 1], got {alpha}")
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.alpha = alpha
        self.tracks: dict[int, Track] = {}
        self.next_id = 1

    def update(self, boxes: np.ndarray) -> np.ndarray:
        """This frame's boxes (N, 4) xywh -> their track ids (N,) int64 (new faces get new ids)."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        ids = np.zeros(len(boxes), np.int64)
        live = list(self.tracks.values())
        matched_t: set[int] = set()
        matched_d: set[int] = set()
        if live and len(boxes):
            iou = iou_matrix(np.stack([t.box for t in live]), boxes)
            # only pairs that overlap enough are sorted: ~N of them, not N x M (a 500-face crowd has 250k pairs)
            cand_t, cand_d = np.nonzero(iou >= self.iou_threshold)
            order = np.argsort(-iou[cand_t, cand_d], kind="stable")  # best pairs first, ties in row-major order
            for ti, di in zip(cand_t[order].tolist(), cand_d[order].tolist()):
                if ti in matched_t or di in matched_d:
                    continue
                matched_t.add(ti)
                matched_d.add(di)
                track = live[ti]
                track.box, track.missed, track.hits = boxes[di].copy(), 0, track.hits + 1
                ids[di] = track.id
        for ti, track in enumerate(live):
            if ti not in matched_t:
                track.missed += 1
                if track.missed > self.max_missed:
                    del self.tracks[track.id]
        for di in range(len(boxes)):
            if di not in matched_d:
                track = Track(self.next_id, boxes[di].copy())
                self.tracks[track.id] = track
                self.next_id += 1
                ids[di] = track.id
        return ids

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
