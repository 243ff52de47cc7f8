"""Face quality gate: faces too small, too blurred or too flat are reported "unknown" with a reason.

One number decides both size and blur: the face's **detail in pixels**. A sharp face of 20 px carries
20 px of detail; a 64 px face that is out of focus may carry only 6. Blur is measured as

    sharpness = std(Laplacian(grey)) / std(grey)           (contrast-free)
    detail_px = face_px * min(1, sqrt(sharpness / SHARP_REF))

because the Laplacian's response falls with the square of the blur scale: a face up-scaled s times
(or blurred to look so) loses a factor s^2 of sharpness. SHARP_REF is the median sharpness of
scikit-image's LFW faces at 10-25 px (about 1.4-1.9; 1.2 keeps them all at full detail). So

    face_px   < min_face  ->  "unknown", reason "small: N px < --min-face M"
    detail_px < min_face  ->  "unknown", reason "blurred: about N px of detail < --min-face M"
    std(grey) < MIN_CONTRAST -> "unknown", reason "flat: no contrast"

The model is trained on faces down to 8 px, so what it can read, it is asked to; nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHARP_REF = 1.2
MIN_CONTRAST = 4.0  # grey levels: a face in the dark or blown out


@dataclass(frozen=True)
class Quality:
    face_px: float
    detail_px: float
    sharpness: float
    reason: str | None  # None: good enough to classify

    @property
    def ok(self) -> bool:
        return self.reason is None


def sharpness(grey: np.ndarray) -> float:
    """(H, W) grey crop -> std of its 4-neighbour Laplacian over std of its grey levels (0 for a flat crop)."""
    import cv2

    g = np.asarray(grey, dtype=np.float32)
    if min(g.shape[:2]) < 3:
        return 0.0
    std = float(g.std())
    if std < 1e-3:
        return 0.0
    return float(cv2.Laplacian(g, cv2.CV_32F, ksize=1).std()) / std


def assess(crop: np.ndarray, face_px: float, min_face: float) -> Quality:
    """crop: the face's (H, W) grey or (H, W, 3) BGR pixels; face_px: the detector box's longer side."""
    import cv2

    if face_px < min_face:
        return Quality(face_px, face_px, float("nan"), f"small: {face_px:.0f} px < --min-face {min_face:g}")
    grey = crop if crop.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(crop[..., :3]), cv2.COLOR_BGR2GRAY)
    if grey.size == 0 or float(np.std(grey)) < MIN_CONTRAST:
        return Quality(face_px, 0.0, 0.0, "flat: no contrast")
    s = sharpness(grey)
    detail = face_px * min(1.0, float(np.sqrt(s / SHARP_REF)))
    if detail < min_face:
        return Quality(face_px, detail, s, f"blurred: about {detail:.0f} px of detail < --min-face {min_face:g}")
    return Quality(face_px, detail, s, None)
