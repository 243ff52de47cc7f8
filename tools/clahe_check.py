"""--det-enhance clahe on real footage and its cost (BENCHMARKS.md section 10, "Dim faces").

    .venv/bin/python tools/clahe_check.py ../shared/media/short_hamilton_clip.mp4

CLAHE time per frame at three sizes (a frame of the clip, resized; median of 20), then YuNet on every 5th frame of the clip with and
without CLAHE: detections, and the ones only one of them made (IoU < 0.4 with every box of the other).
"""
import os
import sys
import time

import cv2
import numpy as np

from edgefer.camera.defaults import YUNET_MODEL
from edgefer.camera.detectors import CLAHE_CLIP, YuNetDetector, clahe_luma
from edgefer.camera.tracker import iou_matrix

print("load", os.getloadavg())
c = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=(8, 8))
cap = cv2.VideoCapture(sys.argv[1])
cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
frame = cap.read()[1]  # a real frame of the clip, resized to each size
cap.release()
for w, h in ((640, 480), (1280, 720), (1920, 1080)):
    im = cv2.resize(frame, (w, h))
    t = []
    for _ in range(20):
        t0 = time.perf_counter()
        clahe_luma(im, c)
        t.append(time.perf_counter() - t0)
    print(f"CLAHE {w}x{h}: {1e3 * np.median(t):.1f} ms")
a, b = YuNetDetector(YUNET_MODEL), YuNetDetector(YUNET_MODEL, enhance="clahe")
cap = cv2.VideoCapture(sys.argv[1])
i = na = nb = only_b = only_a = 0
while True:
    ok, f = cap.read()
    if not ok:
        break
    if i % 5 == 0:
        ba, _ = a.detect(f)
        bb, _ = b.detect(f)
        na, nb = na + len(ba), nb + len(bb)
        if len(ba) and len(bb):
            m = iou_matrix(ba, bb)
            only_a += int((m.max(axis=1) < 0.4).sum())
            only_b += int((m.max(axis=0) < 0.4).sum())
        else:
            only_a, only_b = only_a + len(ba), only_b + len(bb)
    i += 1
print(f"{sys.argv[1]}: {na} detections without CLAHE, {nb} with; {only_b} only with CLAHE, {only_a} only without")
