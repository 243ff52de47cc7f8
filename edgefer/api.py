"""The public Python API: ``FaceAnalyzer``, the per-face work of the camera loop as one object.

    from edgefer import FaceAnalyzer

    with FaceAnalyzer() as analyzer:                 # model=None: the fastest shipped graph (no torch)
        for face in analyzer(frame_bgr):             # (H, W, 3) uint8 BGR -> list[FaceResult]
            print(face.box, face.label, face.score, face.reason)
        probs = analyzer.classify(crops)             # faces you cropped yourself -> list[FaceResult]

Per frame: detect (YuNet, on a frame scaled to ``det_width``; with ``det_tiles`` a global pass + one tile)
-> tracker ids (faces the tiles did not revisit this frame are carried, relocated on the frame) -> square crop
from the FULL-resolution frame -> gates -> one batched ``preprocess_faces`` + ``runner.infer`` -> per-track
EMA -> decide.
``edgefer infer`` runs this same object (``edgefer.camera.pipeline.FaceStage``).

Abstaining: a face gets ``label == "unknown"`` and a ``reason`` instead of a guess when
- ``outside``:     its box lies outside the frame;
- ``not a face``:  YuNet's landmarks are not a face's geometry (``edgefer.camera.quality.landmark_reason``);
- ``small`` / ``flat`` / ``blurred``: the quality gate (``edgefer.camera.quality``);
- ``low confidence``: the (smoothed) top probability is below ``min_confidence``, which comes from the
  model's metadata (checkpoint ``abstain``, ONNX ``edgefer.abstain``, engine sidecar ``abstain``) unless
  given. These faces keep their ``probs`` and ``score``: the classifier ran, it is just not sure.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgefer.backends.base import Runner
from edgefer.camera.defaults import CROP_MARGIN, DET_ENHANCE, DET_TILES, DET_WIDTH, EMA_ALPHA, MIN_FACE_PX
from edgefer.camera.quality import assess, landmark_reason
from edgefer.camera.outputs import UNKNOWN, FaceResult
from edgefer.camera.carry import Carrier
from edgefer.camera.tracker import IoUTracker
from edgefer.classes import CLASSES
from edgefer.errors import EdgeferError
from edgefer.preprocess import preprocess_faces, square_box, to_grey


class _NoTimer:
    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        yield


def abstain_threshold(runner: Runner) -> float | None:
    """The model's ``abstain.min_confidence`` (None: the model sets no confidence gate).

    .pt: checkpoint key ``abstain``; .onnx: metadata_props ``edgefer.abstain`` (JSON); .engine: sidecar ``abstain``."""
    raw: Any = runner.meta.get("abstain")
    if raw is None and getattr(runner, "session", None) is not None:
        raw = runner.session.get_modelmeta().custom_metadata_map.get("edgefer.abstain")
    if raw is None and isinstance(getattr(runner, "sidecar", None), dict):
        raw = runner.sidecar.get("abstain")
    if raw is None:
        return None
    try:
        cfg = json.loads(raw) if isinstance(raw, str) else dict(raw)
        value = cfg.get("min_confidence")
        value = None if value is None else float(value)
    except (TypeError, ValueError, AttributeError):
        raise EdgeferError(f"{runner.path}: its abstain metadata is not {{\"min_confidence\": float}} ({str(raw)[:80]})") from None
    if value is not None and not 0.0 <= value <= 1.0:
        raise EdgeferError(f"{runner.path}: abstain min_confidence {value:g} is not a probability in [0, 1]")
    return value


class FaceAnalyzer:
    """Faces in a frame -> box, track, label (or "unknown" with a reason), probabilities.

    model: a .onnx / .engine / .pt path, an activated ``Runner``, or None (``choose_model()``: shipped graph).
    detector: "yunet" | "haar" | an object with ``detect(frame) -> (boxes (N, 4) xywh, scores (N,))``
              (optionally ``detect_landmarks(frame) -> (boxes, scores, landmarks (N, 5, 2))``).
    det_width: YuNet's input width: "auto" (at most 1280 px), px (up or down), None (the frame's own); the frame is
               scaled for detection only, crops come from the full frame.
    det_enhance: "auto" (default: YuNet sees a contrast-equalised copy of dim frames), "clahe" (every frame) or None.
    det_tiles: "auto", None/"none" or "RxC[@S][/K]" (``edgefer.camera.tiles``): a global pass at ``det_width`` plus one
               full-resolution tile a frame; faces between their tile's turns are carried by the tracker
               (``FaceResult.carried`` > 0). A detector object that has ``carry_frames`` gets the same carrying.
               Ignored with ``track=False`` (independent images: no tracker to carry faces between tiles).
    min_confidence: None -> the model's metadata; a float overrides it (0 switches the gate off).
    track: False treats every call as an independent image (no ids carried over, no smoothing).
    """

    def __init__(self, model: str | Path | Runner | None = None, detector: Any = "yunet", *,
                 det_width: int | str | None = DET_WIDTH, det_enhance: str | None = DET_ENHANCE, det_score: float = 0.6,
                 det_tiles: str | None = DET_TILES,
                 detector_model: str | Path | None = None,
                 min_face: float = MIN_FACE_PX, margin: float = CROP_MARGIN, min_confidence: float | None = None,
                 ema: float = EMA_ALPHA, track: bool = True, threads: int | None = None, timer: Any = None,
                 classes: tuple[str, ...] = CLASSES) -> None:
        from edgefer.camera.defaults import choose_model
        from edgefer.camera.detectors import make_detector
        from edgefer.camera.model import open_runner

        if not min_face >= 1:  # `not >=`: NaN is refused too
            raise EdgeferError(f"--min-face must be at least 1 px, got {min_face:g}")
        if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
            raise EdgeferError(f"--min-confidence must be a probability in [0, 1], got {min_confidence:g}")
        # tiles take turns over frames and need the tracker to carry faces: independent images get none
        self.detector = (make_detector(detector, detector_model, det_score, det_width, det_enhance, det_tiles if track else None)
                         if isinstance(detector, str) else detector)
        self.choice = None
        if model is None:
            self.choice = choose_model()
            model = self.choice.path
        self._own_runner = not isinstance(model, Runner)
        self.runner: Runner = open_runner(model, threads) if self._own_runner else model
        self.min_confidence = abstain_threshold(self.runner) if min_confidence is None else (min_confidence or None)
        self.min_face, self.margin, self.classes, self.track = float(min_face), float(margin), classes, track
        self.tracker = IoUTracker(alpha=ema)
        self.carrier = Carrier(self.tracker)  # faces between their tile's turns (det_tiles), relocated on the frame
        self.timer = timer or _NoTimer()
        self.infer_calls = 0

    # the whole frame -----------------------------------------------------------------------------
    def __call__(self, frame: np.ndarray) -> list[FaceResult]:
        """(H, W, 3) BGR (or (H, W) grey) frame -> one FaceResult per detected face, in detector order."""
        with self.timer.stage("detect"):
            boxes, scores, landmarks = self.detect(frame)
        return self.analyse(frame, boxes, scores, landmarks)

    def detect(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """frame -> boxes (N, 4) xywh, scores (N,), landmarks (N, 5, 2) or None (a detector without them)."""
        full = getattr(self.detector, "detect_landmarks", None)
        if full is not None:
            return full(frame)
        boxes, scores = self.detector.detect(frame)
        return boxes, scores, None

    def analyse(self, frame: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                landmarks: np.ndarray | None = None) -> list[FaceResult]:
        """Faces already detected in ``frame`` -> FaceResults (track, crop, gates, one batched infer, decide).

        With a detector that has ``carry_frames`` (tiled detection), tracked faces it did not report on this
        frame are added after the detected ones, at the track's predicted box, with ``carried`` > 0."""
        with self.timer.stage("post"):
            if self.track:
                carry = int(getattr(self.detector, "carry_frames", 0) or 0)
                boxes, scores, marks, ids, ages = self.carrier.step(frame, boxes, scores, landmarks, carry)
            else:
                boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
                marks = [None] * len(boxes) if landmarks is None else list(landmarks)
                ids, ages = np.zeros(len(boxes), np.int64), [0] * len(boxes)
        with self.timer.stage("preprocess"):
            faces, greys = [], []
            for box, score, mark, age in zip(boxes, scores, marks, ages):
                # whole pixels, so that the record's face_px and the --min-face decision agree
                face = FaceResult(box=box, det=float(score), face_px=float(round(max(box[2], box[3]))), carried=age)
                faces.append(face)
                if mark is not None:
                    face.reason = landmark_reason(box, mark)
                    if face.reason is not None:
                        continue
                x0, y0, x1, y1 = square_box(box, self.margin, frame.shape)
                if x1 <= x0 or y1 <= y0:
                    face.reason = "outside: the box is outside the frame"
                    continue
                grey = to_grey(frame[y0:y1, x0:x1])  # once per face: the quality gate and the model input share it
                face.reason = assess(grey, face.face_px, self.min_face).reason
                if face.reason is None:
                    greys.append(grey)
            batch = preprocess_faces(greys) if greys else None  # (M, 1, 48, 48) float32 grey 0-255
        with self.timer.stage("infer"):
            probs = self._infer(batch)
        with self.timer.stage("post"):
            k = 0
            for face, track in zip(faces, ids):
                face.track = int(track)
                if face.reason is not None:
                    continue  # tracked, but not guessed: its EMA is left as it was
                p = probs[k]
                k += 1
                smoothed = self.tracker.smooth(face.track, p) if self.track else p
                self._decide(face, p, smoothed)
        return faces

    # faces the caller cropped ---------------------------------------------------------------------
    def classify(self, crops: Sequence[np.ndarray]) -> list[FaceResult]:
        """Face crops ((H, W, 3) BGR or (H, W) grey, any size) -> FaceResults (box = the whole crop, no track).

        The same gates apply except the detector's: small/blurred/flat faces and low confidence abstain."""
        faces, greys = [], []
        for crop in crops:
            crop = np.asarray(crop)
            if crop.ndim not in (2, 3) or crop.shape[0] == 0 or crop.shape[1] == 0:
                raise EdgeferError(f"classify: expected (H, W) grey or (H, W, 3) BGR crops, got shape {crop.shape}")
            h, w = crop.shape[:2]
            face = FaceResult(box=np.array([0, 0, w, h], np.float32), det=math.nan, face_px=float(max(h, w)))
            grey = to_grey(crop)
            face.reason = assess(grey, face.face_px, self.min_face).reason
            faces.append(face)
            if face.reason is None:
                greys.append(grey)
        probs = self._infer(preprocess_faces(greys) if greys else None)
        for face, p in zip((f for f in faces if f.reason is None), probs):
            self._decide(face, p, p)
        return faces

    # pieces ---------------------------------------------------------------------------------------
    def _infer(self, batch: np.ndarray | None) -> np.ndarray:
        if batch is None:
            return np.zeros((0, len(self.classes)), np.float32)
        self.infer_calls += 1
        return self.runner.infer(batch)

    def _decide(self, face: FaceResult, raw: np.ndarray, smoothed: np.ndarray) -> None:
        best = int(smoothed.argmax())
        face.score, face.probs = float(smoothed[best]), smoothed
        face.raw_label = self.classes[int(raw.argmax())]
        if self.min_confidence is not None and face.score < self.min_confidence:
            face.label = UNKNOWN
            face.reason = f"low confidence: {face.score:.2f} < {self.min_confidence:g}"
        else:
            face.label = self.classes[best]

    def describe(self) -> dict[str, Any]:
        d = {"model": self.runner.path, "backend": self.runner.backend, "min_confidence": self.min_confidence}
        if self.choice is not None:
            d["model_choice"] = self.choice.why
        return d

    def close(self) -> None:
        if self._own_runner and self.runner.active:
            self.runner.deactivate()

    def __enter__(self) -> FaceAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["FaceAnalyzer", "FaceResult", "abstain_threshold"]
