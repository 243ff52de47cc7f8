"""What ``edgefer infer`` writes into ``--out``.

faces.jsonl   one record per face per frame, flushed record by record (a crash or Ctrl-C loses nothing
              already written):
                {"frame": 12, "t": 0.8, "box": [x, y, w, h], "track": 3, "label": "happiness",
                 "score": 0.71, "probs": {"neutral": 0.1, ...}, "face_px": 22, "det": 0.93,
                 "raw_label": "neutral"}
              label/score/probs are the track's smoothed (EMA) values, raw_label this frame's argmax,
              det the detector's score (for a ``"carried": n`` box, the tracker's: the face was last
              detected n frames ago, its box moved on by the track's velocity; --det-tiles). A face that is not classified has "label": "unknown",
              "score": null, "probs": null and a "reason" ("small: ...", "blurred: ...", "flat: ...").
              Each record is ONE write(2): a kill leaves it whole or absent; a write that fails (full
              disk, file-size limit) is cut back to the last whole line and ends the run with one error.
summary.json  a small placeholder ("stopped": "running") is written before the run starts, padded to
              ``SUMMARY_RESERVE`` bytes; the real one replaces it atomically at the end
              (``RunOutputs.finalise``). When the disk is full by then, the summary is written into the
              placeholder's own blocks instead (shortened if it must), so it is never lost.
crowd.csv / crowd.png, annotated.mp4: see ``crowd`` and ``annotate``.

Privacy mode (``save_frames=False``, ``--no-save-frames``): only aggregates are kept: summary.json,
crowd.csv and crowd.png. No faces.jsonl (per-person tracks), no video, no face pixels anywhere.
"""

from __future__ import annotations

import collections
import errno
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from edgefer.camera.crowd import CrowdSeries
from edgefer.classes import CLASSES
from edgefer.errors import EdgeferError
from edgefer.fileio import write_json

UNKNOWN = "unknown"
SUMMARY_RESERVE = 8192  # bytes kept for summary.json from the start (a full summary is ~2-4 KB)

log = logging.getLogger(__name__)


def check_outputs(out: Path, save_video: bool = False) -> None:
    """What can be checked about ``--out`` without writing: a folder (or makeable), not a file, no
    over-long name, annotated.mp4 / summary.json / faces.jsonl not folders. Before any work (issue #11)."""
    from edgefer.cli.common import out_dir

    out_dir("--out", out)
    names = ["summary.json", "faces.jsonl", "crowd.csv", "crowd.png"] + (["annotated.mp4"] if save_video else [])
    for name in names:
        if (out / name).is_dir():
            raise EdgeferError(f"--out {out}: {name} there is a folder; remove it or choose another --out")


def _disk_error(path: Path, e: OSError) -> EdgeferError:
    full = e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    return EdgeferError(f"{path}: {'disk full' if full else 'cannot write'} ({e.strerror or e})")


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
    carried: int = 0  # frames since the detector last reported this face (0: detected on this frame; --det-tiles)

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
        if self.carried:
            r["carried"] = int(self.carried)
        return r


class FaceLog:
    """faces.jsonl, one write(2) per record (line-atomic; see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as e:
            raise EdgeferError(f"{path}: cannot write ({e.strerror or e})") from None
        self.size = 0  # bytes of whole lines written

    def write(self, record: dict[str, Any]) -> None:
        assert self._fd is not None
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            n = os.write(self._fd, data)
            if n != len(data):
                raise OSError(errno.ENOSPC, f"short write, {n} of {len(data)} bytes")
        except OSError as e:
            os.ftruncate(self._fd, self.size)  # drop the cut line: the file ends with a whole record
            raise _disk_error(self.path, e) from None
        self.size += n

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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
        self._reserve_summary()
        self.frames = 0
        self.faces = 0
        self.carried = 0  # records whose box the tracker carried (--det-tiles), not this frame's detection
        self.labels: collections.Counter[str] = collections.Counter()
        self.reasons: collections.Counter[str] = collections.Counter()
        self.summary: dict[str, Any] | None = None

    def _reserve_summary(self) -> None:
        """Write the placeholder summary.json (see the module docstring) before the run starts."""
        path = self.out / "summary.json"
        text = json.dumps({"stopped": "running", "note": "the run has not finished (or was killed)"})
        try:
            write_json_padded(path, text, SUMMARY_RESERVE)
        except OSError as e:
            raise _disk_error(path, e) from None

    def add(self, frame: int, t: float, faces: list[FaceResult]) -> None:
        self.frames += 1
        self.faces += len(faces)
        for f in faces:
            self.carried += f.carried > 0
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
        errors: list[str] = list(summary.pop("output_errors", []))  # e.g. the video's, from the pipeline
        try:
            self.crowd.close()
        except (OSError, EdgeferError) as e:  # a full disk: the summary still gets written below
            errors.append(f"crowd.csv: {e}")
        files = {"summary": str(self.out / "summary.json"), "crowd_csv": str(self.crowd.path)}
        if self.faces_log is not None:
            files["faces_jsonl"] = str(self.faces_log.path)
        try:
            plot = self.crowd.plot(self.out / "crowd.png")
        except (OSError, EdgeferError) as e:
            errors.append(f"crowd.png: {e}")
            plot = None
        if plot is not None:
            files["crowd_png"] = str(plot)
        summary = {
            **summary,
            "faces": self.faces,
            "faces_carried": self.carried,
            "per_class": {c: self.labels.get(c, 0) for c in (*self.classes, UNKNOWN)},
            "unknown_reasons": dict(self.reasons),
            "privacy": not self.save_frames,
            "files": {**summary.get("files", {}), **files},
        }
        if errors:
            summary["output_errors"] = errors
        path = self.out / "summary.json"
        try:
            write_json(path, summary)
        except (OSError, EdgeferError) as e:  # no room for a new file: use the placeholder's blocks
            self.summary = summary
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            try:
                write_json_padded(path, _fit(summary, SUMMARY_RESERVE), SUMMARY_RESERVE, in_place=True)
            except OSError as e2:
                raise _disk_error(path, e2) from None
            raise EdgeferError(f"{self.out}: disk full while finishing ({reason}); summary.json written in its "
                               "reserved space") from None
        self.summary = summary
        if errors and not str(summary.get("stopped", "")).startswith("error"):  # else the run's own error is the line
            raise EdgeferError(f"{self.out}: {errors[0]} (summary.json is complete)")
        return summary


def _fit(summary: dict[str, Any], size: int) -> str:
    """The summary as JSON in at most ``size`` bytes: the bulky parts go first, the counts stay."""
    s = dict(summary)
    for key in ("stages", "options", "detector", "files", "unknown_reasons", "source_gaps"):
        text = json.dumps(s, indent=1)
        if len(text.encode("utf-8")) <= size:
            return text
        s.pop(key, None)
        s["truncated"] = True
    keep = ("stopped", "frames", "faces", "per_class", "seconds", "source", "model", "truncated")
    return json.dumps({k: s[k] for k in keep if k in s})[:size]


def write_json_padded(path: Path, text: str, size: int, in_place: bool = False) -> None:
    """Write ``text`` padded with spaces (still valid JSON) to ``size`` bytes: atomically, or with
    ``in_place`` over an existing file's own blocks (no new blocks needed: the disk-full fallback, fsynced)."""
    data = text.encode("utf-8")
    data = data + b" " * (size - len(data) - 1) + b"\n" if len(data) < size else data
    if not in_place:
        from edgefer.fileio import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        return
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
