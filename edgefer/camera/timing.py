"""Per-stage wall-clock timings of the loop: read, detect, preprocess, infer, post."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

STAGES = ("read", "detect", "preprocess", "infer", "post")


class StageTimer:
    """Per-frame durations of each stage (seconds). A stage may be timed several times in one frame
    (post = tracking + outputs); the parts add up until ``commit()`` closes the frame, so every
    statistic of ``summary()`` is per frame."""

    def __init__(self, stages: tuple[str, ...] = STAGES) -> None:
        self.samples: dict[str, list[float]] = {s: [] for s in stages}
        self._frame: dict[str, float] = dict.fromkeys(stages, 0.0)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._frame[name] += time.perf_counter() - t0

    def add(self, name: str, seconds: float) -> None:
        self._frame[name] += seconds

    def commit(self) -> None:
        """Close the current frame: one sample per stage."""
        for name, seconds in self._frame.items():
            self.samples[name].append(seconds)
            self._frame[name] = 0.0

    def summary(self) -> dict[str, dict[str, float]]:
        """stage -> {total_s, mean_ms, p50_ms, p90_ms, share}; share = the stage's part of all stage time."""
        totals = {s: float(np.sum(v)) for s, v in self.samples.items()}
        grand = sum(totals.values()) or 1.0
        out = {}
        for s, v in self.samples.items():
            a = np.asarray(v, dtype=np.float64) * 1e3
            out[s] = {"total_s": round(totals[s], 4),
                      "mean_ms": round(float(a.mean()), 3) if len(a) else 0.0,
                      "p50_ms": round(float(np.median(a)), 3) if len(a) else 0.0,
                      "p90_ms": round(float(np.percentile(a, 90)), 3) if len(a) else 0.0,
                      "share": round(totals[s] / grand, 4)}
        return out
