"""Default files and constants of the camera path (no torch: ``edgefer.checkpoint`` is not imported).

``choose_model()`` is the model ``infer``, ``bench`` and ``eval`` run without ``--model``: the fastest graph
this machine runs correctly, never the PyTorch checkpoint (the Jetson has no torch, and PyTorch's thread
pool collapsed to 4.9 frames/s on a busy 2-core machine where ONNX Runtime held 26.6):

1. a TensorRT engine in ``export/`` (``fsrfer.int8.engine``, then fp16, fp32), where TensorRT imports;
2. the shipped ONNX Runtime INT8 graph (``edgefer/weights/fsrfer.int8-cpu.onnx``, U8S8) on an x86 CPU with
   fast int8 (AVX2 or VNNI): about 2x the FP32 graph's speed there;
3. the shipped FP32 graph (``edgefer/weights/fsrfer.onnx``): everywhere else (ARM CPUs, old x86).
An ``export/fsrfer.onnx`` of the user's own export is preferred to the shipped FP32 graph: it is newer.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

from edgefer.paths import DEFAULT_MODEL as BUNDLED_MODEL
from edgefer.paths import WEIGHTS_DIR, export_dir

YUNET_MODEL = WEIGHTS_DIR / "face_detection_yunet.onnx"
# The shipped graphs: exports of BUNDLED_MODEL made by tools/ship_graphs.py, hashes in graphs.json.
SHIPPED_FP32 = WEIGHTS_DIR / "fsrfer.onnx"
SHIPPED_INT8_CPU = WEIGHTS_DIR / "fsrfer.int8-cpu.onnx"
SHIPPED_MANIFEST = WEIGHTS_DIR / "graphs.json"
ENGINE_NAMES = ("fsrfer.int8.engine", "fsrfer.fp16.engine", "fsrfer.fp32.engine")

# Detector box (x, y, w, h) -> square crop grown by this fraction of the side on every side. YuNet's boxes
# run from the brows to the chin; FER+ faces show a little forehead and chin, so a small margin.
CROP_MARGIN = 0.1
# The model is trained on faces down to 8 px (factor 6 of 48); below that it guesses.
MIN_FACE_PX = 8.0
# YuNet's input: "auto" scales frames wider than DET_AUTO_MAX_WIDTH down to it for detection only (crops
# still come from the full frame). Detection cost grows with the pixel count: 193 ms per 1080p frame.
# The faces-found / fps trade-off behind this number is in BENCHMARKS.md ("Detector input size").
DET_WIDTH = "auto"
DET_AUTO_MAX_WIDTH = 1280
# --det-tiles: "auto" runs a global pass at TILE_GLOBAL_WIDTH on every frame, plus, on every 3rd frame, one tile
# of a 2x2 grid up-scaled 1.5x, on frames wider than DET_AUTO_MAX_WIDTH; the tracker carries faces between their
# tile's turns (edgefer.camera.tiles). At 1080p with 20 faces of 20-64 px, idle: 95.5 % of the faces found (20-31 px:
# 77.5 %) against 90.9 % (60.6 %) for full-resolution detection and 75.3 % (18.8 %) for the 1280-wide pass, at
# 14.3 frames/s against 6.7 and 11.6 (BENCHMARKS.md, "Tiled detection"). 720p and smaller: untouched.
DET_TILES = "auto"
TILES_AUTO = "2x2@1.5/3"
TILE_GLOBAL_WIDTH = 640
# YuNet sees a CLAHE-equalised copy of dim frames ("auto"; "clahe": every frame; "none"): see detectors.ENHANCE.
DET_ENHANCE = "auto"
# Per-track EMA weight of the newest frame: 0.4 settles within ~5 frames (a third of a second at 15 fps).
EMA_ALPHA = 0.4


@dataclass(frozen=True)
class ModelChoice:
    path: Path
    why: str  # one line for the user: which graph and why this one


def cpu_has_fast_int8(cpuinfo: str | None = None, machine: str | None = None) -> bool:
    """x86 with AVX2 (or VNNI): ONNX Runtime's U8S8 kernels beat FP32 there. ``cpuinfo``: /proc/cpuinfo text (tests)."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64", "i686", "x86"):
        return False
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:  # not Linux: every x86_64 CPU ONNX Runtime ships for since 2015 has AVX2
            return machine in ("x86_64", "amd64")
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return bool(flags & {"avx2", "avx512_vnni", "avx_vnni"})


def _tensorrt_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorrt") is not None


def choose_model(export: Path | None = None, fast_int8: bool | None = None, tensorrt: bool | None = None) -> ModelChoice:
    """The default model (see the module docstring); arguments override what is probed (tests)."""
    export = export_dir() if export is None else export
    tensorrt = _tensorrt_importable() if tensorrt is None else tensorrt
    if tensorrt:
        for name in ENGINE_NAMES:
            if (export / name).is_file():
                return ModelChoice(export / name, f"TensorRT engine {name} found in {export}")
    own = export / "fsrfer.onnx"
    fast_int8 = cpu_has_fast_int8() if fast_int8 is None else fast_int8
    if fast_int8:
        for path, whose in ((export / SHIPPED_INT8_CPU.name, "your"), (SHIPPED_INT8_CPU, "shipped")):
            if path.is_file():
                return ModelChoice(path, f"{whose} INT8 graph {path.name} for ONNX Runtime: this x86 CPU has fast int8 (AVX2/VNNI)")
    if own.is_file():
        return ModelChoice(own, f"your export {own} (ONNX Runtime FP32)")
    if SHIPPED_FP32.is_file():
        return ModelChoice(SHIPPED_FP32, "shipped FP32 graph for ONNX Runtime" + ("" if fast_int8 else ": no fast int8 on this CPU"))
    return ModelChoice(BUNDLED_MODEL, "no ONNX graph found: the bundled PyTorch checkpoint (slow; needs torch)")


def default_model() -> Path:
    """``choose_model().path`` (kept for callers that need only the path)."""
    return choose_model().path
