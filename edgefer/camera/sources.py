"""Video sources: parse SRC, open it with OpenCV, read frames on their own thread.

SRC forms (``parse_source``):
    0, 1, ...            camera index (live)
    /dev/videoN          V4L2 device (live)
    rtsp://, http(s)://  network stream (live)
    csi://N              Jetson CSI camera N through nvarguscamerasrc (live); optional query
                         ``csi://0?width=1280&height=720&fps=60``
    "... ! appsink"      a raw GStreamer pipeline (live)
    anything else        a video file (must exist)

``FrameReader`` reads on a thread:
- live sources keep only the NEWEST frame: a frame the loop had not taken when the next one arrived is
  dropped and counted (drop, don't lag);
- files queue a few frames and block instead (a file cannot lag; every frame is processed, so results
  are reproducible). ``drop=True`` treats a file like a camera;
- a live source that fails is reopened with exponential back-off (0.5 s, 1 s, 2 s ... capped), and the
  gap is logged and recorded in ``stats.gaps``;
- a live source that stalls (the connection stays open, but no frame comes for ``stall_s``) is found by a
  watchdog thread: the gap is recorded from the last frame, and a new reader thread reopens the source.
  The stalled read cannot be interrupted (it is inside OpenCV), so its thread is abandoned: it releases
  its capture and ends when that read returns;
- a gap still open when the run stops is recorded too (``"open": true``, seconds until the stop);
- a file ends at its last frame, or at the last frame it could decode when it is truncated.

``capture_factory(spec) -> capture`` is the injection point: anything with ``isOpened()``,
``read() -> (ok, frame)``, ``get(prop)`` and ``release()`` works (tests pass fakes).
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

import numpy as np

from edgefer.errors import EdgeferError

log = logging.getLogger(__name__)

CSI_PIPELINE = (
    "nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM),width={width},height={height},"
    "framerate={fps}/1 ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! "
    "appsink drop=true max-buffers=1 sync=false"
)
URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp")
NO_GSTREAMER = "this OpenCV has no GStreamer (pip opencv-python wheels lack it; on the Jetson use apt python3-opencv)"


class Capture(Protocol):
    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, Any]: ...
    def get(self, prop: int) -> float: ...
    def release(self) -> None: ...


@dataclass(frozen=True)
class SourceSpec:
    """A parsed SRC. ``target`` is what cv2.VideoCapture takes; ``api`` its backend (None = any)."""

    text: str
    kind: str  # camera | device | url | csi | gstreamer | file
    target: int | str
    live: bool
    api: int | None = None

    def describe(self) -> str:
        return {"camera": f"camera {self.target}", "csi": f"CSI camera ({self.text})"}.get(self.kind, self.text)


def csi_pipeline(sensor: int = 0, width: int = 1920, height: int = 1080, fps: int = 30) -> str:
    """The nvarguscamerasrc -> BGR appsink pipeline of a Jetson CSI camera (appsink keeps one buffer)."""
    return CSI_PIPELINE.format(sensor=sensor, width=width, height=height, fps=fps)


def _cv2_api(name: str) -> int | None:
    import cv2

    return getattr(cv2, name, None)


def parse_source(src: str | int) -> SourceSpec:
    """SRC text -> SourceSpec; a file that does not exist is a one-line EdgeferError."""
    text = str(src).strip()
    if not text:
        raise EdgeferError("--source is empty: give a camera index, /dev/videoN, a video file, a URL, csi://N or a GStreamer pipeline")
    if text.isdigit():
        return SourceSpec(text, "camera", int(text), live=True)
    if re.fullmatch(r"/dev/video\d+", text):
        if not Path(text).exists():
            raise EdgeferError(f"{text}: no such camera device (in Docker pass --device {text})")
        return SourceSpec(text, "device", text, live=True, api=_cv2_api("CAP_V4L2"))
    if text.startswith("csi://"):
        url = urlparse(text)
        sensor = url.netloc or "0"
        if not sensor.isdigit():
            raise EdgeferError(f"{text}: expected csi://N with N the sensor id, e.g. csi://0")
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            dims = {k: int(q.pop(k, d)) for k, d in (("width", 1920), ("height", 1080), ("fps", 30))}
        except ValueError:
            raise EdgeferError(f"{text}: width, height and fps must be integers") from None
        if q:
            raise EdgeferError(f"{text}: unknown option(s) {', '.join(sorted(q))}; csi:// takes width, height, fps")
        return SourceSpec(text, "csi", csi_pipeline(int(sensor), **dims), live=True, api=_cv2_api("CAP_GSTREAMER"))
    if "!" in text:
        return SourceSpec(text, "gstreamer", text, live=True, api=_cv2_api("CAP_GSTREAMER"))
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in URL_SCHEMES:
        return SourceSpec(text, "url", text, live=True)
    if scheme:
        raise EdgeferError(f"{text}: unknown source scheme {scheme}://; expected rtsp://, http(s):// or csi://")
    path = Path(text).expanduser()
    if not path.is_file():
        raise EdgeferError(f"{text}: no such video file" + (" (it is a folder)" if path.is_dir() else ""))
    return SourceSpec(text, "file", str(path), live=False)


def has_gstreamer() -> bool:
    import cv2

    m = re.search(r"GStreamer:\s*(\S+)", cv2.getBuildInformation())
    return bool(m and m.group(1).upper() != "NO")


def open_capture(spec: SourceSpec) -> Capture:
    """The default capture factory: ``cv2.VideoCapture(target[, api])``."""
    import cv2

    return cv2.VideoCapture(spec.target) if spec.api is None else cv2.VideoCapture(spec.target, spec.api)


def open_failure(spec: SourceSpec) -> str:
    """Why a source may not open, as the tail of a one-line error."""
    if spec.kind in ("csi", "gstreamer") and not has_gstreamer():
        return NO_GSTREAMER
    if spec.kind == "file":
        return "OpenCV cannot decode it (not a video, an unsupported codec, or truncated before its header)"
    if spec.kind == "csi":
        return "is nvargus-daemon running, and in Docker is /tmp/argus_socket mounted?"
    if spec.kind in ("camera", "device"):
        return "is it plugged in, free, and in Docker passed with --device?"
    return "is it reachable?"


@dataclass
class Frame:
    """One decoded frame: ``image`` (H, W, 3) uint8 BGR (or what the source gives); ``t`` seconds:
    video time for files (index / fps), time since the first frame for live sources."""

    index: int
    t: float
    image: np.ndarray


@dataclass
class SourceStats:
    frames_read: int = 0
    dropped: int = 0  # read but replaced by a newer frame before the loop took them
    gaps: list[dict[str, float]] = field(default_factory=list)  # live dropouts: start t, seconds, attempts
    end: str = "running"  # end of file | truncated? | stopped | gave up reopening | error: ...
    fps: float = 0.0  # the source's nominal frame rate (0 when unknown)
    size: tuple[int, int] = (0, 0)  # (w, h) of the first frame


@dataclass
class SourceOptions:
    """Reader behaviour. ``drop`` None = drop for live sources, queue for files."""

    drop: bool | None = None
    queue_size: int = 4
    open_timeout_s: float = 10.0  # live sources: keep trying to open for this long at start
    backoff_s: tuple[float, float] = (0.5, 8.0)  # first and largest wait between reopen attempts
    reopen_timeout_s: float | None = None  # give up after a gap this long (None: keep trying)
    stall_s: float | None = 10.0  # live sources: no frame for this long is a stall (None: no watchdog)
    close_timeout_s: float = 1.0  # close() waits this long for the reader; a read stuck in OpenCV is abandoned


class FrameReader:
    """Reads ``spec`` on a thread. ``start()`` opens it (raising a one-line error if it never opens);
    iterate for frames; ``close()`` stops the thread and releases the capture. A context manager."""

    def __init__(self, spec: SourceSpec, capture_factory: Callable[[SourceSpec], Capture] = open_capture,
                 options: SourceOptions | None = None) -> None:
        self.spec = spec
        self.factory = capture_factory
        self.opts = options or SourceOptions()
        self.drop = spec.live if self.opts.drop is None else self.opts.drop
        self.stats = SourceStats()
        self._cap: Capture | None = None
        self._frames: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._done = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._gen = 0  # the current reader thread's generation; an older one is abandoned (a stall)
        self._reopening = False
        self._pushing = False
        self._last_frame = 0.0  # time.monotonic() of the last frame read (or of the start)
        self._t0: float | None = None

    # opening ---------------------------------------------------------------------------------

    def _try_open(self) -> Capture | None:
        try:
            cap = self.factory(self.spec)
        except Exception as e:  # cv2.error from a bad pipeline string, a fake that raises, ...
            log.debug("opening %s failed: %s", self.spec.describe(), e)
            return None
        if cap is not None and cap.isOpened():
            return cap
        if cap is not None:
            cap.release()
        return None

    def start(self, should_stop: Callable[[], bool] | None = None) -> FrameReader:
        """Open the source (unless ``open()`` did) and start the reading thread."""
        if self._cap is None:
            self.open(should_stop)
        if self._thread is None:
            self._last_frame = time.monotonic()
            self._spawn(0)
            if self.spec.live and self.opts.stall_s:
                self._watchdog = threading.Thread(target=self._watch, name="edgefer-watchdog", daemon=True)
                self._watchdog.start()
        return self

    def _spawn(self, index: int, lost: str | None = None, since: float | None = None) -> None:
        self._thread = threading.Thread(target=self._run, args=(self._gen, index, lost, since), name="edgefer-reader",
                                        daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        """The stall watchdog: no frame for ``stall_s`` while not reopening -> a new reader reopens the source."""
        assert self.opts.stall_s
        while not self._stop.wait(0.1):
            with self._cond:
                if self._done:
                    return
                quiet = time.monotonic() - self._last_frame
                if self._reopening or self._pushing or quiet < self.opts.stall_s:
                    continue
                self._gen += 1  # the blocked reader sees this when its read returns, and leaves
                self._cap = None  # it still owns (and will release) the stalled capture
                self._reopening = True
                index, since = self.stats.frames_read, self._last_frame
            log.warning("%s stalled: no frame for %.1f s; reopening", self.spec.describe(), quiet)
            self._spawn(index, f"stalled, no frame for {quiet:.1f} s", since)

    def open(self, should_stop: Callable[[], bool] | None = None) -> FrameReader:
        """Open the source (live ones: retried with back-off for ``open_timeout_s``), without a thread, so
        that a caller can create its outputs in between (issue #11: no thread before the writers exist).
        ``should_stop()`` true while still opening (e.g. Ctrl-C) raises KeyboardInterrupt."""
        deadline = time.monotonic() + (self.opts.open_timeout_s if self.spec.live else 0.0)
        delay, tries = self.opts.backoff_s[0], 0
        while True:
            tries += 1
            self._cap = self._try_open()
            if self._cap is not None or time.monotonic() + delay > deadline or self._stop.is_set():
                break
            end = time.monotonic() + delay
            while time.monotonic() < end:  # short waits: a stop request is served within 0.1 s
                if should_stop is not None and should_stop():
                    raise KeyboardInterrupt
                self._stop.wait(min(0.1, max(end - time.monotonic(), 0.0)))
            delay = min(2 * delay, self.opts.backoff_s[1])
        if self._cap is None:
            after = f" after {tries} tries in {self.opts.open_timeout_s:g} s" if self.spec.live else ""
            raise EdgeferError(f"{self.spec.describe()}: cannot open the source{after}; {open_failure(self.spec)}")
        fps = _prop(self._cap, "CAP_PROP_FPS")
        self.stats.fps = fps if 0 < fps < 1000 else 0.0
        return self

    # the reading thread ----------------------------------------------------------------------

    def _timestamp(self, index: int) -> float:
        if not self.spec.live and self.stats.fps > 0:
            return index / self.stats.fps
        now = time.monotonic()
        self._t0 = now if self._t0 is None else self._t0
        return now - self._t0

    def _push(self, frame: Frame) -> None:
        with self._cond:
            if self.drop:
                if self._frames:
                    self._frames.clear()
                    self.stats.dropped += 1
            else:
                while len(self._frames) >= self.opts.queue_size and not self._stop.is_set():
                    self._cond.wait(0.1)
            self._frames.append(frame)
            self._cond.notify_all()

    def _read_one(self, cap: Capture) -> tuple[bool, Any, str]:
        try:
            ok, image = cap.read()
        except Exception as e:  # cv2.error mid-stream
            return False, None, " ".join(str(e).split())[:160]
        if ok and image is not None and getattr(image, "size", 0):
            return True, image, ""
        return False, None, "read failed"

    def _reopen(self, index: int, why: str, since: float | None = None) -> bool:
        """Reopen a live source with back-off; True once it is back, False if stopped or given up.
        ``since``: time.monotonic() the gap began (a stall: the last frame), default now."""
        self._reopening = True
        start = time.monotonic() if since is None else since
        gap_t = max(self._timestamp(index) - (time.monotonic() - start), 0.0)
        log.warning("%s lost after frame %d (%s): reopening with back-off", self.spec.describe(), index - 1, why)
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        delay, attempts = self.opts.backoff_s[0], 0
        try:
            return self._reopen_loop(start, gap_t, delay, attempts)
        finally:
            self._reopening = False
            self._last_frame = time.monotonic()

    def _reopen_loop(self, start: float, gap_t: float, delay: float, attempts: int) -> bool:
        while not self._stop.wait(delay):
            attempts += 1
            self._cap = self._try_open()
            gap = time.monotonic() - start
            if self._cap is not None:
                self.stats.gaps.append({"t": round(gap_t, 3), "seconds": round(gap, 3), "attempts": attempts})
                log.warning("%s back after a %.1f s gap (%d reopen attempts)", self.spec.describe(), gap, attempts)
                return True
            if self.opts.reopen_timeout_s is not None and gap >= self.opts.reopen_timeout_s:
                self.stats.gaps.append({"t": round(gap_t, 3), "seconds": round(gap, 3), "attempts": attempts})
                log.error("%s: gave up reopening after %.1f s (%d attempts)", self.spec.describe(), gap, attempts)
                self.stats.end = "gave up reopening"
                return False
            delay = min(2 * delay, self.opts.backoff_s[1])
        # stopped while the source was away: the gap is still open, record it up to now
        self.stats.gaps.append({"t": round(gap_t, 3), "seconds": round(time.monotonic() - start, 3), "attempts": attempts,
                                "open": True})
        log.warning("%s: stopped during a %.1f s gap", self.spec.describe(), time.monotonic() - start)
        return False

    def _run(self, gen: int = 0, index: int = 0, lost: str | None = None, since: float | None = None) -> None:
        """One reader thread. ``gen``: its generation (the watchdog abandons a stalled one by moving on);
        ``lost``: start by reopening (after a stall at frame ``index``, since ``since``)."""
        try:
            if lost is not None and not self._reopen(index, lost, since):
                return
            while not self._stop.is_set():
                cap = self._cap
                ok, image, why = self._read_one(cap)  # type: ignore[arg-type]
                if gen != self._gen:  # the watchdog gave up on this read while it was blocked
                    cap.release()  # type: ignore[union-attr]
                    return
                if ok:
                    if index == 0:
                        self.stats.size = (int(image.shape[1]), int(image.shape[0]))
                    self._last_frame = time.monotonic()
                    self._pushing = True  # a queue that waits for the consumer is not a stall
                    self._push(Frame(index, self._timestamp(index), image))
                    self._pushing = False
                    self._last_frame = time.monotonic()
                    index += 1
                    self.stats.frames_read = index
                    continue
                if not self.spec.live:
                    total = _prop(self._cap, "CAP_PROP_FRAME_COUNT")
                    if 0 < index < total - 1:  # some containers over-report by one
                        log.warning("%s ended at frame %d of %d: truncated or damaged; kept the %d decodable frames",
                                    self.spec.text, index, int(total), index)
                        self.stats.end = "truncated?"
                    else:
                        self.stats.end = "end of file"
                    break
                if not self._reopen(index, why):
                    break
        except BaseException as e:  # surfaced in the consumer's thread
            if gen == self._gen:
                self._error = e
        finally:
            if gen == self._gen:  # an abandoned reader says nothing about the source
                if self.stats.end == "running":
                    self.stats.end = "stopped" if self._stop.is_set() else "error"
                with self._cond:
                    self._done = True
                    self._cond.notify_all()

    # the consumer side -----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self, should_stop: Callable[[], bool] | None = None) -> Iterator[Frame]:
        """Frames in order until the source ends, ``close()`` is called or ``should_stop()`` is true
        (checked at least every 0.1 s, so a stop request is served even while a camera is away)."""
        if self._thread is None:
            self.start()
        while True:
            with self._cond:
                while not self._frames and not self._done and not self._stop.is_set():
                    if should_stop is not None and should_stop():
                        return
                    self._cond.wait(0.1)
                if self._frames:
                    frame = self._frames.popleft()
                    self._cond.notify_all()
                elif self._error is not None:
                    e = self._error
                    raise EdgeferError(f"{self.spec.describe()}: reading failed ({' '.join(str(e).split()) or type(e).__name__})")
                else:
                    return
            yield frame

    def close(self) -> None:
        """Stop and join the threads (within ``close_timeout_s``: Ctrl-C during a stall returns fast);
        a reader still blocked inside OpenCV's read is left to end on its own (it is a daemon)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + self.opts.close_timeout_s
        for t in (self._watchdog, self._thread):
            if t is not None:
                t.join(timeout=max(deadline - time.monotonic(), 0.0))
        if self._thread is not None and self._thread.is_alive():
            log.warning("%s: the reader is blocked in the source's read; leaving it to end on its own", self.spec.describe())
            if self.spec.live and not self._reopening:  # stopped inside a stall the watchdog had not yet called one
                quiet = time.monotonic() - self._last_frame
                self.stats.gaps.append({"t": round(max(self._timestamp(self.stats.frames_read) - quiet, 0.0), 3),
                                        "seconds": round(quiet, 3), "attempts": 0, "open": True})
        elif self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> FrameReader:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _prop(cap: Capture | None, name: str) -> float:
    import cv2

    try:
        return float(cap.get(getattr(cv2, name))) if cap is not None else 0.0
    except Exception:  # a fake capture without get(), or a backend that does not know the property
        return 0.0
