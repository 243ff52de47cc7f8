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


class YuNetDetector:
    """YuNet through ``cv2.FaceDetectorYN``; the input size follows the frame size."""

    name = "yunet"

    def __init__(self, model_path: str | Path, score_threshold: float = 0.6, nms_threshold: float = 0.3,
                 top_k: int = 5000) -> None:
        import cv2

        path = Path(model_path)
        if not path.is_file():
            raise EdgeferError(f"{path}: no such YuNet model file (--detector-model; edgefer never downloads one, "
                               "get face_detection_yunet.onnx from the OpenCV Model Zoo)")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise EdgeferError(f"OpenCV {cv2.__version__} has no cv2.FaceDetectorYN (YuNet needs OpenCV >= 4.8)")
        self.model_path = str(path)
        self.score_threshold = score_threshold
        try:
            self._det = cv2.FaceDetectorYN.create(self.model_path, "", (320, 320), score_threshold, nms_threshold, top_k)
        except cv2.error as e:
            raise EdgeferError(f"{path}: OpenCV cannot load it as a YuNet model ({' '.join(str(e).split())[:160]})"
                               f"{_old_opencv_hint()}") from None
        self._size = (320, 320)

    def detect(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W[, C]) frame -> boxes (N, 4) float32 xywh, scores (N,) float32."""
        image = _bgr(frame)
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
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        faces = np.asarray(faces, dtype=np.float32)  # (N, 15): box, 5 landmarks, score
        return faces[:, :4].copy(), faces[:, 14].copy()

    def describe(self) -> dict:
        return {"name": self.name, "model": self.model_path, "score_threshold": self.score_threshold}


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


def make_detector(name: str, model_path: str | Path | None = None, score_threshold: float = 0.6):
    """``yunet`` (model_path defaults to the vendored ONNX) or ``haar`` (model_path: a cascade XML).

    score_threshold 0.6: on the crowd clip YuNet scores faces of 15-25 px at 0.68-0.87 and larger ones
    at ~0.9; OpenCV's sample default of 0.9 would drop every small face."""
    name = name.lower()
    if name == "yunet":
        from edgefer.camera.defaults import YUNET_MODEL

        return YuNetDetector(model_path or YUNET_MODEL, score_threshold)
    if name == "haar":
        return HaarDetector(model_path)
    raise EdgeferError(f"--detector {name!r}: expected one of {', '.join(DETECTORS)}")
