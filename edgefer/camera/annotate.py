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
FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX
# Text height as a fraction of the frame height: 1.6 % is 17 px at 1080p, 11 px at 720p; never under 9 px.
TEXT_FRACTION, MIN_TEXT_PX = 0.016, 9
_HERSHEY_PX = 22  # cv2.getTextSize height of FONT at scale 1


def text_colour(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light backgrounds, white on dark ones (BT.601 luma of the BGR colour)."""
    b, g, r = bg
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)


def overlay_scale(frame_h: int) -> tuple[float, int]:
    """(font scale, line thickness) for a frame ``frame_h`` px tall: text ~TEXT_FRACTION of the height."""
    px = max(MIN_TEXT_PX, TEXT_FRACTION * frame_h)
    scale = px / _HERSHEY_PX
    return scale, max(1, int(round(px / 12)))


def _label(out: np.ndarray, text: str, x: int, y: int, bg: tuple[int, int, int], scale: float, thick: int) -> None:
    """Text with its top-left at (x, y) on a filled ``bg`` box."""
    import cv2

    (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
    pad = max(1, th // 5)
    cv2.rectangle(out, (x, y), (x + tw + 2 * pad, y + th + base + 2 * pad), bg, -1)
    cv2.putText(out, text, (x + pad, y + pad + th), FONT, scale, text_colour(bg), thick, cv2.LINE_AA)


def place_labels(boxes: np.ndarray, sizes: np.ndarray, frame_shape: tuple[int, ...]) -> list[tuple[int, int] | None]:
    """Top-left corner of each face's label, or None where it would cover another label (dense crowds: the box's
    colour and the legend then tell the class). boxes (N, 4) xywh; sizes (N, 2) label w, h. Above the box,
    else below it, else inside its top; larger faces choose first."""
    fh, fw = frame_shape[:2]
    placed = np.zeros((0, 4), np.float32)  # x0, y0, x1, y1 of labels drawn so far
    out: list[tuple[int, int] | None] = [None] * len(boxes)
    for i in np.argsort(-boxes[:, 3], kind="stable") if len(boxes) else []:
        x, y, w, h = boxes[i]
        lw, lh = sizes[i]
        for cx, cy in ((x, y - lh), (x, y + h), (x, y)):
            cx, cy = int(min(max(cx, 0), max(fw - lw, 0))), int(min(max(cy, 0), max(fh - lh, 0)))
            r = np.array([cx, cy, cx + lw, cy + lh], np.float32)
            hit = (placed[:, 0] < r[2]) & (r[0] < placed[:, 2]) & (placed[:, 1] < r[3]) & (r[1] < placed[:, 3])
            if not hit.any():
                out[i] = (cx, cy)
                placed = np.vstack([placed, r])
                break
    return out


def draw(image: np.ndarray, faces: list, fps: float | None = None, faces_per_s: float | None = None,
         classes: tuple[str, ...] | None = None, legend: bool = True) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) BGR with each face's box and ``#track label score``, a header with the face
    count, fps and faces/s, and a colour legend. Sizes scale with the frame height (``overlay_scale``)."""
    import cv2

    from edgefer.classes import CLASSES

    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    scale, thick = overlay_scale(out.shape[0])
    texts, boxes = [], np.zeros((len(faces), 4), np.float32)
    for k, f in enumerate(faces):
        boxes[k] = f.box
        score = f" {f.score:.2f}" if f.score is not None and f.label != "unknown" else ""
        texts.append((f"#{f.track} " if f.track else "") + f"{f.label[:4]}{score}")
        x, y, w, h = (int(round(v)) for v in f.box)
        cv2.rectangle(out, (x, y), (x + w, y + h), COLOURS.get(f.label, (255, 255, 255)), thick)
    sizes = np.zeros((len(faces), 2), np.float32)
    for k, t in enumerate(texts):
        (tw, th), base = cv2.getTextSize(t, FONT, scale, thick)
        pad = max(1, th // 5)
        sizes[k] = (tw + 2 * pad, th + base + 2 * pad)
    for f, t, pos in zip(faces, texts, place_labels(boxes, sizes, out.shape)):
        if pos is not None:
            _label(out, t, pos[0], pos[1], COLOURS.get(f.label, (255, 255, 255)), scale, thick)
    header = [f"{len(faces)} faces"]
    if fps is not None:
        header.append(f"{fps:.1f} fps")
    if faces_per_s is not None:
        header.append(f"{faces_per_s:.0f} faces/s")
    _label(out, "  ".join(header), 0, 0, (30, 30, 30), scale, thick)
    if legend:
        _legend(out, (*(classes or CLASSES), "unknown"), scale, thick)
    return out


def _legend(out: np.ndarray, names: tuple[str, ...], scale: float, thick: int) -> None:
    """One coloured chip per class along the bottom edge, wrapping to more rows on narrow frames."""
    import cv2

    chips = []
    for n in names:
        (tw, th), base = cv2.getTextSize(n, FONT, scale, thick)
        pad = max(1, th // 5)
        chips.append((n, tw + 2 * pad, th + base + 2 * pad))
    row_h = max(c[2] for c in chips)
    rows, x = [[]], 0
    for c in chips:
        if x + c[1] > out.shape[1] and rows[-1]:
            rows.append([])
            x = 0
        rows[-1].append(c)
        x += c[1] + 2
    y = out.shape[0] - row_h * len(rows)
    for row in rows:
        x = 0
        for n, w, _ in row:
            _label(out, n, x, y, COLOURS.get(n, (255, 255, 255)), scale, thick)
            x += w + 2
        y += row_h


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
        import cv2

        self._writer.release()
        self._writer = None
        # OpenCV does not report a failed write (a full disk): read the file back before it takes the name.
        cap = cv2.VideoCapture(str(self.partial))
        whole = cap.isOpened() and cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0
        cap.release()
        if not whole:
            self.partial.unlink(missing_ok=True)
            raise EdgeferError(f"{self.path}: the video could not be written whole (disk full?); it was not kept")
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
