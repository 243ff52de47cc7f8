"""Detector input width against faces found and detection time, on composed crowd clips with known boxes.

    .venv/bin/python tools/det_sweep.py > /tmp/det_sweep.json      (the figures of BENCHMARKS.md)

Clips (edgefer.camera.clip, real LFW faces): 640x480 with 12 faces of 20-64 px, 1920x1080 with 20 faces of
20-64 px, 1280x720 with 180 faces of 20-32 px. Widths: the frame's own ("full"), down-scaled, up-scaled.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from edgefer.camera.bench import detector_sweep
from edgefer.camera.clip import make_crowd_clip

CASES = [((640, 480), 12, (20, 64), [None, 480, 960, 1280]),
         ((1920, 1080), 20, (20, 64), [None, 640, 960, 1280]),
         ((1280, 720), 180, (20, 32), [None, 640, 960, 1920])]


def main() -> int:
    frames = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    out = {"load_avg_start": os.getloadavg(), "cpus": os.cpu_count(), "frames": frames, "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        for size, n, px, widths in CASES:
            clip = make_crowd_clip(Path(tmp) / f"c{size[0]}.mp4", n, frames, size, px)
            rows = detector_sweep(clip, widths, frames)
            out["cases"].append({"size": size, "faces": n, "face_px": px, "rows": rows})
            for r in rows:
                print(f"{size[0]}x{size[1]} {n} faces, det-width {r['det_width']}: {r['detect_median_ms']} ms, recall "
                      f"{r['recall']}, by px {r['recall_by_px']}, vs full {r['found_vs_full']}, false/frame "
                      f"{r['false_per_frame']}", file=sys.stderr)
    out["load_avg_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
