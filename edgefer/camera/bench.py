"""``edgefer bench``: how fast the model and the whole camera loop run on this machine.

1. Runner latency per batch size: ``iters`` timed ``runner.infer`` calls on a fixed (B, 1, 48, 48) batch
   after ``warmup`` untimed ones -> median and p90 ms per batch, faces/s = B / median. When the runner
   has a CUDA-event hook (``time_infer``, the TensorRT runner), the GPU-side times are reported too.
2. End to end: for each crowd size N, a synthetic clip (``edgefer.camera.clip``: real LFW faces,
   ``frame_size``, faces of ``face_px``) goes through the same loop as ``edgefer infer`` (JSONL and crowd
   series on, no video) -> frames/s, faces/s and the per-stage split (mean ms per frame).
   ``clip`` replaces the generated video with your own (then N is what the detector finds).

No timing is asserted anywhere: numbers depend on the machine and its load (reported as ``load_avg``).
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgefer.backends.base import Runner
from edgefer.camera.defaults import DET_ENHANCE, DET_TILES, DET_WIDTH
from edgefer.errors import EdgeferError
from edgefer.preprocess import INPUT_CHANNELS, INPUT_SIZE


def parse_ints(text: str, what: str) -> list[int]:
    """"1,8,32" -> [1, 8, 32]; one-line error naming the option otherwise."""
    try:
        values = [int(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise EdgeferError(f"{what}: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise EdgeferError(f"{what}: expected positive integers, got {text!r}")
    return values


def parse_pair(text: str, what: str, sep: str) -> tuple[int, int]:
    """"640x480" (sep "x") or "20-64" (sep "-") -> (640, 480)."""
    parts = str(text).lower().split(sep)
    try:
        a, b = (int(p) for p in parts)
    except ValueError:
        raise EdgeferError(f"{what}: expected A{sep}B with integers, got {text!r}") from None
    if a < 1 or b < 1:
        raise EdgeferError(f"{what}: expected positive sizes, got {text!r}")
    return a, b


def bench_batches(runner: Runner, batches: list[int], iters: int, warmup: int = 3, seed: int = 0) -> list[dict[str, Any]]:
    """Latency of ``runner.infer`` on (B, 1, 48, 48) batches of random grey faces (content does not change the cost)."""
    faces = np.random.default_rng(seed).uniform(0, 255, (max(batches), INPUT_CHANNELS, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    rows = []
    for b in batches:
        x = faces[:b]
        for _ in range(warmup):
            runner.infer(x)
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            runner.infer(x)
            times.append(time.perf_counter() - t0)
        t = np.asarray(times) * 1e3
        med = float(np.median(t))
        row: dict[str, Any] = {"batch": b, "median_ms": round(med, 3), "p90_ms": round(float(np.percentile(t, 90)), 3),
                               "per_face_ms": round(med / b, 4), "faces_per_s": round(1e3 * b / med, 1), "timer": "host perf_counter"}
        hook = getattr(runner, "time_infer", None)
        if callable(hook):  # the TensorRT runner: CUDA events on its stream
            gpu = hook(x, repeats=iters, warmup=warmup)
            row.update({"gpu_median_ms": round(gpu["median_ms"], 3), "gpu_faces_per_s": round(1e3 * b / gpu["median_ms"], 1),
                        "timer": "host perf_counter + CUDA events"})
        rows.append(row)
    return rows


def bench_end_to_end(runner: Runner, detector: Any, n_faces: int, frames: int, frame_size: tuple[int, int],
                     face_px: tuple[int, int], workdir: Path, clip: Path | None = None, seed: int = 0) -> dict[str, Any]:
    """frames/s, faces/s and the per-stage split of the whole loop on a clip with ``n_faces`` faces."""
    from edgefer.camera.clip import make_crowd_clip
    from edgefer.camera.pipeline import InferOptions, run_infer

    px_range: list[int] | None = None
    if clip is None:
        made = make_crowd_clip(workdir / f"crowd{n_faces}.mp4", n_faces, frames, frame_size, face_px, seed=seed)
        clip, px_range = made.path, list(made.face_px_range)
    run_infer(runner, str(clip), workdir / "warmup", detector=detector, options=InferOptions(max_frames=3))
    s = run_infer(runner, str(clip), workdir / f"run{n_faces}", detector=detector, options=InferOptions(max_frames=frames))
    return {
        "faces_in_clip": n_faces if px_range is not None else None,
        "face_px_range": px_range,
        "frame_size": s["frame_size"],
        "frames": s["frames"],
        "faces_detected_per_frame": round(s["faces"] / max(s["frames"], 1), 2),
        "fps": s["fps"],
        "faces_per_s": s["faces_per_s"],
        "stages_mean_ms": {k: v["mean_ms"] for k, v in s["stages"].items()},
        "stages_share": {k: v["share"] for k, v in s["stages"].items()},
    }


SIZE_BINS = ((0, 20), (20, 32), (32, 48), (48, 65), (65, 10_000))


def detector_sweep(clip: Any, widths: list[int | str | None], frames: int | None = None, score: float = 0.6,
                   iou: float = 0.4, enhance: str | None = None, transform: Any = None,
                   tiles: str | None = None) -> list[dict[str, Any]]:
    """YuNet at each input width on a clip with known boxes (``edgefer.camera.clip.CrowdClip``).

    Per width: detection ms per frame (median and mean: tiles at ``/K`` make some frames dearer), recall
    against the truth boxes, recall per face size (``SIZE_BINS``, px), false boxes per frame, and the faces
    found relative to full-resolution detection (the row with width "full" and the same ``tiles``). The boxes
    scored are the ones the camera loop outputs: the detections, plus with ``tiles`` the faces the tracker
    carries (``Carrier.step``, as ``FaceAnalyzer`` does). A truth face counts as found on a frame only when
    a box output FOR THAT FRAME overlaps it with IoU >= ``iou``; a box that overlaps no truth face so is false."""
    from edgefer.camera.clip import read_clip_frames
    from edgefer.camera.detectors import make_detector
    from edgefer.camera.carry import Carrier
    from edgefer.camera.tracker import IoUTracker, iou_matrix

    images = read_clip_frames(clip.path, frames)
    if transform is not None:  # e.g. darken the clip to stand for dim footage
        images = [transform(im) for im in images]
    rows = []
    for width in widths:
        det = make_detector("yunet", None, score, width, enhance, tiles)
        det.detect(images[0])  # warm-up (the first call sets the input size)
        if hasattr(det, "reset"):
            det.reset()  # the tile rotation starts again at tile 0
        carrier = Carrier(IoUTracker())
        times, found, false, carried, carried_false = [], 0, 0, 0, 0
        per_bin = {b: [0, 0] for b in SIZE_BINS}
        for img, truth in zip(images, clip.boxes):
            t0 = time.perf_counter()
            boxes, scores, marks = det.detect_landmarks(img)
            times.append(time.perf_counter() - t0)
            boxes, _, _, _, ages = carrier.step(img, boxes, scores, marks, int(getattr(det, "carry_frames", 0) or 0))
            m = iou_matrix(truth, boxes) if len(boxes) else np.zeros((len(truth), 0), np.float32)
            hit = m.max(axis=1) >= iou if m.shape[1] else np.zeros(len(truth), bool)
            found += int(hit.sum())
            bad = m.max(axis=0) < iou if m.shape[0] and m.shape[1] else np.ones(len(boxes), bool)
            old = np.asarray(ages, int) > 0
            false += int(bad.sum())
            carried += int(old.sum())
            carried_false += int((bad & old).sum())
            for (w_px, ok) in zip(truth[:, 2], hit):
                for b in SIZE_BINS:
                    if b[0] <= w_px < b[1]:
                        per_bin[b][0] += int(ok)
                        per_bin[b][1] += 1
        n_truth = sum(len(t) for t in clip.boxes[: len(images)])
        rows.append({"det_width": width if width is not None else "full", "enhance": enhance, "tiles": tiles,
                     "frame_size": list(clip.size),
                     "detect_median_ms": round(1e3 * float(np.median(times)), 2),
                     "detect_mean_ms": round(1e3 * float(np.mean(times)), 2), "recall": round(found / max(n_truth, 1), 4),
                     "recall_by_px": {f"{a}-{b - 1}": round(h / n, 4) for (a, b), (h, n) in per_bin.items() if n},
                     "faces_by_px": {f"{a}-{b - 1}": n for (a, b), (_, n) in per_bin.items() if n},
                     "false_per_frame": round(false / len(images), 2), "carried_per_frame": round(carried / len(images), 2),
                     "carried_false_per_frame": round(carried_false / len(images), 2), "found": found, "truth": n_truth})
    full = next((r["found"] for r in rows if r["det_width"] == "full"), None)
    for r in rows:
        r["found_vs_full"] = round(r["found"] / full, 4) if full else None
    return rows


def run_bench(model: str | Path, batches: list[int], iters: int, faces: list[int], frames: int = 60,
              frame_size: tuple[int, int] = (640, 480), face_px: tuple[int, int] = (20, 64), detector: str = "yunet",
              detector_model: str | Path | None = None, threads: int | None = None, clip: Path | None = None,
              end_to_end: bool = True, det_width: int | str | None = DET_WIDTH, det_enhance: str | None = DET_ENHANCE,
              det_tiles: str | None = DET_TILES) -> dict[str, Any]:
    """Both benchmarks with one activated runner; returns a JSON-ready dict."""
    import cv2

    from edgefer.camera.detectors import make_detector
    from edgefer.camera.model import open_runner

    if iters < 1:
        raise EdgeferError(f"--iters must be at least 1, got {iters}")
    det = make_detector(detector, detector_model, input_width=det_width, enhance=det_enhance, tiles=det_tiles) if end_to_end else None
    runner = open_runner(model, threads)
    try:
        result: dict[str, Any] = {
            "model": str(model), "backend": runner.backend, "detector": det.describe() if det else None,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": getattr(runner, "threads", threads),
                        "load_avg": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
                        "opencv": cv2.__version__, "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
            "iters": iters,
            "batches": bench_batches(runner, batches, iters),
        }
        if end_to_end:
            with tempfile.TemporaryDirectory(prefix="edgefer-bench-") as tmp:
                result["end_to_end"] = [bench_end_to_end(runner, det, n, frames, frame_size, face_px, Path(tmp), clip)
                                        for n in (faces if clip is None else faces[:1])]
    finally:
        runner.deactivate()
    return result
