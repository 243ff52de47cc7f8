"""A scripted fake camera for the source tests (the capture-factory injection point of FrameReader)."""

from __future__ import annotations

import threading
import time

import numpy as np


class FakeCamera:
    """Serves ``total`` frames; after ``fail_after`` of them the stream breaks and the next ``fail_opens``
    open attempts fail, then it comes back. Frame k is ``frames[k % len(frames)]`` with k written into
    pixel (0, 0) and (0, 1) (so order and gaps can be checked). ``never_opens``: every open fails."""

    def __init__(self, frames: list[np.ndarray] | None = None, total: int = 40, fail_after: int | None = 15,
                 fail_opens: int = 2, delay_s: float = 0.002, never_opens: bool = False) -> None:
        self.frames = frames or [np.full((48, 64, 3), 100, np.uint8)]
        self.total, self.fail_after, self.fail_opens = total, fail_after, fail_opens
        self.delay_s, self.never_opens = delay_s, never_opens
        self.served = 0
        self.opens = 0
        self.failed_opens = 0
        self.broken = False
        self.lock = threading.Lock()

    def factory(self, spec) -> FakeCapture:
        with self.lock:
            self.opens += 1
            if self.never_opens:
                return FakeCapture(self, opened=False)
            if self.broken and self.failed_opens < self.fail_opens:
                self.failed_opens += 1
                return FakeCapture(self, opened=False)
            if self.served >= self.total:  # the camera is gone for good
                return FakeCapture(self, opened=False)
            self.broken = False
            return FakeCapture(self, opened=True)


class FakeCapture:
    def __init__(self, cam: FakeCamera, opened: bool) -> None:
        self.cam, self.opened = cam, opened

    def isOpened(self) -> bool:
        return self.opened

    def read(self):
        cam = self.cam
        time.sleep(cam.delay_s)
        with cam.lock:
            if not self.opened or cam.broken or cam.served >= cam.total:
                return False, None
            if cam.fail_after is not None and cam.served == cam.fail_after and cam.failed_opens == 0:
                cam.broken = True
                return False, None
            k = cam.served
            cam.served += 1
        frame = cam.frames[k % len(cam.frames)].copy()
        frame[0, 0], frame[0, 1] = k % 256, k // 256
        return True, frame

    def get(self, prop: int) -> float:
        return 0.0

    def release(self) -> None:
        self.opened = False


def frame_number(image: np.ndarray) -> int:
    return int(image[0, 0, 0]) + 256 * int(image[0, 1, 0])
