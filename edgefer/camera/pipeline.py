"""The camera loop of ``edgefer infer``.

Per frame:
    read        the newest frame from the reader thread (time spent waiting for it)
    detect      face boxes (N, 4) xywh
    preprocess  square crop with a margin (``edgefer.preprocess.square_box``), the quality gate, then
                ``edgefer.preprocess.preprocess_faces``: the SAME code as training -> (M, 1, 48, 48)
    infer       ONE batched ``runner.infer`` for every classifiable face of the frame -> (M, K)
    post        tracker ids, per-track EMA, faces.jsonl, crowd.csv, video / window

SIGINT/SIGTERM (and q/Esc in the window) stop the loop after the current frame; every output is then
finalised, as it is when the loop fails (summary.json then says ``"stopped": "error: ..."``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgefer import __version__
from edgefer.backends.base import Runner
from edgefer.camera.annotate import Display, VideoSink, draw
from edgefer.camera.defaults import CROP_MARGIN, DET_ENHANCE, DET_TILES, DET_WIDTH, EMA_ALPHA, MIN_FACE_PX
from edgefer.camera.outputs import UNKNOWN, FaceResult, RunOutputs, check_outputs
from edgefer.camera.signals import StopFlag, stop_on_signals
from edgefer.camera.sources import (
    Capture,
    FrameReader,
    SourceOptions,
    SourceSpec,
    open_capture,
    parse_source,
)
from edgefer.camera.timing import StageTimer
from edgefer.classes import CLASSES
from edgefer.errors import EdgeferError

log = logging.getLogger(__name__)


@dataclass
class InferOptions:
    min_face: float = MIN_FACE_PX  # px: smaller (or blurrier) faces are "unknown"
    margin: float = CROP_MARGIN  # crop margin, a fraction of the box side on each side
    max_frames: int | None = None  # stop after this many processed frames
    save_frames: bool = True  # False: privacy mode (aggregates only)
    save_video: bool = False
    display: bool = False
    ema: float = EMA_ALPHA
    min_confidence: float | None = None  # None: the model's own abstain threshold (if any); 0: no gate
    det_width: int | str | None = DET_WIDTH  # YuNet's input width: "auto", None (the frame's) or px
    det_enhance: str | None = DET_ENHANCE  # "auto": YuNet sees a contrast-equalised copy of dim frames; "clahe"; None
    det_tiles: str | None = DET_TILES  # "auto", None or "RxC[@S][/K]": a global pass + one tile a frame (camera.tiles)
    log_every_s: float = 5.0


class FaceStage:
    """detect -> crop -> gates -> preprocess -> one batched infer -> track -> decide, for one frame.

    The per-face work is ``edgefer.api.FaceAnalyzer``'s (the public API and the CLI run the same code)."""

    def __init__(self, detector: Any, runner: Runner, opts: InferOptions, timer: StageTimer,
                 classes: tuple[str, ...] = CLASSES) -> None:
        from edgefer.api import FaceAnalyzer

        self.runner, self.opts, self.timer, self.classes = runner, opts, timer, classes
        self.analyzer = FaceAnalyzer(runner, detector, min_face=opts.min_face, margin=opts.margin, ema=opts.ema,
                                     min_confidence=opts.min_confidence, timer=timer, classes=classes)
        self.detector, self.tracker = self.analyzer.detector, self.analyzer.tracker

    @property
    def infer_calls(self) -> int:
        return self.analyzer.infer_calls

    def process(self, image: np.ndarray) -> list[FaceResult]:
        """(H, W, 3) BGR frame -> one FaceResult per detected face."""
        return self.analyzer(image)


def run_loop(reader: FrameReader, stage: FaceStage, outputs: RunOutputs, opts: InferOptions, stop: StopFlag,
             video: VideoSink | None, display: Display | None, sinks: Sequence[Callable[..., Any]] = ()) -> tuple[int, float]:
    """Process frames until the source ends or ``stop`` is set; returns (frames processed, wall seconds).

    sinks: extra per-frame consumers, called as ``sink(frame_index, t, faces, outputs)`` (outputs: the running
    aggregate), e.g. ``edgefer.fleet.sink.FleetSink``.
    """
    timer = stage.timer
    frames = reader.frames(should_stop=stop.is_set)
    n, start = 0, time.perf_counter()
    last_log = start
    while not stop.is_set():
        t0 = time.perf_counter()
        frame = next(frames, None)
        if frame is None:
            break
        timer.add("read", time.perf_counter() - t0)
        faces = stage.process(frame.image)
        with timer.stage("post"):
            outputs.add(frame.index, frame.t, faces)
            for sink in sinks:
                sink(frame.index, frame.t, faces, outputs)
            if video is not None or display is not None:
                elapsed = max(time.perf_counter() - start, 1e-9)
                shown = draw(frame.image, faces, fps=(n + 1) / elapsed, faces_per_s=outputs.faces / elapsed,
                             classes=stage.classes)
                if video is not None:
                    video.write(shown)
                if display is not None and not display.show(shown):
                    stop.set("window closed (q/Esc)")
        timer.commit()
        n += 1
        now = time.perf_counter()
        if now - last_log >= opts.log_every_s:
            log.info("frame %d: %.1f frames/s, %d faces in this frame, %d dropped", frame.index, n / (now - start),
                     len(faces), reader.stats.dropped)
            last_log = now
        if opts.max_frames is not None and n >= opts.max_frames:
            stop.set("max-frames")
    return n, time.perf_counter() - start


def run_infer(model: str | Path | Runner, source: str | SourceSpec, out: str | Path, *, detector: Any = "yunet",
              detector_model: str | Path | None = None, det_score: float = 0.6, options: InferOptions | None = None,
              source_options: SourceOptions | None = None, capture_factory: Callable[[SourceSpec], Capture] = open_capture,
              threads: int | None = None, sinks: Sequence[Callable[..., Any]] = ()) -> dict[str, Any]:
    """Run the whole loop; returns the summary (also in ``out/summary.json``).

    sinks: per-frame consumers (see ``run_loop``); an optional ``start(runner)`` is called before the first
    frame and an optional ``close() -> dict`` after the last, whose dict is merged into the summary.

    model: a model file (.pt/.onnx/.engine) or an already activated Runner (left active for the caller).
    detector: "yunet" | "haar" or an object with ``detect(frame) -> (boxes (N,4), scores (N,))``.
    Order of the checks: source spec, detector, model, then the source is opened (so a bad flag fails fast).
    """
    from edgefer.camera.detectors import make_detector
    from edgefer.camera.model import open_runner

    opts = options or InferOptions()
    if opts.save_video and not opts.save_frames:
        raise EdgeferError("--save-video and --no-save-frames contradict each other: privacy mode saves no video")
    if not opts.min_face >= 1:  # `not >=` also refuses NaN
        raise EdgeferError(f"--min-face must be at least 1 px, got {opts.min_face:g}")
    check_outputs(Path(out), opts.save_frames and opts.save_video)  # before the model loads or anything is written
    spec = source if isinstance(source, SourceSpec) else parse_source(source)
    det = (make_detector(detector, detector_model, det_score, opts.det_width, opts.det_enhance, opts.det_tiles)
           if isinstance(detector, str) else detector)
    display = Display() if opts.display else None
    own_runner = not isinstance(model, Runner)
    runner = open_runner(model, threads) if own_runner else model
    try:
        return _run(runner, spec, Path(out), det, opts, source_options, capture_factory, display, sinks)
    finally:
        if own_runner:
            runner.deactivate()


def _run(runner: Runner, spec: SourceSpec, out: Path, det: Any, opts: InferOptions, source_options: SourceOptions | None,
         capture_factory: Callable[[SourceSpec], Capture], display: Display | None,
         sinks: Sequence[Callable[..., Any]] = ()) -> dict[str, Any]:
    stop = StopFlag()
    reader = FrameReader(spec, capture_factory, source_options)
    with stop_on_signals(stop):
        reader.open(should_stop=stop.is_set)  # a source that never opens fails here, before anything is written
        try:  # the output folder and every writer exist before any thread starts (issue #11)
            outputs = RunOutputs(out, save_frames=opts.save_frames)
            video = VideoSink(out / "annotated.mp4", reader.stats.fps) if opts.save_video else None
            stage = FaceStage(det, runner, opts, StageTimer())
            for sink in sinks:
                if hasattr(sink, "start"):
                    sink.start(runner)
        except BaseException:
            reader.close()  # releases the capture (no thread was started)
            raise
        n, seconds, error = 0, 0.0, None
        t_start = time.perf_counter()
        try:
            reader.start(should_stop=stop.is_set)
            n, seconds = run_loop(reader, stage, outputs, opts, stop, video, display, sinks)
        except BaseException as e:  # finalise the outputs, then let it propagate
            error = e
            seconds = time.perf_counter() - t_start
            n = outputs.frames
            raise
        finally:
            with stop.finalising():  # a further Ctrl-C now is counted, not raised: the summary is written
                reader.close()
                if display is not None:
                    display.close()
                video_path, video_error = None, None
                if video is not None:
                    try:
                        video_path = video.close()
                    except (OSError, EdgeferError) as e:  # a full disk: the summary still gets written
                        video_error = f"annotated.mp4: {e}"
                if error is not None:
                    stopped = "SIGINT" if isinstance(error, KeyboardInterrupt) else f"error: {' '.join(str(error).split())[:200]}"
                else:
                    stopped = stop.reason or reader.stats.end
                summary = _summary(runner, spec, det, opts, stage, reader, outputs, n, seconds, stopped)
                for sink in sinks:
                    summary.update(sink.close() if hasattr(sink, "close") else {})
                if video_path is not None:
                    summary["files"] = {"annotated_video": str(video_path)}
                if video_error is not None:
                    summary["output_errors"] = [video_error]
                summary = outputs.finalise(summary)
    if n == 0 and not spec.live and stopped in ("end of file", "truncated?"):
        raise EdgeferError(f"{spec.text}: no frame could be decoded (truncated or not a video)")
    return summary


def _summary(runner: Runner, spec: SourceSpec, det: Any, opts: InferOptions, stage: FaceStage, reader: FrameReader,
             outputs: RunOutputs, n: int, seconds: float, stopped: str) -> dict[str, Any]:
    st = reader.stats
    seconds = max(seconds, 1e-9)
    describe = getattr(det, "describe", None)
    return {
        "source": spec.text,
        "source_kind": spec.kind,
        "source_fps": round(st.fps, 3),
        "frame_size": list(st.size),
        "model": runner.path,
        "backend": runner.backend,
        "threads": getattr(runner, "threads", None),
        "detector": describe() if describe else {"name": type(det).__name__},
        "frames": n,
        "frames_read": st.frames_read,
        "dropped_frames": st.dropped,
        "source_gaps": st.gaps,
        "seconds": round(seconds, 3),
        "fps": round(n / seconds, 3),
        "faces_per_s": round(outputs.faces / seconds, 3),
        "tracks": stage.tracker.total,
        "infer_calls": stage.infer_calls,
        "stages": stage.timer.summary(),
        "stopped": stopped,
        "options": {k: v for k, v in asdict(opts).items() if k != "log_every_s"},
        "edgefer_version": __version__,
    }


__all__ = ["UNKNOWN", "FaceStage", "InferOptions", "run_infer", "run_loop"]
