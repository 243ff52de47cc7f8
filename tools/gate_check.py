"""How the abstention gates behave on real faces (figures of BENCHMARKS.md, "Abstention gates").

    .venv/bin/python tools/gate_check.py ../shared/media/short_hamilton_clip.mp4 ../shared/media/obama_and_biden.jpg

Blur: every YuNet face (>= 24 px) of the footage, sharp and Gaussian-blurred with sigma = a fraction of the
face size, through the quality gate at --min-face 8 -> share flagged "blurred" per sigma. Geometry: share of
real detections the landmark gate rejects (its coverage cost).
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

from edgefer.camera.defaults import CROP_MARGIN, MIN_FACE_PX, YUNET_MODEL
from edgefer.camera.detectors import YuNetDetector
from edgefer.camera.quality import assess, landmark_reason
from edgefer.preprocess import square_box


def frames(paths: list[str], every: int = 5):
    for p in paths:
        if p.lower().endswith((".jpg", ".png", ".jpeg")):
            yield cv2.imread(p)
            continue
        cap = cv2.VideoCapture(p)
        i = 0
        while True:
            ok, f = cap.read()
            if not ok:
                break
            if i % every == 0:
                yield f
            i += 1


def main(paths: list[str]) -> None:
    det = YuNetDetector(YUNET_MODEL, 0.6)
    crops, n_det, geo = [], 0, 0
    for f in frames(paths):
        boxes, _, marks = det.detect_landmarks(f)
        for b, m in zip(boxes, marks):
            n_det += 1
            geo += landmark_reason(b, m) is not None
            if max(b[2], b[3]) >= 24:
                x0, y0, x1, y1 = square_box(b, CROP_MARGIN, f.shape)
                crops.append((f[y0:y1, x0:x1], float(round(max(b[2], b[3])))))
    print(f"landmark gate: {geo} of {n_det} real detections rejected")
    print(f"blur gate on {len(crops)} real faces >= 24 px (median {np.median([p for _, p in crops]):.0f} px), --min-face {MIN_FACE_PX:g}:")
    for frac in (0.0, 0.02, 0.04, 0.06, 0.08, 0.12, 0.16):
        blurred = flat = 0
        for crop, px in crops:
            c = cv2.GaussianBlur(crop, (0, 0), frac * px) if frac else crop
            reason = assess(c, px, MIN_FACE_PX).reason or ""
            blurred += reason.startswith("blurred")
            flat += reason.startswith("flat")
        print(f"  sigma = {frac:.2f} x face side: {100 * blurred / len(crops):.0f}% blurred, {100 * flat / len(crops):.0f}% flat, "
              f"{100 * (len(crops) - blurred - flat) / len(crops):.0f}% classified")


if __name__ == "__main__":
    main(sys.argv[1:])
