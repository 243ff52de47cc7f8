"""Detector input width and contrast enhancement against faces found and detection time, on composed crowd
clips with known boxes (edgefer.camera.clip: real LFW faces).

    .venv/bin/python tools/det_sweep.py [FRAMES] > det_sweep.json      (the figures of BENCHMARKS.md section 10)
    .venv/bin/python tools/det_sweep.py tiles [FRAMES] > det_tiles.json  (--det-tiles: recall and end-to-end fps)

Rows: (clip, --det-width, --det-enhance). "dim xG" multiplies the clip's pixels by G (plus grey-level noise of
std 2) to stand for a dark room. A true face counts as found when a detection overlaps it with IoU >= 0.4.

``tiles``: at 1920x1080 with 20 faces of 20-64 px, each (--det-width, --det-tiles) of TILE_SETTINGS gets, in
one run, (1) the boxes the loop outputs (detections + faces the tracker carries) scored per frame against the
truth on clips whose faces move slowly (the default clip: <= 0.6 px a frame) and fast (24 px sines over 1-1.3 s:
up to 10 px a frame), and (2) the end-to-end frames/s of ``edgefer bench`` (``run_bench``: the shipped default
graph, 60 frames); then the default settings at 640x480/12 and 1280x720/180 faces (the other fps targets).
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


# (--det-width, --det-enhance, --det-tiles): the previous default (full resolution, no enhancement), the default
# before tiles (auto = 1280 wide), and the tiled candidates (global pass at 640 px + one tile a frame)
TILE_SETTINGS = [(None, None, None), ("auto", "auto", None), ("auto", "auto", "1x1/3"), ("auto", "auto", "2x2/2"),
                 ("auto", "auto", "2x2@1.5/2"), ("auto", "auto", "2x2@1.5/3"), ("auto", "auto", "3x3@1.5")]
ROUNDS = 3  # end-to-end runs per setting, interleaved (A B C ... A B C ...): the load drifts, the median is compared
MOTIONS = {"slow": {}, "fast": {"motion_px": 24, "motion_period_s": (1.0, 1.33)}}


def tiles_main(frames: int) -> int:
    from edgefer.camera.bench import run_bench
    from edgefer.camera.defaults import choose_model

    model = choose_model().path
    out = {"load_avg_start": os.getloadavg(), "cpus": os.cpu_count(), "frames": frames, "model": str(model), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        clips = {m: make_crowd_clip(Path(tmp) / f"hd_{m}.mp4", 20, frames, (1920, 1080), (20, 64), **kw) for m, kw in MOTIONS.items()}
        for width, enhance, tiles in TILE_SETTINGS:
            row = {"det_width": width or "full", "det_enhance": enhance or "none", "det_tiles": tiles or "none"}
            for m, clip in clips.items():
                r = detector_sweep(clip, [width], frames, enhance=enhance, tiles=tiles)[0]
                row[m] = {k: r[k] for k in ("recall", "recall_by_px", "found", "truth", "false_per_frame",
                                            "carried_per_frame", "carried_false_per_frame", "detect_mean_ms")}
            out["rows"].append(row)
            print(f"{row['det_width']} {row['det_tiles']}: slow {row['slow']['recall']} {row['slow']['recall_by_px']} "
                  f"fast {row['fast']['recall']} {row['fast']['recall_by_px']} false {row['slow']['false_per_frame']}/"
                  f"{row['fast']['false_per_frame']}", file=sys.stderr, flush=True)
        runs: dict[int, list] = {i: [] for i in range(len(TILE_SETTINGS))}
        for rnd in range(ROUNDS):
            for i, (width, enhance, tiles) in enumerate(TILE_SETTINGS):
                load = os.getloadavg()[0]
                e = run_bench(model, [1], 3, [20], 40, (1920, 1080), (20, 64), det_width=width, det_enhance=enhance,
                              det_tiles=tiles)["end_to_end"][0]
                runs[i].append({**{k: e[k] for k in ("fps", "faces_per_s", "faces_detected_per_frame", "stages_mean_ms")},
                                "load_avg_1min": round((load + os.getloadavg()[0]) / 2, 2)})
                print(f"round {rnd} {width} {tiles}: {e['fps']} frames/s at load {runs[i][-1]['load_avg_1min']}",
                      file=sys.stderr, flush=True)
        for i, row in enumerate(out["rows"]):
            fps = [r["fps"] for r in runs[i]]
            med = runs[i][int(np.argsort(fps)[len(fps) // 2])]
            row["bench"] = {"runs": runs[i], "median_fps": float(np.median(fps)), "median_run": med,
                            "fps_vs_auto": round(float(np.median(fps)) / float(np.median([r["fps"] for r in runs[1]])), 3)}
        for key in ("slow", "fast"):  # found relative to full-resolution detection (the first row)
            for row in out["rows"]:
                row[key]["found_vs_full"] = round(row[key]["found"] / out["rows"][0][key]["found"], 4)
        out["targets"] = []
        for size, n, px in (((640, 480), 12, (20, 64)), ((1280, 720), 180, (20, 32))):
            for width, enhance, tiles in ((None, None, None), ("auto", "auto", "auto")):
                e = run_bench(model, [1], 3, [n], 60, size, px, det_width=width, det_enhance=enhance, det_tiles=tiles)["end_to_end"][0]
                out["targets"].append({"frame_size": list(size), "faces": n, "det_width": width or "full",
                                       "det_tiles": tiles or "none", "fps": e["fps"], "faces_per_s": e["faces_per_s"],
                                       "faces_detected_per_frame": e["faces_detected_per_frame"],
                                       "stages_mean_ms": e["stages_mean_ms"], "load_avg_1min": round(os.getloadavg()[0], 2)})
                print(f"{size} {n} faces {width} {tiles}: {e['fps']} frames/s", file=sys.stderr, flush=True)
    out["load_avg_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "tiles":
        return tiles_main(int(sys.argv[2]) if len(sys.argv) > 2 else 40)
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
