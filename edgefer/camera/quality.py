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

FSR-FER is trained for faces down to 8 px, so what it can read it is asked to, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLUR_RESIDUAL = 0.09
MIN_CONTRAST = 4.0  # grey levels (std): a face in the dark or blown out


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
