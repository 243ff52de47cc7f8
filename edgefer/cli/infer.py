"""``edgefer infer`` (the camera loop) and ``edgefer bench``. No torch is imported here: the Jetson path.

Registered by ``edgefer.cli.main`` as ``app.command("infer")(handle_errors(infer_command))`` and
``app.command("bench")(handle_errors(bench_command))``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgefer.camera.defaults import MIN_FACE_PX, YUNET_MODEL
from edgefer.cli.fleet import (
    CameraIdOpt,
    MqttCaOpt,
    MqttCertOpt,
    MqttKeyOpt,
    MqttPasswordFileOpt,
    PublishIntervalOpt,
    PublishOpt,
    SpoolMaxOpt,
    SpoolOpt,
)

InferModelOpt = Annotated[Path | None, typer.Option(
    "--model", help="Model file: .engine (TensorRT), .onnx (ONNX Runtime) or .pt (PyTorch). Default: the fastest graph "
                    "this machine runs: a TensorRT engine in export/, else the shipped INT8 graph on x86 CPUs with fast "
                    "int8, else the shipped FP32 graph (never torch); the run says which and why.")]
DetEnhanceOpt = Annotated[str, typer.Option("--det-enhance", help="auto (default): YuNet sees a contrast-equalised "
                                            "(CLAHE) copy of dim frames, which finds more dim and small faces; the model "
                                            "still sees the original pixels | clahe: every frame | none.")]
DetWidthOpt = Annotated[str, typer.Option("--det-width", help="YuNet's input width: auto (frames wider than "
                                          "1280 px are scaled down to 1280 for detection; crops keep full resolution), full "
                                          "(the frame's own width), or a width in px (larger than the frame up-scales: "
                                          "finds smaller faces, slower).")]
DetTilesOpt = Annotated[str, typer.Option("--det-tiles", help="auto (default): on frames wider than 1280 px, a global "
                                          "pass at 640 px wide on every frame plus, every 3rd frame, one tile of a 2x2 grid "
                                          "up-scaled 1.5x (2x2@1.5/3), the tracker carrying faces between a tile's turns; "
                                          "finds more small faces than full-resolution detection at twice its speed | none | "
                                          "RxC\\[@SCALE]\\[/EVERY], e.g. 3x3@1.5 (more of the smallest faces, slower).")]  # \\[: literal brackets in rich help
DetectorOpt = Annotated[str, typer.Option("--detector", help="yunet (default: finds faces down to ~12 px) | haar (OpenCV 4.x builds only).")]
DetectorModelOpt = Annotated[Path | None, typer.Option(
    "--detector-model", help=f"YuNet ONNX (default: the vendored {YUNET_MODEL.name}) or, for haar, a cascade XML.")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="CPU threads of ONNX Runtime / PyTorch (default: 2 for ONNX "
                                                                   "Runtime, its idle threads sleeping so they do not starve the detector; PyTorch's own).")]


def infer_command(
    source: Annotated[str, typer.Option("--source", help="Camera index, /dev/videoN, a video file, rtsp:// or http:// URL, "
                                                         "csi://N (Jetson CSI camera), a GStreamer pipeline ending in appsink, "
                                                         "or still images: a photo, a folder of photos or a quoted glob.")],
    model: InferModelOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder: faces.jsonl, summary.json, crowd.csv, crowd.png[, annotated.mp4].")] = Path("runs/infer"),
    detector: DetectorOpt = "yunet",
    detector_model: DetectorModelOpt = None,
    min_face: Annotated[float, typer.Option("--min-face", help="Faces with less than this many px of detail (small or blurred) are 'unknown'.")] = MIN_FACE_PX,
    det_score: Annotated[float, typer.Option("--det-score", help="Detector score threshold (YuNet).")] = 0.6,
    det_width: DetWidthOpt = "auto",
    det_enhance: DetEnhanceOpt = "auto",
    det_tiles: DetTilesOpt = "auto",
    min_confidence: Annotated[float | None, typer.Option("--min-confidence", help="Faces whose top probability is below "
                                                         "this are 'unknown' (low confidence). Default: the model's own "
                                                         "threshold from its metadata, if it has one; 0 turns the gate off.")] = None,
    display: Annotated[bool, typer.Option("--display", help="Show the annotated frames in a window (q or Esc stops).")] = False,
    save_video: Annotated[bool | None, typer.Option("--save-video/--no-save-video", help="Write annotated.mp4 (default: on "
                                                    "for video files, off for live sources and in privacy mode). Images "
                                                    "always get annotated PNGs, except in privacy mode.")] = None,
    no_save_frames: Annotated[bool, typer.Option("--no-save-frames", help="Privacy mode: keep aggregates only (summary.json, crowd.csv, crowd.png); "
                                                                          "no faces.jsonl, no video, no face pixels.")] = False,
    max_frames: Annotated[int | None, typer.Option("--max-frames", help="Stop after this many processed frames.")] = None,
    threads: ThreadsOpt = None,
    publish: PublishOpt = None,
    camera_id: CameraIdOpt = None,
    mqtt_ca: MqttCaOpt = None,
    mqtt_cert: MqttCertOpt = None,
    mqtt_key: MqttKeyOpt = None,
    mqtt_password_file: MqttPasswordFileOpt = None,
    publish_interval: PublishIntervalOpt = 1.0,
    spool: SpoolOpt = None,
    spool_max: SpoolMaxOpt = 50_000,
) -> None:
    """Recognise the expression of every face in a video or camera feed; write per-face records and crowd statistics."""
    from edgefer.camera.defaults import choose_model
    from edgefer.camera.detectors import parse_det_enhance, parse_det_width
    from edgefer.camera.images import image_paths
    from edgefer.camera.pipeline import InferOptions, run_infer
    from edgefer.camera.sources import parse_source
    from edgefer.cli.common import det_tiles as det_tiles_opt
    from edgefer.cli.common import finite_float, positive_int, threads_opt

    # the option layer (issue #11): NaN, 0, negative and huge values fail here, before any work or write
    finite_float("--min-face", min_face, 1.0, unit=" px")
    finite_float("--det-score", det_score, 0.0, 1.0)
    finite_float("--min-confidence", min_confidence, 0.0, 1.0, allow_none=True)
    positive_int("--max-frames", max_frames, allow_none=True)
    threads_opt("--threads", threads)
    from edgefer.camera.outputs import check_outputs

    check_outputs(out)  # images and videos alike: a bad --out fails before the model is chosen
    width = parse_det_width(det_width)
    det_enhance = parse_det_enhance(det_enhance)  # both before the model is chosen and loaded
    tiles = det_tiles_opt("--det-tiles", det_tiles)  # still images ignore it (no tracker to carry faces)
    images = image_paths(source)
    if model is None:
        choice = choose_model()
        model = choice.path
        typer.echo(f"model: {model.name} ({choice.why})", err=True)
    if images is not None and publish is not None:
        from edgefer.errors import EdgeferError

        raise EdgeferError("--publish: still images are not a camera feed; publish from a video, camera or stream source")
    if images is not None:
        _infer_images(images, source, model, out, detector, detector_model, det_score, width, det_enhance, min_face,
                      min_confidence, no_save_frames, threads)
        return
    if save_video is None:  # on for video files, where the user otherwise sees nothing annotated
        save_video = not no_save_frames and not parse_source(source).live
    opts = InferOptions(min_face=min_face, max_frames=max_frames, save_frames=not no_save_frames,
                        save_video=save_video, display=display, min_confidence=min_confidence, det_width=width,
                        det_enhance=det_enhance, det_tiles=tiles)
    from edgefer.cli.fleet import make_fleet_sink

    # --publish: connects first, so a bad password or CA fails before the model loads (docs/fleet.md)
    fleet = make_fleet_sink(publish, out=out, privacy=no_save_frames, camera_id=camera_id, ca=mqtt_ca, cert=mqtt_cert,
                            key=mqtt_key, password_file=mqtt_password_file, interval_s=publish_interval, spool=spool,
                            spool_max=spool_max)
    try:
        s = run_infer(model, source, out, detector=detector, detector_model=detector_model,
                      det_score=det_score, options=opts, threads=threads, sinks=[fleet] if fleet else [])
    finally:
        if fleet is not None:
            fleet.close()  # idempotent: after a failed start it only disconnects
    st = s["stages"]
    split = ", ".join(f"{k} {v['mean_ms']:.1f}" for k, v in st.items())
    typer.echo(f"{s['frames']} frames, {s['faces']} faces in {s['seconds']:.1f} s: {s['fps']:.1f} frames/s, "
               f"{s['faces_per_s']:.1f} faces/s ({s['backend']}, {s['detector']['name']}); stopped: {s['stopped']}")
    typer.echo(f"ms per frame: {split}; dropped frames: {s['dropped_frames']}, source gaps: {len(s['source_gaps'])}")
    if "fleet" in s:
        f = s["fleet"]
        typer.echo(f"published to {f['broker']} as {f['camera']}: {f['acked']} messages acknowledged, {f['dropped']} dropped "
                   f"(full spool), {f['unsent']} left in {f['spool']}")
    for name, path in s["files"].items():
        typer.echo(f"  {name}: {path}")


def _infer_images(images: list[Path], source: str, model: Path, out: Path, detector: str, detector_model: Path | None,
                  det_score: float, det_width, det_enhance: str, min_face: float, min_confidence: float | None, privacy: bool,
                  threads: int | None) -> None:
    """``--source`` named still images: annotated PNGs + the usual files (``edgefer.camera.images``)."""
    from edgefer.api import FaceAnalyzer
    from edgefer.camera.images import run_images

    with FaceAnalyzer(model, detector, det_width=det_width, det_enhance=det_enhance, det_score=det_score, detector_model=detector_model,
                      min_face=min_face, min_confidence=min_confidence, track=False, threads=threads) as analyzer:
        s = run_images(analyzer, images, out, save_frames=not privacy, source=source)
    typer.echo(f"{s['frames']} images, {s['faces']} faces in {s['seconds']:.1f} s ({s['backend']}); "
               f"unknown: {sum(s['unknown_reasons'].values())}")
    for name, path in s["files"].items():
        typer.echo(f"  {name}: {path}")
    if s["images"] and "annotated" in s["images"][0]:
        typer.echo(f"  annotated PNGs: {Path(s['images'][0]['annotated']).parent}/")


def bench_command(
    model: InferModelOpt = None,
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes for the runner latency, comma-separated.")] = "1,8,32,64",
    iters: Annotated[int, typer.Option("--iters", help="Timed calls per batch size (after 3 warm-up calls).")] = 50,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON here.")] = None,
    faces: Annotated[str, typer.Option("--faces", help="Faces per frame of the end-to-end clips, comma-separated.")] = "12",
    frames: Annotated[int, typer.Option("--frames", help="Frames per end-to-end clip.")] = 60,
    frame_size: Annotated[str, typer.Option("--frame-size", help="Frame size of the generated clips, WxH.")] = "640x480",
    face_px: Annotated[str, typer.Option("--face-px", help="Face sizes in the generated clips, MIN-MAX px.")] = "20-64",
    clip: Annotated[Path | None, typer.Option("--clip", help="Use this video for the end-to-end run instead of a generated clip.")] = None,
    no_end_to_end: Annotated[bool, typer.Option("--no-end-to-end", help="Only time the runner.")] = False,
    detector: DetectorOpt = "yunet",
    detector_model: DetectorModelOpt = None,
    threads: ThreadsOpt = None,
    det_width: DetWidthOpt = "auto",
    det_enhance: DetEnhanceOpt = "auto",
    det_tiles: DetTilesOpt = "auto",
) -> None:
    """Latency (median, p90) and faces/s per batch size; end-to-end frames/s with the per-stage split."""
    from rich.console import Console
    from rich.table import Table

    from edgefer.camera.bench import parse_ints, parse_pair, run_bench
    from edgefer.camera.detectors import parse_det_enhance, parse_det_width
    from edgefer.camera.defaults import choose_model
    from edgefer.errors import EdgeferError
    from edgefer.fileio import write_json

    from edgefer.cli.common import det_tiles as det_tiles_opt
    from edgefer.cli.common import out_file, positive_int, threads_opt

    enhance = parse_det_enhance(det_enhance)
    tiles = det_tiles_opt("--det-tiles", det_tiles)
    if clip is not None and not clip.is_file():
        raise EdgeferError(f"--clip {clip}: no such video file")
    positive_int("--iters", iters, maximum=1_000_000)
    positive_int("--frames", frames, maximum=1_000_000)
    threads_opt("--threads", threads)
    if json_out is not None:
        out_file("--json", json_out)
    if model is None:
        choice = choose_model()
        model = choice.path
        typer.echo(f"model: {model.name} ({choice.why})", err=True)
    r = run_bench(model, parse_ints(batch, "--batch"), iters, parse_ints(faces, "--faces"), frames,
                  parse_pair(frame_size, "--frame-size", "x"), parse_pair(face_px, "--face-px", "-"), detector,
                  detector_model, threads, clip, end_to_end=not no_end_to_end, det_width=parse_det_width(det_width),
                  det_enhance=enhance, det_tiles=tiles)
    console = Console(width=max(Console().width, 120))  # tables are wider than 80 columns (piped output)
    table = Table(title=f"{Path(r['model']).name} on {r['backend']}: runner latency ({r['iters']} calls)")
    for col in ("batch", "median ms", "p90 ms", "ms / face", "faces/s"):
        table.add_column(col, justify="right")
    gpu = any("gpu_median_ms" in b for b in r["batches"])
    if gpu:
        table.add_column("GPU ms (CUDA events)", justify="right")
    for b in r["batches"]:
        row = [str(b["batch"]), f"{b['median_ms']:.2f}", f"{b['p90_ms']:.2f}", f"{b['per_face_ms']:.3f}", f"{b['faces_per_s']:.0f}"]
        console_row = [*row, f"{b['gpu_median_ms']:.3f}"] if gpu else row
        table.add_row(*console_row)
    console.print(table)
    if r.get("end_to_end"):
        t2 = Table(title=f"end to end ({r['detector']['name']} + {r['backend']}), ms per frame by stage")
        for col in ("faces", "found/frame", "frames/s", "faces/s", "read", "detect", "preprocess", "infer", "post"):
            t2.add_column(col, justify="right")
        for e in r["end_to_end"]:
            ms = e["stages_mean_ms"]
            t2.add_row(str(e["faces_in_clip"] if e["faces_in_clip"] is not None else "-"), f"{e['faces_detected_per_frame']:.1f}",
                       f"{e['fps']:.1f}", f"{e['faces_per_s']:.0f}", *(f"{ms[k]:.1f}" for k in ("read", "detect", "preprocess", "infer", "post")))
        console.print(t2)
    if json_out is not None:
        write_json(json_out, r)
        typer.echo(f"wrote {json_out}")
