"""What ``edgefer infer`` writes into ``--out``.

faces.jsonl   one record per face per frame, flushed record by record (a crash or Ctrl-C loses nothing
              already written):
                {"frame": 12, "t": 0.8, "box": [x, y, w, h], "track": 3, "label": "happiness",
                 "score": 0.71, "probs": {"neutral": 0.1, ...}, "face_px": 22, "det": 0.93,
                 "raw_label": "neutral"}
              label/score/probs are the track's smoothed (EMA) values, raw_label this frame's argmax,
              det the detector's score. A face that is not classified has "label": "unknown",
              "score": null, "probs": null and a "reason" ("small: ...", "blurred: ...", "flat: ...").
summary.json  written atomically at the end (``RunOutputs.finalise``).
crowd.csv / crowd.png, annotated.mp4: see ``crowd`` and ``annotate``.

Privacy mode (``save_frames=False``, ``--no-save-frames``): only aggregates are kept: summary.json,
crowd.csv and crowd.png. No faces.jsonl (per-person tracks), no video, no face pixels anywhere.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from edgefer.camera.crowd import CrowdSeries
from edgefer.classes import CLASSES
from edgefer.errors import EdgeferError
from edgefer.fileio import write_json

UNKNOWN = "unknown"


@dataclass
class FaceResult:
    """One face in one frame. box: (4,) float [x, y, w, h]; probs: (K,) smoothed, None if not classified."""

    box: np.ndarray
    det: float
    face_px: float
    track: int = 0
    label: str = UNKNOWN
    score: float | None = None
    probs: np.ndarray | None = None
    raw_label: str | None = None
    reason: str | None = None

    def record(self, frame: int, t: float, classes: tuple[str, ...] = CLASSES) -> dict[str, Any]:
        r: dict[str, Any] = {
            "frame": frame,
            "t": round(t, 3),
            "box": [int(round(v)) for v in self.box],
            "track": int(self.track),
            "label": self.label,
            "score": None if self.score is None else round(float(self.score), 4),
            "probs": None if self.probs is None else {c: round(float(p), 4) for c, p in zip(classes, self.probs)},
            "face_px": int(round(self.face_px)),
            "det": round(float(self.det), 3),
        }
        if self.raw_label is not None:
            r["raw_label"] = self.raw_label
        if self.reason is not None:
            r["reason"] = self.reason
        return r


class FaceLog:
    """faces.jsonl, one flushed line per record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fh: TextIO | None = open(path, "w", encoding="utf-8")
        except OSError as e:
            raise EdgeferError(f"{path}: cannot write ({e.strerror or e})") from None

    def write(self, record: dict[str, Any]) -> None:
        assert self._fh is not None
        self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._fh.flush()  # per record: what was written survives a crash

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class RunOutputs:
    """Owns every sink of one run; ``add`` per frame, ``finalise`` once (idempotent)."""

    def __init__(self, out: Path, save_frames: bool = True, classes: tuple[str, ...] = CLASSES) -> None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EdgeferError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
        self.out, self.save_frames, self.classes = out, save_frames, classes
        self.faces_log = FaceLog(out / "faces.jsonl") if save_frames else None
        if not save_frames:  # per-face files of an earlier run in this folder would contradict privacy mode
            for stale in ("faces.jsonl", "annotated.mp4"):
                (out / stale).unlink(missing_ok=True)
        self.crowd = CrowdSeries(out / "crowd.csv", classes)
        self.frames = 0
        self.faces = 0
        self.labels: collections.Counter[str] = collections.Counter()
        self.reasons: collections.Counter[str] = collections.Counter()
        self.summary: dict[str, Any] | None = None

    def add(self, frame: int, t: float, faces: list[FaceResult]) -> None:
        self.frames += 1
        self.faces += len(faces)
        for f in faces:
            self.labels[f.label] += 1
            if f.reason:
                self.reasons[f.reason.split(":", 1)[0]] += 1
            if self.faces_log is not None:
                self.faces_log.write(f.record(frame, t, self.classes))
        self.crowd.add(t, [f.label for f in faces])

    def finalise(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Close the logs, write crowd.csv's last row, crowd.png and summary.json; returns the summary."""
        if self.summary is not None:
            return self.summary
        if self.faces_log is not None:
            self.faces_log.close()
        self.crowd.close()
        files = {"summary": str(self.out / "summary.json"), "crowd_csv": str(self.crowd.path)}
        if self.faces_log is not None:
            files["faces_jsonl"] = str(self.faces_log.path)
        plot = self.crowd.plot(self.out / "crowd.png")
        if plot is not None:
            files["crowd_png"] = str(plot)
        summary = {
            **summary,
            "faces": self.faces,
            "per_class": {c: self.labels.get(c, 0) for c in (*self.classes, UNKNOWN)},
            "unknown_reasons": dict(self.reasons),
            "privacy": not self.save_frames,
            "files": {**summary.get("files", {}), **files},
        }
        write_json(self.out / "summary.json", summary)
        self.summary = summary
        return summary
