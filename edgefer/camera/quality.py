"""Face quality gate: faces too small, too blurred or too flat are reported "unknown" with a reason.

One idea decides both size and blur: does the face carry at least ``--min-face`` pixels of detail?
- size: the detector box's longer side ``face_px`` is below ``min_face`` -> "small";
- blur: a face of 64 px that is out of focus may carry less detail than a sharp 8 px one. Test it
  directly: shrink the crop to ``min_face`` px and grow it back. If that loses almost nothing,
  the face had no more than ``min_face`` px of detail:

      residual = rms(crop - up(down(crop, min_face))) / std(crop)        (contrast-free)
      residual < BLUR_RESIDUAL  ->  "blurred"

  Measured on scikit-image's LFW faces (60 faces, shown at 12-64 px): the residual depends on the
  detail d, not on the size shown: median 0.04 at d = 4 px, 0.08 at 6, 0.10 at 8, 0.21 at 10, 0.32 at
  16, 0.46 at 25; sharp faces of 9-11 px stay >= 0.18. BLUR_RESIDUAL = 0.09 marks faces of about 6 px
  of detail or less at min_face 8, and never a sharp face. Sensor noise adds residual, so a very noisy
  blurred face can pass (the model then reads it like any other low-quality face).
- contrast: a crop with almost no grey-level spread (dark, blown out) -> "flat".

The default model is trained for faces down to 6-8 px, so what it can read it is asked to, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLUR_RESIDUAL = 0.09
MIN_CONTRAST = 2.0  # grey levels (std): a face in the dark or blown out. The model normalises each face's contrast
# (FaceStandardize) and trained on faces down to ~2.4 levels of std (gain 0.2 x contrast 0.3 of a std-40 face)


@dataclass(frozen=True)
class Quality:
    face_px: float
    residual: float  # what is lost by going through min_face px (nan when not measured)
    reason: str | None  # None: good enough to classify

    @property
    def ok(self) -> bool:
        return self.reason is None


def detail_residual(grey: np.ndarray, px: int) -> float:
    """(H, W) grey crop -> rms loss of a round trip through (px, px), relative to the crop's std."""
    import cv2

    g = np.ascontiguousarray(grey, dtype=np.float32)
    h, w = g.shape[:2]
    small = cv2.resize(g, (px, px), interpolation=cv2.INTER_AREA)
    back = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    std = float(cv2.meanStdDev(g)[1][0, 0])  # cv2 reductions: ~4x faster than numpy on 64 small crops
    return float(cv2.norm(g, back, cv2.NORM_L2)) / np.sqrt(g.size) / max(std, 1e-3)


def assess(crop: np.ndarray, face_px: float, min_face: float) -> Quality:
    """crop: the face's (H, W) grey or (H, W, 3) BGR pixels; face_px: the detector box's longer side."""
    import cv2

    if face_px < min_face:
        return Quality(face_px, float("nan"), f"small: {face_px:.0f} px < --min-face {min_face:g}")
    grey = crop if crop.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(crop[..., :3]), cv2.COLOR_BGR2GRAY)
    if grey.size == 0 or float(cv2.meanStdDev(grey)[1][0, 0]) < MIN_CONTRAST:
        return Quality(face_px, float("nan"), "flat: no contrast")
    side = max(int(round(min_face)), 2)
    if min(grey.shape[:2]) <= side:  # the crop is no bigger than the test size: nothing to lose
        return Quality(face_px, float("nan"), None)
    r = detail_residual(grey, side)
    if r < BLUR_RESIDUAL:
        return Quality(face_px, r, f"blurred: less than {min_face:g} px of detail")
    return Quality(face_px, r, None)


# "Not a face": YuNet's five landmarks (right eye, left eye, nose, right and left mouth corner) must be in
# a face's order, top to bottom, and the eyes a plausible distance apart for the box. Measured on 145 real
# detections (short_hamilton_clip.mp4 every 5th frame + obama_and_biden.jpg, 23-326 px, frontal to full
# profile): (nose - lower eye) / box h >= 0.118, (higher mouth corner - nose) / h >= 0.055, inter-eye
# distance / box w 0.039-0.513. The bounds below sit outside all of them (0 of 145 rejected). What they
# catch is landmarks that are not a face's: YuNet's false positives on non-face textures mostly come with
# face-like landmarks (BENCHMARKS.md, "Abstention gates"), so the detector's score stays the main filter.
MIN_EYE_NOSE, MIN_NOSE_MOUTH = 0.02, 0.02  # fractions of the box height
EYE_DISTANCE = (0.02, 0.8)  # fraction of the box width


def landmark_reason(box: np.ndarray, landmarks: np.ndarray) -> str | None:
    """box (4,) xywh, landmarks (5, 2) xy in frame px -> None, or "not a face: ..." when the geometry is wrong."""
    lm = np.asarray(landmarks, np.float32).reshape(5, 2)
    w, h = max(float(box[2]), 1e-3), max(float(box[3]), 1e-3)
    eye_y, nose_y, mouth_y = float(lm[:2, 1].max()), float(lm[2, 1]), float(lm[3:, 1].min())
    if (nose_y - eye_y) / h < MIN_EYE_NOSE:
        return "not a face: the eyes are not above the nose"
    if (mouth_y - nose_y) / h < MIN_NOSE_MOUTH:
        return "not a face: the nose is not above the mouth"
    iod = float(np.linalg.norm(lm[0] - lm[1])) / w
    if not EYE_DISTANCE[0] <= iod <= EYE_DISTANCE[1]:
        return f"not a face: eye distance {iod:.2f} of the box width"
    return None
