"""The camera loop's fleet sink: per frame, the crowd aggregate and the face events, as fleet messages.

Called by ``edgefer.camera.pipeline.run_loop`` after each frame with (frame index, source time, faces,
RunOutputs). It publishes, through the spool:
    status    "start" now; "end" at close, with the run's counts
    interval  per ``interval_s`` slot of the wall clock (aligned on multiples of it, so cameras agree) that
              had frames: frames, fps, faces, max_faces, unknown, counts per class (face-frames by smoothed label)
    face      unless privacy: "appear" (new track), "label" (its smoothed label changed), "end" (unseen for
              END_AFTER_FRAMES processed frames, or the run ended). Box and size only: never pixels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgefer.camera.outputs import UNKNOWN, FaceResult
from edgefer.classes import CLASSES
from edgefer.fleet.messages import Envelope, encode, model_id, topic
from edgefer.fleet.publisher import Publisher

# The IoU tracker forgets a track after 15 missed frames (IoUTracker.max_missed); a face event "end"
# follows the same rule, so "end" means what the tracker means.
END_AFTER_FRAMES = 15


@dataclass
class _Live:
    label: str
    missed: int = 0
    last: FaceResult | None = None
    frame: int = 0


class FleetSink:
    """``start(runner)`` once (the model's identity goes in every message), then per frame, then ``close``."""

    def __init__(self, publisher: Publisher, camera: str, prefix: str, privacy: bool, interval_s: float = 1.0,
                 classes: tuple[str, ...] = CLASSES, clock: Callable[[], float] = time.time) -> None:
        if not interval_s > 0:
            raise ValueError("interval_s must be positive")
        self.pub, self.camera, self.prefix, self.privacy = publisher, camera, prefix, privacy
        self.interval_s, self.classes, self.clock = interval_s, classes, clock
        self.env: Envelope | None = None
        self.intervals = 0
        self.face_events = 0
        self.result: dict[str, Any] | None = None
        self._live: dict[int, _Live] = {}
        self._reset(None)

    def start(self, runner: Any) -> None:
        """runner: the activated Runner (path, backend, meta) whose identity every message carries."""
        self.env = Envelope(self.camera, model_id(runner.path, runner.backend, runner.meta), self.privacy)
        self._send("status", {"state": "start", "interval_s": self.interval_s})

    def _reset(self, start: float | None) -> None:
        self._start, self._frames, self._faces, self._max, self._unknown = start, 0, 0, 0, 0
        self._counts = dict.fromkeys((*self.classes, UNKNOWN), 0)

    def _send(self, kind: str, body: dict[str, Any]) -> None:
        assert self.env is not None, "FleetSink.start(runner) first"
        msg = self.env.make(kind, body, now=self.clock())
        self.pub.send(topic(self.prefix, self.env.camera, kind), encode(msg))

    def __call__(self, frame: int, t: float, faces: list[FaceResult], outputs: Any = None) -> None:
        now = self.clock()
        if self._start is not None and self._slot(now) != self._slot(self._start):
            self._flush(now)  # the interval [start, now) closes before this frame, which opens the next
        if self._start is None:
            self._start = now
        self._frames += 1
        self._faces += len(faces)
        self._max = max(self._max, len(faces))
        for f in faces:
            key = f.label if f.label in self._counts else UNKNOWN  # any label outside the class list is unknown
            self._counts[key] += 1
            self._unknown += key == UNKNOWN
        if not self.privacy:
            self._face_events(frame, faces)

    def _slot(self, t: float) -> int:
        # Intervals are aligned on the wall clock (multiples of interval_s since the epoch), so every
        # camera of a fleet closes its intervals at the same instants and `fleet` buckets them one to one.
        return int(t // self.interval_s)

    def _flush(self, now: float) -> None:
        if not self._frames:
            return
        seconds = max(now - self._start, 1e-9)
        self._send("interval", {"start": round(self._start, 3), "end": round(now, 3), "frames": self._frames,
                                "fps": round(self._frames / seconds, 3), "faces": self._faces, "max_faces": self._max,
                                "unknown": self._unknown, "counts": dict(self._counts),
                                "dropped": self.pub.spool.dropped})
        self.intervals += 1
        self._reset(now)

    def _face_events(self, frame: int, faces: list[FaceResult]) -> None:
        seen = set()
        for f in faces:
            seen.add(f.track)
            live = self._live.get(f.track)
            if live is None:
                self._live[f.track] = _Live(f.label, last=f, frame=frame)
                self._event("appear", f, frame, None)
            else:
                live.missed, live.last, live.frame = 0, f, frame
                if f.label != live.label:
                    self._event("label", f, frame, live.label)
                    live.label = f.label
        for track in [k for k in self._live if k not in seen]:
            live = self._live[track]
            live.missed += 1
            if live.missed > END_AFTER_FRAMES:
                self._end(track)

    def _end(self, track: int) -> None:
        live = self._live.pop(track)
        if live.last is not None:
            self._event("end", live.last, live.frame, None)

    def _event(self, event: str, f: FaceResult, frame: int, previous: str | None) -> None:
        self._send("face", {"event": event, "track": int(f.track), "label": f.label, "previous": previous,
                            "score": None if f.score is None else round(float(f.score), 4),
                            "face_px": int(round(f.face_px)), "box": [int(round(v)) for v in f.box], "frame": int(frame)})
        self.face_events += 1

    def close(self, drain_s: float = 10.0) -> dict[str, Any]:
        """Flush the last interval, end the live tracks, send status "end", drain; returns summary fields.
        Idempotent; without ``start`` (the run failed before its first frame) it only disconnects."""
        if self.result is not None:
            return self.result
        if self.env is None:
            self.pub.close(0)
            self.result = {}
            return self.result
        self._flush(self.clock())
        for track in list(self._live):
            self._end(track)
        end_seq = self.env.seq
        self.pub.spool.make_room()  # so that the end message's "dropped" is the final count
        self._send("status", {"state": "end", "intervals": self.intervals, "face_events": self.face_events,
                              "dropped": self.pub.spool.dropped})
        counts = self.pub.close(drain_s)
        self.result = {"fleet": {"broker": self.pub.broker.describe(), "camera": self.env.camera, "run": self.env.run,
                          "privacy": self.env.privacy, "interval_s": self.interval_s, "messages": end_seq + 1,
                          "intervals": self.intervals, "face_events": self.face_events,
                          "spool": str(self.pub.spool.folder), "spool_max": self.pub.spool.max_messages, **counts}}
        return self.result
