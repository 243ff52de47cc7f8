"""Carrying faces between detections: the tracker's prediction, checked against the frame's pixels.

With tiled or interval detection (``edgefer.camera.tiles``) most faces are reported by the detector only every
few frames. In between, the tracker predicts where each face went (its velocity); a prediction alone drifts
off a face that turns or changes speed (measured: 3-9 false boxes a frame on fast-moving faces). So, as
detect-then-track pipelines do, each carried face is looked for near its prediction: its grey patch from the
frame where the detector last reported it is matched (``cv2.matchTemplate``, normalised correlation) in a
window around the prediction. Found (correlation >= ``MIN_MATCH``): the box moves there and the track's
velocity follows. Not found: the face is not output on this frame (it may have left or turned away), and
the tracker still remembers it for its next detection.

Cost: one small window a carried face (a 30 px face: a 60 x 60 px search), about 0.05 ms each.
"""

from __future__ import annotations

import numpy as np

from edgefer.camera.tracker import CARRY_OVERLAP, IoUTracker, iou_matrix

MIN_MATCH = 0.6  # TM_CCOEFF_NORMED of the face's own patch; background and other faces score lower
SEARCH = 0.5  # the window grows by this fraction of the face side (and SEARCH_PX) on every side
SEARCH_PX = 4


def _grey(patch: np.ndarray) -> np.ndarray:
    import cv2

    if patch.ndim == 2:
        return patch
    code = cv2.COLOR_BGRA2GRAY if patch.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(patch, code)


def _clip(box: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """xywh (float) -> integer x0, y0, x1, y1 inside a frame of ``shape`` (H, W, ...)."""
    h, w = shape[:2]
    x0, y0 = int(round(box[0])), int(round(box[1]))
    x1, y1 = int(round(box[0] + box[2])), int(round(box[1] + box[3]))
    return max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)


def match(frame: np.ndarray, template: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray | None, float]:
    """Find ``template`` (h, w) grey near the ``predicted`` box (4,) xywh -> (box (4,) xywh or None, correlation)."""
    import cv2

    th, tw = template.shape
    pad = SEARCH * max(tw, th) + SEARCH_PX
    x0, y0, x1, y1 = _clip(np.array([predicted[0] - pad, predicted[1] - pad, tw + 2 * pad, th + 2 * pad]), frame.shape)
    if x1 - x0 < tw or y1 - y0 < th:
        return None, 0.0  # the window left the frame
    window = _grey(frame[y0:y1, x0:x1])
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    if not np.isfinite(best):
        return None, 0.0
    return np.array([x0 + bx, y0 + by, predicted[2], predicted[3]], np.float32), float(best)


class Carrier:
    """The tracker step of the camera loop with carried faces relocated on the frame (see the module docstring)."""

    def __init__(self, tracker: IoUTracker) -> None:
        self.tracker = tracker
        self.templates: dict[int, np.ndarray] = {}  # track id -> (h, w) uint8 grey patch at its last detection

    def step(self, frame: np.ndarray, boxes: np.ndarray, scores: np.ndarray, marks: np.ndarray | None, carry: int):
        """-> boxes (M, 4), scores (M,), marks (M x (5, 2) or None), ids (M,), ages (M ints), as ``IoUTracker.step``,
        with carried rows relocated on ``frame`` or dropped."""
        boxes, scores, out_marks, ids, ages = self.tracker.step(boxes, scores, marks, carry)
        if carry < 1:
            self.templates.clear()
            return boxes, scores, out_marks, ids, ages
        detected = [i for i, a in enumerate(ages) if a == 0]
        for i in detected:
            x0, y0, x1, y1 = _clip(boxes[i], frame.shape)
            if x1 - x0 >= 4 and y1 - y0 >= 4:
                self.templates[int(ids[i])] = _grey(frame[y0:y1, x0:x1]).copy()
        keep = list(detected)
        for i, a in enumerate(ages):
            if a == 0:
                continue
            tid = int(ids[i])
            template = self.templates.get(tid)
            if template is None:
                continue
            box, score = match(frame, template, boxes[i])
            if box is None or score < MIN_MATCH:
                continue
            if len(detected) and iou_matrix(box[None], boxes[detected]).max() > CARRY_OVERLAP:
                continue  # it slid onto a detected face: one face, one box
            boxes[i] = box
            if out_marks[i] is not None:
                out_marks[i] = self.tracker.tracks[tid].marks + box[:2]
            self.tracker.relocate(tid, box)
            keep.append(i)
        for tid in [t for t in self.templates if t not in self.tracker.tracks]:
            del self.templates[tid]
        keep.sort()
        return (boxes[keep], scores[keep], [out_marks[i] for i in keep], ids[keep], [ages[i] for i in keep])
