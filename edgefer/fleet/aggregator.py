"""``edgefer fleet``: every camera's messages, de-duplicated, combined into one crowd time series.

De-duplication: QoS 1 delivers at least once, so (camera, run, seq) seen before is counted as a
duplicate and ignored. Completeness: a camera's status "end" message states its last seq; every seq
below it that never arrived is "missing", and the camera's own count of spool drops says how many of
those it dropped on purpose (a full spool). ``missing == dropped`` means nothing was lost in transit.

Outputs in --out (rewritten atomically every ``refresh`` seconds while running, and at the end):
    crowd.csv    one row per time bucket and camera, then a "total" row per bucket:
                 time (UTC ISO), epoch, camera, cameras, frames, faces_per_frame, max_faces, unknown,
                 <class>... (face-frames per smoothed label in the bucket; additive across cameras).
                 faces_per_frame of "total" is the sum over cameras (the fleet's crowd size).
    crowd.png    faces per frame per camera and in total; the total's expression shares
    fleet.json   per camera and run: received, duplicates, missing, dropped, intervals, ended
    messages.jsonl  every interval and status message accepted, appended and flushed before the broker
                 gets its PUBACK; a restarted ``fleet`` on the same --out replays it (and events.jsonl)
                 and continues, de-duplication included
    events.jsonl face events as they arrive (not with --privacy, which keeps aggregates only)
"""

from __future__ import annotations

import csv
import json
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from edgefer.camera.outputs import UNKNOWN
from edgefer.classes import CLASSES
from edgefer.errors import EdgeferError
from edgefer.fileio import atomic_path, write_json
from edgefer.fleet.messages import KINDS, SCHEMA_ID

log = logging.getLogger(__name__)
TOTAL = "total"
MESSAGES = "messages.jsonl"  # every interval and status message accepted, one line each (aggregates only)


@dataclass
class RunState:
    """What arrived from one run of one camera."""

    seen: set[int] = field(default_factory=set)
    duplicates: int = 0
    intervals: int = 0
    face_events: int = 0
    end: dict[str, Any] | None = None  # the status "end" message
    model: dict[str, Any] | None = None

    def missing(self) -> int | None:
        """Seqs 0..end.seq that never arrived (None while the run has not ended)."""
        return None if self.end is None else self.end["seq"] + 1 - len({s for s in self.seen if s <= self.end["seq"]})

    def complete(self) -> bool:
        m = self.missing()
        return m is not None and m <= self.end.get("dropped", 0)


class FleetAggregator:
    """Thread-safe: ``add`` is called from paho's thread, ``write`` from the main loop."""

    def __init__(self, out: Path, privacy: bool = False, bucket_s: float = 1.0, classes: tuple[str, ...] = CLASSES) -> None:
        if not bucket_s > 0:
            raise EdgeferError(f"--bucket {bucket_s:g}: must be a positive number of seconds")
        self.out, self.privacy, self.bucket_s, self.classes = Path(out), privacy, bucket_s, classes
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EdgeferError(f"--out {out}: cannot create the folder ({e.strerror or e})") from None
        self.runs: dict[tuple[str, str], RunState] = defaultdict(RunState)
        self.intervals: list[dict[str, Any]] = []
        self.invalid = 0
        self.faces_ignored = 0
        self.received = 0
        self.changed = False
        self._lock = threading.Lock()
        self._events: TextIO | None = None
        if privacy:
            (self.out / "events.jsonl").unlink(missing_ok=True)  # an earlier run's would contradict privacy
        # A restarted aggregator continues: what an earlier one accepted is replayed (state and de-duplication).
        self.replayed = self._replay(self.out / MESSAGES) + (0 if privacy else self._replay(self.out / "events.jsonl"))
        self.changed = self.replayed > 0
        self._messages = self._open(self.out / MESSAGES)
        if not privacy:
            self._events = self._open(self.out / "events.jsonl")

    @staticmethod
    def _open(path: Path) -> TextIO:
        try:
            fh = open(path, "a+", encoding="utf-8")
            if fh.tell() > 0:
                fh.seek(fh.tell() - 1)
                if fh.read(1) != "\n":
                    fh.write("\n")  # end a line cut by a crash, so that the next message starts its own
            return fh
        except OSError as e:
            raise EdgeferError(f"{path}: cannot write ({e.strerror or e})") from None

    def _replay(self, path: Path) -> int:
        n = 0
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    msg = json.loads(line)
                    _check_fields(msg)
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by a crash
                n += self._accept(msg, str(msg["camera"]), str(msg["run"]), msg["seq"], msg["kind"]) == "new"
        return n

    def add(self, topic: str, payload: bytes) -> str:
        """One message -> "new" | "duplicate" | "invalid" | "ignored" (a face event under --privacy)."""
        try:
            msg = json.loads(payload)
            camera, run, seq, kind = str(msg["camera"]), str(msg["run"]), msg["seq"], msg["kind"]
            if msg.get("schema") != SCHEMA_ID or kind not in KINDS or not topic.endswith(f"/{camera}/{kind}"):
                raise ValueError(topic)
            _check_fields(msg)
        except (ValueError, KeyError, TypeError):
            with self._lock:
                self.invalid += 1
            log.warning("ignored a message on %s that is not an edgefer fleet message", topic)
            return "invalid"
        with self._lock:
            self.received += 1
            result = self._accept(msg, camera, run, seq, kind)
            if result == "new":  # on disk before paho acknowledges it (after this callback returns)
                fh = self._events if kind == "face" else self._messages
                fh.write(json.dumps(msg, separators=(",", ":")) + "\n")
                fh.flush()
            return result

    def _accept(self, msg: dict[str, Any], camera: str, run: str, seq: int, kind: str) -> str:
        st = self.runs[(camera, run)]
        if seq in st.seen:
            st.duplicates += 1
            return "duplicate"
        st.seen.add(seq)
        st.model = msg.get("model")
        self.changed = True
        if kind == "interval":
            st.intervals += 1
            self.intervals.append(msg)
        elif kind == "status" and msg.get("state") == "end":
            st.end = msg
        elif kind == "face":
            st.face_events += 1
            if self.privacy:
                self.faces_ignored += 1
                return "ignored"
        return "new"

    def ended(self) -> list[tuple[str, str]]:
        with self._lock:
            return [k for k, st in self.runs.items() if st.complete()]

    # -- outputs -------------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """The crowd.csv rows: per bucket, one per camera (sorted), then "total"."""
        with self._lock:
            intervals = list(self.intervals)
        cols = (*self.classes, UNKNOWN)
        buckets: dict[int, dict[str, dict[str, float]]] = defaultdict(dict)
        for m in intervals:
            b = int(m["start"] // self.bucket_s)
            acc = buckets[b].setdefault(m["camera"], {"frames": 0, "faces": 0, "max_faces": 0, **dict.fromkeys(cols, 0)})
            acc["frames"] += m["frames"]
            acc["faces"] += m["faces"]
            acc["max_faces"] = max(acc["max_faces"], m["max_faces"])
            for c in cols:
                acc[c] += m["counts"].get(c, 0)
        rows = []
        for b in sorted(buckets):
            epoch = b * self.bucket_s
            epoch = int(epoch) if float(epoch).is_integer() else round(epoch, 3)
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
            total = {"frames": 0, "faces_per_frame": 0.0, "max_faces": 0, **dict.fromkeys(cols, 0)}
            for cam in sorted(buckets[b]):
                a = buckets[b][cam]
                fpf = a["faces"] / a["frames"] if a["frames"] else 0.0
                rows.append({"time": when, "epoch": epoch, "camera": cam, "cameras": 1, "frames": a["frames"],
                             "faces_per_frame": round(fpf, 3), "max_faces": a["max_faces"],
                             **{c: a[c] for c in cols}})
                total["frames"] += a["frames"]
                total["faces_per_frame"] += fpf
                total["max_faces"] += a["max_faces"]
                for c in cols:
                    total[c] += a[c]
            rows.append({"time": when, "epoch": epoch, "camera": TOTAL, "cameras": len(buckets[b]),
                         **total, "faces_per_frame": round(total["faces_per_frame"], 3)})
        return rows

    def columns(self) -> list[str]:
        return ["time", "epoch", "camera", "cameras", "frames", "faces_per_frame", "max_faces", *self.classes, UNKNOWN]

    def report(self) -> dict[str, Any]:
        with self._lock:
            cams = {}
            for (camera, run), st in sorted(self.runs.items()):
                end = st.end or {}
                cams.setdefault(camera, {})[run] = {
                    "received": len(st.seen), "duplicates": st.duplicates, "intervals": st.intervals,
                    "face_events": st.face_events, "ended": st.end is not None, "last_seq": end.get("seq"),
                    "missing": st.missing(), "dropped": end.get("dropped"),
                    "intervals_sent": end.get("intervals"), "complete": st.complete(), "model": st.model}
            return {"cameras": cams, "messages": self.received, "replayed": self.replayed, "invalid": self.invalid,
                    "privacy": self.privacy,
                    "face_events_ignored": self.faces_ignored, "bucket_s": self.bucket_s}

    def write(self, plot: bool = True) -> dict[str, Path]:
        """crowd.csv, fleet.json (and crowd.png) now, atomically."""
        with self._lock:
            self.changed = False
        rows = self.rows()
        files = {"crowd_csv": self.out / "crowd.csv", "fleet_json": self.out / "fleet.json"}
        with atomic_path(files["crowd_csv"]) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=self.columns())
            w.writeheader()
            w.writerows(rows)
        write_json(files["fleet_json"], self.report())
        if plot and rows:
            png = plot_fleet(rows, self.classes, self.out / "crowd.png")
            if png is not None:
                files["crowd_png"] = png
        files["messages_jsonl"] = self.out / MESSAGES
        if self._events is not None:
            files["events_jsonl"] = self.out / "events.jsonl"
        return files

    def close(self) -> None:
        self._messages.close()
        if self._events is not None:
            self._events.close()
            self._events = None


def _check_fields(msg: dict[str, Any]) -> None:
    """The fields the aggregator computes with have their types (ValueError otherwise): a foreign or broken
    publisher must not stop the aggregator at its next write."""
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if msg["kind"] == "interval":
        ok = (number(msg["start"]) and all(isinstance(msg[k], int) for k in ("frames", "faces", "max_faces"))
              and isinstance(msg["counts"], dict) and all(isinstance(v, int) for v in msg["counts"].values()))
    elif msg["kind"] == "status" and msg.get("state") == "end":
        ok = isinstance(msg.get("dropped", 0), int) and isinstance(msg.get("intervals", 0), int)
    else:
        ok = True
    if not ok or not isinstance(msg["seq"], int) or msg["seq"] < 0:
        raise ValueError("field types")


def plot_fleet(rows: list[dict[str, Any]], classes: tuple[str, ...], path: Path) -> Path | None:
    """Top: faces per frame per camera and in total; bottom: the total's expression shares (stacked)."""
    try:
        from edgefer.plots import _pyplot, _save

        plt = _pyplot()
    except ImportError:
        log.warning("crowd.png skipped: matplotlib is not installed (crowd.csv has the same numbers)")
        return None
    t0 = min(r["epoch"] for r in rows)
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(7.5, 5.2), sharex=True, gridspec_kw={"height_ratios": [1, 1.6]})
    for cam in sorted({r["camera"] for r in rows}, key=lambda c: (c == TOTAL, c)):
        sel = [r for r in rows if r["camera"] == cam]
        ax0.plot([r["epoch"] - t0 for r in sel], [r["faces_per_frame"] for r in sel], marker="o", ms=2,
                 lw=2.0 if cam == TOTAL else 1.0, color="black" if cam == TOTAL else None, label=cam)
    ax0.set_ylim(bottom=0)
    ax0.set_ylabel("faces / frame")
    ax0.legend(fontsize=7, loc="upper right")
    ax0.grid(True, alpha=0.3)
    tot = [r for r in rows if r["camera"] == TOTAL]
    t = [r["epoch"] - t0 for r in tot]
    known = [max(sum(r[c] for c in classes), 1) for r in tot]
    shares = [[r[c] / k for r, k in zip(tot, known)] for c in classes]
    if len(t) > 1:
        ax1.stackplot(t, shares, labels=classes, alpha=0.85)
    else:
        bottom = 0.0
        for c, s in zip(classes, shares):
            ax1.bar(t, s, bottom=bottom, label=c, width=0.6)
            bottom += s[0]
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("share of classified faces (all cameras)")
    ax1.set_xlabel(f"seconds since {time.strftime('%H:%M:%S', time.gmtime(t0))} UTC")
    ax1.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.suptitle(f"edgefer fleet: {len({r['camera'] for r in rows}) - 1} camera(s)", fontsize=10)
    return _save(fig, path)
