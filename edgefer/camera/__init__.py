"""The camera path: frames in, per-face expressions and crowd statistics out (``edgefer infer``).

One job per module:
    sources    parse SRC, open it, read frames on a thread (newest frame only for live sources)
    detectors  YuNet (default) or Haar face boxes
    quality    too small / too blurred faces -> "unknown" with a reason
    tracker    IoU tracker: track ids, per-track EMA of probabilities
    outputs    faces.jsonl, summary.json; crowd (crowd.csv + crowd.png); annotate (video, window)
    pipeline   the loop: read -> detect -> crop -> preprocess -> one batched infer -> track -> outputs
    clip       a synthetic crowd clip with ground-truth boxes (tests, bench, demo)
    bench      runner latency per batch and end-to-end frames/s

This runtime path imports numpy, cv2, typer and rich only (plus the backend's runtime, lazily):
never torch, so it runs on a Jetson image that has none.
"""
