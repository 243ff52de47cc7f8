"""Face detectors: frame -> boxes (N, 4) float32 [x, y, w, h] in pixels and scores (N,) float32.

Default: **YuNet** (``cv2.FaceDetectorYN``, OpenCV >= 4.8 and 5.x). Why, for faces of 8-25 px:
- its smallest anchors are 10-16 px at stride 8, so it finds faces of about 12-16 px at the frame's own
  resolution (measured on the synthetic crowd clip: 20 of 20 heads found at 16 px, 9 of 20 at 12 px);
- OpenCV's Haar frontal cascade scans a 24 x 24 px window, so it cannot see a face under ~24 px without
  up-scaling the frame (4x the work for 2x), and it gives no confidence score;
- Haar is gone from OpenCV 5 wheels (no ``cv2.CascadeClassifier``, no ``cv2.data.haarcascades``).
YuNet needs its ONNX file (``--detector-model``, 230 kB, MIT, vendored in ``edgefer/weights``); nothing
is ever downloaded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgefer.errors import EdgeferError

DETECTORS = ("yunet", "haar")
HAAR_CASCADE = "haarcascade_frontalface_default.xml"


def cv2_error() -> type[Exception]:
    import cv2

    return cv2.error


def _old_opencv_hint() -> str:
    """The vendored YuNet (outputs cls_8 ... kps_32) needs OpenCV >= 4.8; older FaceDetectorYN expects another layout."""
    import cv2

    try:
        major, minor = (int(v) for v in cv2.__version__.split(".")[:2])
    except ValueError:
        return ""
    if (major, minor) >= (4, 8):
        return ""
    return (f"; this YuNet model needs OpenCV >= 4.8 and this is {cv2.__version__} "
            "(on JetPack 6 install NVIDIA's OpenCV 4.8: apt libopencv-python)")


def _bgr(frame: np.ndarray) -> np.ndarray:
    """Any camera frame -> (H, W, 3) uint8 BGR, what YuNet takes."""
    import cv2

    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


# pip wheels ship cascades under cv2.data.haarcascades; apt builds (Ubuntu, JetPack) under /usr/share.
HAAR_DIRS = ("/usr/share/opencv4/haarcascades", "/usr/local/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades")


def find_haar_cascade() -> Path | None:
    import cv2

    root = getattr(getattr(cv2, "data", None), "haarcascades", None)
    for d in ([root] if root else []) + list(HAAR_DIRS):
        if (Path(d) / HAAR_CASCADE).is_file():
            return Path(d) / HAAR_CASCADE
    return None


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV's own log at ERROR level for the duration (its warnings go to stderr, past Python's logging)."""
    import cv2

    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is None or not hasattr(log, "getLogLevel"):
        yield
        return
    level = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        log.setLogLevel(level)


# --det-enhance clahe: contrast-limited histogram equalisation of the luma, on the detector's copy of the frame only
# (the expression model still sees the original pixels). "auto" applies it to dim frames only (mean grey level
# < DIM_LUMA): on dimmed clips it finds 80-94 % of 20-31 px faces instead of 28-70 %, but it costs 10-25 % of
# the detection time, for +5 points on well-lit ones. BENCHMARKS.md section 10, "Dim faces".
ENHANCE = (None, "clahe", "auto")
CLAHE_CLIP = 2.0
DIM_LUMA = 60.0  # the dark theatre of short_hamilton_clip.mp4: 16-38; the composed clips: 117; a daylight photo: 94


def is_dim(image: np.ndarray) -> bool:
    """Mean grey level (BT.601) of every 8th pixel below DIM_LUMA."""
    b, g, r = np.asarray(image[::8, ::8], np.float32).reshape(-1, 3).mean(axis=0)
    return 0.114 * b + 0.587 * g + 0.299 * r < DIM_LUMA


def clahe_luma(image: np.ndarray, clahe) -> np.ndarray:
    """(H, W, 3) BGR -> the same with CLAHE applied to its Y channel (YCrCb), for detection only."""
    import cv2

    ycc = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)
    ycc[..., 0] = clahe.apply(np.ascontiguousarray(ycc[..., 0]))
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)


def parse_det_enhance(value: str | None) -> str | None:
    """``--det-enhance``: "auto" | "clahe" | "none"/None (-> None)."""
    value = None if value in (None, "none") else value
    if value not in ENHANCE:
        raise EdgeferError(f"--det-enhance {value!r}: expected auto, clahe or none")
    return value


def parse_det_width(value: int | str | None) -> int | str | None:
    """``--det-width``: "auto" (down to DET_AUTO_MAX_WIDTH, never up), "full"/None (the frame's own) or px (up or down)."""
    if value is None or value == "full":
        return None
    if value == "auto":
        return "auto"
    try:
        width = int(value)
    except (TypeError, ValueError):
        raise EdgeferError(f"--det-width {value!r}: expected auto, full or a width in px") from None
    if not 32 <= width <= 8192:
        raise EdgeferError(f"--det-width must be between 32 and 8192 px, got {width}")
    return width


def detection_width(setting: int | str | None, frame_width: int) -> int:
    """The width YuNet sees for a frame ``frame_width`` px wide under ``parse_det_width``'s setting."""
    from edgefer.camera.defaults import DET_AUTO_MAX_WIDTH

    if setting is None:
        return frame_width
    if setting == "auto":
        return min(frame_width, DET_AUTO_MAX_WIDTH)
    return int(setting)


class YuNetDetector:
    """YuNet through ``cv2.FaceDetectorYN``; the input size follows the frame size."""

    name = "yunet"

    def __init__(self, model_path: str | Path, score_threshold: float = 0.6, nms_threshold: float = 0.3,
                 top_k: int = 5000, input_width: int | str | None = None, enhance: str | None = None) -> None:
        import cv2

        path = Path(model_path)
        if not path.is_file():
            raise EdgeferError(f"{path}: no such YuNet model file (--detector-model; edgefer never downloads one, "
                               "get face_detection_yunet.onnx from the OpenCV Model Zoo)")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise EdgeferError(f"OpenCV {cv2.__version__} has no cv2.FaceDetectorYN (YuNet needs OpenCV >= 4.8)")
        input_width = parse_det_width(input_width)
        enhance = parse_det_enhance(enhance)
        self.enhance = enhance
        self._clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=(8, 8)) if enhance else None
        self.model_path = str(path)
        self.score_threshold = score_threshold
        self.input_width = input_width
        try:
            with _quiet_opencv():  # "setPreferableTarget Targets are not supported": OpenCV 5's noise, on every run
                self._det = cv2.FaceDetectorYN.create(self.model_path, "", (320, 320), score_threshold, nms_threshold, top_k)
        except cv2.error as e:
            raise EdgeferError(f"{path}: OpenCV cannot load it as a YuNet model ({' '.join(str(e).split())[:160]})"
                               f"{_old_opencv_hint()}") from None
        self._size = (320, 320)

    def detect(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W[, C]) frame -> boxes (N, 4) float32 xywh, scores (N,) float32."""
        boxes, scores, _ = self.detect_landmarks(frame)
        return boxes, scores

    def detect_landmarks(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(H, W[, C]) frame -> boxes (N, 4) xywh, scores (N,), landmarks (N, 5, 2) float32, in frame pixels.

        Landmarks: right eye, left eye, nose tip, right and left mouth corner (the person's right and left).
        With ``input_width`` the frame is resized (INTER_AREA down, INTER_LINEAR up) to that width for YuNet
        only, and the boxes are mapped back: the caller crops from its full-resolution frame."""
        import cv2

        image = _bgr(frame)
        scale = 1.0
        width = detection_width(self.input_width, image.shape[1])
        if width != image.shape[1]:
            scale = width / image.shape[1]
            h = max(int(round(image.shape[0] * scale)), 1)
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            image = cv2.resize(image, (width, h), interpolation=interp)
        if self._clahe is not None and (self.enhance == "clahe" or is_dim(image)):
            image = clahe_luma(image, self._clahe)
        size = (image.shape[1], image.shape[0])
        if size != self._size:
            self._det.setInputSize(size)
            self._size = size
        try:
            _, faces = self._det.detect(image)
        except cv2_error() as e:
            raise EdgeferError(f"{self.model_path}: YuNet failed on a {size[0]}x{size[1]} frame "
                               f"({' '.join(str(e).split())[:120]}){_old_opencv_hint()}") from None
        if faces is None or len(faces) == 0:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32)
        faces = np.asarray(faces, dtype=np.float32)  # (N, 15): box, 5 landmarks, score
        boxes, marks = faces[:, :4] / scale, faces[:, 4:14].reshape(-1, 5, 2) / scale
        return boxes.astype(np.float32), faces[:, 14].copy(), marks.astype(np.float32)

    def describe(self) -> dict:
        return {"name": self.name, "model": self.model_path, "score_threshold": self.score_threshold,
                "input_width": self.input_width, "enhance": self.enhance}


class HaarDetector:
    """OpenCV's Haar frontal-face cascade (OpenCV 4.x builds only). Scores are 1.0: Haar has none."""

    name = "haar"

    def __init__(self, cascade_path: str | Path | None = None, min_size: int = 12) -> None:
        import cv2

        if not hasattr(cv2, "CascadeClassifier"):
            raise EdgeferError(f"--detector haar needs an OpenCV 4.x build (cv2.CascadeClassifier); this is OpenCV "
                               f"{cv2.__version__}, whose wheels dropped it: use --detector yunet")
        if cascade_path is None:
            cascade_path = find_haar_cascade()
            if cascade_path is None:
                raise EdgeferError(f"no {HAAR_CASCADE} found (cv2.data.haarcascades, /usr/share/opencv4/haarcascades): "
                                   "pass --detector-model PATH or use --detector yunet")
        path = Path(cascade_path)
        if not path.is_file():
            raise EdgeferError(f"{path}: no such Haar cascade file")
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise EdgeferError(f"{path}: OpenCV cannot load it as a Haar cascade")
        self.model_path = str(path)
        self.min_size = min_size

    def detect(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W[, C]) frame -> boxes (N, 4) float32 xywh, scores (N,) float32 (all 1.0)."""
        import cv2

        grey = frame if frame.ndim == 2 else cv2.cvtColor(_bgr(frame), cv2.COLOR_BGR2GRAY)
        boxes = self._cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=4,
                                               minSize=(self.min_size, self.min_size))
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        return boxes, np.ones(len(boxes), np.float32)

    def describe(self) -> dict:
        return {"name": self.name, "model": self.model_path, "score_threshold": None}


def make_detector(name: str, model_path: str | Path | None = None, score_threshold: float = 0.6,
                  input_width: int | str | None = None, enhance: str | None = None, tiles=None):
    # enhance: "auto" | "clahe" | "none"/None (YuNet only; the default of the CLI and the API is defaults.DET_ENHANCE)
    """``yunet`` (model_path defaults to the vendored ONNX) or ``haar`` (model_path: a cascade XML).
    input_width: YuNet's input width (None: the frame's own); Haar ignores it.
    tiles: ``--det-tiles`` (a spec string or ``tiles.TileSpec``; None/"none": off): YuNet as a
    ``tiles.TiledDetector`` (a global pass at ``input_width`` + one tile a frame). Haar refuses it.

    score_threshold 0.6: on the crowd clip YuNet scores faces of 15-25 px at 0.68-0.87 and larger ones
    at ~0.9; OpenCV's sample default of 0.9 would drop every small face."""
    name = name.lower()
    if name == "yunet":
        from edgefer.camera.defaults import YUNET_MODEL
        from edgefer.camera.tiles import TiledDetector, parse_det_tiles

        spec = parse_det_tiles(tiles) if isinstance(tiles, str) or tiles is None else tiles
        if spec is not None:
            return TiledDetector(model_path or YUNET_MODEL, spec, score_threshold, input_width, parse_det_enhance(enhance))
        return YuNetDetector(model_path or YUNET_MODEL, score_threshold, input_width=input_width, enhance=enhance)
    if name == "haar":
        if tiles not in (None, "none", "auto"):  # auto: tiles where they apply, and they do not apply to Haar
            raise EdgeferError("--det-tiles needs --detector yunet (Haar has no landmarks to carry and no scores to merge)")
        return HaarDetector(model_path)
    raise EdgeferError(f"--detector {name!r}: expected one of {', '.join(DETECTORS)}")
