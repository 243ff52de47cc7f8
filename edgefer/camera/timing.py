"""Per-stage wall-clock timings of the loop: read, detect, preprocess, infer, post."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

STAGES = ("read", "detect", "preprocess", "infer", "post")


class StageTimer:
    """Collects one duration per stage per frame (seconds); ``summary()`` gives ms statistics."""

    def __init__(self, stages: tuple[str, ...] = STAGES) -> None:
        self.samples: dict[str, list[float]] = {s: [] for s in stages}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.samples[name].append(time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        self.samples[name].append(seconds)

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
