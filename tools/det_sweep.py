"""Detector input width and contrast enhancement against faces found and detection time, on composed crowd
clips with known boxes (edgefer.camera.clip: real LFW faces).

    .venv/bin/python tools/det_sweep.py [FRAMES] > det_sweep.json      (the figures of BENCHMARKS.md section 10)

Rows: (clip, --det-width, --det-enhance). "dim xG" multiplies the clip's pixels by G (plus grey-level noise of
std 2) to stand for a dark room. A true face counts as found when a detection overlaps it with IoU >= 0.4.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgefer.camera.bench import detector_sweep
from edgefer.camera.clip import make_crowd_clip

CASES = [  # (size, faces, face px, dim gain, [(width, enhance), ...])
    ((640, 480), 12, (20, 64), 1.0, [(None, None), (480, None), (960, None), (1280, None), (None, "clahe")]),
    ((1920, 1080), 20, (20, 64), 1.0, [(None, None), (640, None), (960, None), (1280, None), (1280, "clahe")]),
    ((1280, 720), 180, (20, 32), 1.0, [(None, None), (640, None), (960, None), (1920, None), (None, "clahe")]),
    ((640, 480), 12, (20, 64), 0.35, [(None, None), (None, "clahe")]),
    ((640, 480), 12, (20, 64), 0.2, [(None, None), (None, "clahe")]),
    ((640, 480), 12, (20, 64), 0.12, [(None, None), (None, "clahe")]),
]


def dim(gain: float):
    rng = np.random.default_rng(0)

    def f(im: np.ndarray) -> np.ndarray:
        return np.clip(im.astype(np.float32) * gain + rng.normal(0, 2, im.shape), 0, 255).astype(np.uint8)
    return f


def main() -> int:
    frames = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    out = {"load_avg_start": os.getloadavg(), "cpus": os.cpu_count(), "frames": frames, "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        for size, n, px, gain, settings in CASES:
            clip = make_crowd_clip(Path(tmp) / f"c{size[0]}_{n}.mp4", n, frames, size, px)
            for width, enhance in settings:
                r = detector_sweep(clip, [width], frames, enhance=enhance, transform=dim(gain) if gain != 1 else None)[0]
                r.update(faces=n, dim_gain=gain)
                out["cases"].append(r)
                print(f"{size[0]}x{size[1]} {n} faces dim x{gain}, det-width {r['det_width']}, enhance {enhance}: "
                      f"{r['detect_median_ms']} ms, recall {r['recall']}, by px {r['recall_by_px']}, "
                      f"false/frame {r['false_per_frame']}", file=sys.stderr, flush=True)
    out["load_avg_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
