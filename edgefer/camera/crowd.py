"""The crowd time series: per second of source time, how many faces and which expressions.

crowd.csv columns:
    second      int(t): seconds of video time (files) or since the first frame (live sources)
    frames      frames processed in that second
    faces       mean faces per frame (the crowd's size)
    max_faces   most faces in one frame
    unknown     share of faces not classified (too small / blurred / flat)
    <class>...  share of each expression among the classified faces (sums to 1 when any was classified)

A row is appended (and flushed) as soon as its second is over, so the file grows live and survives a
crash; ``close`` writes the last row. ``plot`` draws crowd.png (matplotlib, written atomically);
without matplotlib (the Jetson image may lack it) the plot is skipped with a warning.
"""

from __future__ import annotations

import collections
import csv
import logging
from pathlib import Path

from edgefer.errors import EdgeferError

log = logging.getLogger(__name__)


class CrowdSeries:
    def __init__(self, path: Path, classes: tuple[str, ...]) -> None:
        self.path, self.classes = path, classes
        self.columns = ["second", "frames", "faces", "max_faces", "unknown", *classes]
        self.rows: list[dict[str, float]] = []
        self._second: int | None = None
        self._frames = 0
        self._faces: list[int] = []
        self._labels: collections.Counter[str] = collections.Counter()
        try:
            self._fh = open(path, "w", newline="", encoding="utf-8")
        except OSError as e:
            raise EdgeferError(f"{path}: cannot write ({e.strerror or e})") from None
        self._writer = csv.writer(self._fh)
        self._writer.writerow(self.columns)
        self._fh.flush()

    def add(self, t: float, labels: list[str]) -> None:
        """One processed frame at source time ``t`` with the labels of its faces."""
        second = int(t)
        if self._second is not None and second != self._second:
            self._emit()
        self._second = second
        self._frames += 1
        self._faces.append(len(labels))
        self._labels.update(labels)

    def _emit(self) -> None:
        if self._second is None or not self._frames:
            return
        n_all = sum(self._faces)
        known = sum(self._labels[c] for c in self.classes)
        row: dict[str, float] = {
            "second": self._second,
            "frames": self._frames,
            "faces": round(n_all / self._frames, 3),
            "max_faces": max(self._faces),
            "unknown": round((n_all - known) / n_all, 4) if n_all else 0.0,
        }
        for c in self.classes:
            row[c] = round(self._labels[c] / known, 4) if known else 0.0
        self.rows.append(row)
        self._writer.writerow([row[c] for c in self.columns])
        self._fh.flush()
        self._second, self._frames, self._faces, self._labels = None, 0, [], collections.Counter()

    def close(self) -> None:
        if not self._fh.closed:
            self._emit()
            self._fh.close()

    def plot(self, path: Path) -> Path | None:
        """crowd.png: faces per frame over time, and the expression shares stacked; None if skipped."""
        if not self.rows:
            return None
        try:
            from edgefer.plots import _pyplot, _save

            plt = _pyplot()
        except ImportError:
            log.warning("crowd.png skipped: matplotlib is not installed (crowd.csv has the same numbers)")
            return None
        t = [r["second"] for r in self.rows]
        fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(7.5, 5.2), sharex=True, gridspec_kw={"height_ratios": [1, 1.6]})
        ax0.plot(t, [r["faces"] for r in self.rows], marker="o", ms=3, label="mean faces / frame")
        ax0.plot(t, [r["max_faces"] for r in self.rows], lw=0.8, ls="--", label="max")
        ax0.set_ylim(bottom=0)
        ax0.set_ylabel("faces")
        ax0.legend(fontsize=7, loc="upper right")
        ax0.grid(True, alpha=0.3)
        shares = [[r[c] for r in self.rows] for c in self.classes]
        if len(t) > 1:
            ax1.stackplot(t, shares, labels=self.classes, alpha=0.85)
        else:  # one second: a stacked bar instead of an invisible area
            bottom = 0.0
            for c, s in zip(self.classes, shares):
                ax1.bar(t, s, bottom=bottom, label=c, width=0.6)
                bottom += s[0]
        ax1.set_ylim(0, 1)
        ax1.set_ylabel("share of classified faces")
        ax1.set_xlabel("second")
        ax1.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.22))
        fig.suptitle("edgefer: crowd over time", fontsize=10)
        return _save(fig, path)
