"""Default files and constants of the camera path (no torch: ``edgefer.checkpoint`` is not imported)."""

from __future__ import annotations

from pathlib import Path

from edgefer.paths import DEFAULT_MODEL as BUNDLED_MODEL
from edgefer.paths import WEIGHTS_DIR, export_dir

YUNET_MODEL = WEIGHTS_DIR / "face_detection_yunet.onnx"

# Detector box (x, y, w, h) -> square crop grown by this fraction of the side on every side. YuNet's boxes
# run from the brows to the chin; FER+ faces show a little forehead and chin, so a small margin.
CROP_MARGIN = 0.1
# The model is trained on faces down to 8 px (factor 6 of 48); below that it guesses.
MIN_FACE_PX = 8.0
# Per-track EMA weight of the newest frame: 0.4 settles within ~5 frames (a third of a second at 15 fps).
EMA_ALPHA = 0.4


def default_model() -> Path:
    """``export/fsrfer.onnx`` when it exists (no torch needed), else the bundled ``edgefer/weights/fsrfer.pt``."""
    onnx = export_dir() / "fsrfer.onnx"
    return onnx if onnx.is_file() else BUNDLED_MODEL
