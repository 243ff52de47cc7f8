"""Annotated frames: boxes, track ids and smoothed labels; written to a video and/or shown in a window.

``VideoSink`` writes to a hidden partial file and renames it onto ``annotated.mp4`` at close, so an
unreadable half-written video never sits under the final name. Never used in privacy mode.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgefer.errors import EdgeferError

# BGR colour per label: warm for positive, cold for negative, grey for unknown.
COLOURS = {
    "neutral": (200, 200, 200), "happiness": (0, 215, 255), "surprise": (0, 140, 255), "sadness": (255, 120, 0),
    "anger": (0, 0, 230), "disgust": (0, 160, 60), "fear": (200, 0, 200), "contempt": (120, 60, 160),
    "unknown": (110, 110, 110),
}


def draw(image: np.ndarray, faces: list, fps: float | None = None) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) BGR with every face's box, ``#track label score`` and the loop's fps."""
    import cv2

    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    for f in faces:
        x, y, w, h = (int(round(v)) for v in f.box)
        colour = COLOURS.get(f.label, (255, 255, 255))
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 1)
        text = f"#{f.track} {f.label[:4]}" + (f" {f.score:.2f}" if f.score is not None else "")
        cv2.putText(out, text, (x, max(y - 3, 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.33, colour, 1, cv2.LINE_AA)
    if fps is not None:
        cv2.putText(out, f"{len(faces)} faces  {fps:.1f} fps", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class VideoSink:
    """An mp4 (mp4v) writer opened on the first frame (its size is known only then)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.stem}.partial{path.suffix}")  # cv2 picks the container by suffix
        self.fps = fps if fps and fps > 0 else 15.0
        self._writer = None
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            h, w = image.shape[:2]
            self._writer = cv2.VideoWriter(str(self.partial), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                raise EdgeferError(f"{self.path}: OpenCV cannot write an mp4v video here")
        self._writer.write(image)
        self.frames += 1

    def close(self) -> Path | None:
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        os.replace(self.partial, self.path)
        return self.path


class Display:
    """A cv2.imshow window; ``show`` returns False when the user pressed q or Esc."""

    def __init__(self, title: str = "edgefer") -> None:
        import sys

        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise EdgeferError("--display: no $DISPLAY to show a window on (in Docker pass -e DISPLAY and -v /tmp/.X11-unix:/tmp/.X11-unix)")
        self.title = title
        self.opened = False

    def show(self, image: np.ndarray) -> bool:
        import cv2

        try:
            cv2.imshow(self.title, image)
            self.opened = True
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as e:
            raise EdgeferError(f"--display: this OpenCV cannot open a window ({' '.join(str(e).split())[:120]}); "
                               "a headless build has no GUI") from None
        return key not in (ord("q"), 27)

    def close(self) -> None:
        if self.opened:
            import cv2

            cv2.destroyWindow(self.title)
            self.opened = False
