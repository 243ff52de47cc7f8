"""The camera path: frames in, per-face expressions and crowd statistics out (``edgefer infer``).

One job per module:
    sources    parse SRC, open it, read frames on a thread (newest frame only for live sources)
    detectors  YuNet (default) or Haar face boxes
    quality    too small / too blurred faces -> "unknown" with a reason
    tracker    IoU tracker: track ids, per-track EMA of probabilities
    outputs    faces.jsonl and summary.json; crowd: crowd.csv + crowd.png; annotate: video, window
    model      the expression model as an activated Runner, with one-line load errors
    timing     per-stage timings; signals: SIGINT/SIGTERM -> clean stop; defaults: paths, constants
    pipeline   the loop: read -> detect -> crop -> preprocess -> one batched infer -> track -> outputs
               (the per-face work is ``edgefer.api.FaceAnalyzer``, the public Python API)
    images     still images, folders and globs as sources: annotated PNGs + the same outputs
    clip       a synthetic crowd clip with ground-truth boxes (tests, bench, demo)
    bench      runner latency per batch and end-to-end frames/s

Entry points: ``pipeline.run_infer(model, source, out, ...)`` (``edgefer infer``),
``bench.run_bench(...)`` (``edgefer bench``), ``clip.make_crowd_clip(path, n_faces, frames)``.

This runtime path imports numpy, cv2, typer and rich only (plus the backend's runtime, lazily):
never torch, so it runs on a Jetson image that has none.
"""
