"""Live sources that stall or die: reported as gaps, recovered where they come back, and a stop during
a stall is served at once."""

from __future__ import annotations

import threading
import time

import numpy as np

from edgefer.camera.sources import FrameReader, SourceOptions, SourceSpec
from tests.camera.fakes import FakeCamera, frame_number

LIVE = SourceSpec("fake", "camera", 0, live=True)


class StallingCamera:
    """The first capture serves ``stall_after`` frames, then its read blocks (the connection stays open,
    no data) until ``release`` is set. Every later capture serves frames normally."""

    def __init__(self, stall_after: int = 10) -> None:
        self.stall_after = stall_after
        self.release = threading.Event()
        self.opens = 0
        self.served = 0
        self.lock = threading.Lock()

    def factory(self, spec):
        with self.lock:
            self.opens += 1
            return StallingCapture(self, first=self.opens == 1)


class StallingCapture:
    def __init__(self, cam: StallingCamera, first: bool) -> None:
        self.cam, self.first, self.n, self.released = cam, first, 0, False

    def isOpened(self) -> bool:
        return True

    def read(self):
        if self.first and self.n >= self.cam.stall_after:
            self.cam.release.wait(30)  # stalled: blocks like a dead TCP stream
            return False, None
        time.sleep(0.005)
        with self.cam.lock:
            k = self.cam.served
            self.cam.served += 1
        self.n += 1
        image = np.full((32, 32, 3), 80, np.uint8)
        image[0, 0], image[0, 1] = k % 256, k // 256
        return True, image

    def get(self, prop: int) -> float:
        return 0.0

    def release(self) -> None:
        self.released = True


def take(reader: FrameReader, n: int, timeout_s: float = 20.0) -> list[int]:
    got, deadline = [], time.monotonic() + timeout_s
    for frame in reader.frames(should_stop=lambda: time.monotonic() > deadline):
        got.append(frame_number(frame.image))
        if len(got) >= n:
            break
    return got


def test_a_stall_is_a_gap_and_the_source_is_reopened():
    cam = StallingCamera(stall_after=10)
    opts = SourceOptions(drop=False, stall_s=0.5, backoff_s=(0.05, 0.2))
    reader = FrameReader(LIVE, cam.factory, opts).start()
    try:
        got = take(reader, 30)
    finally:
        reader.close()
        cam.release.set()
    assert len(got) == 30 and got == sorted(got)  # frames came again after the stall
    assert cam.opens >= 2
    (gap,) = reader.stats.gaps
    assert gap["seconds"] >= 0.5 and not gap.get("open")


def test_a_source_that_never_comes_back_leaves_an_open_gap():
    cam = FakeCamera(total=15, fail_after=None, delay_s=0.002)  # 15 frames, then gone for good
    reader = FrameReader(LIVE, cam.factory, SourceOptions(drop=False, backoff_s=(0.05, 0.2), stall_s=None)).start()
    stop_at = [None]

    def should_stop():
        if reader.stats.frames_read >= 15 and stop_at[0] is None:
            stop_at[0] = time.monotonic() + 0.6  # the outage lasts 0.6 s, then the user stops
        return stop_at[0] is not None and time.monotonic() > stop_at[0]

    frames = list(reader.frames(should_stop=should_stop))
    reader.close()
    assert len(frames) == 15
    (gap,) = reader.stats.gaps
    assert gap["open"] is True and gap["seconds"] >= 0.5 and gap["attempts"] >= 1
    assert reader.stats.end == "stopped"


def test_stop_during_a_stall_does_not_wait_for_the_stalled_read():
    cam = StallingCamera(stall_after=3)
    reader = FrameReader(LIVE, cam.factory, SourceOptions(drop=False, stall_s=None)).start()
    try:
        assert len(take(reader, 3)) == 3
        time.sleep(0.2)  # now blocked inside read
        t0 = time.monotonic()
        reader.close()
        took = time.monotonic() - t0
        # Not a speed test: the old close() waited 5 s for a read that never returns; the bound is
        # close_timeout_s (1 s) with slack for a loaded machine.
        assert took < 3.0
        assert reader._thread is not None and reader._thread.is_alive()  # abandoned, not joined
        (gap,) = reader.stats.gaps  # the stall still open at the stop is recorded
        assert gap["open"] is True and gap["seconds"] >= 0.2
    finally:
        cam.release.set()
    reader._thread.join(5)
    assert not reader._thread.is_alive()
