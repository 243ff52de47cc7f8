"""The demo's deploy chain: export -> INT8 calibration -> engine (where TensorRT exists) -> ``infer`` on a crowd clip.

Everything runs on a fresh machine with no dataset, camera or GPU: calibration uses the LFW faces that
scikit-image ships (degraded at factors 1-8), and the crowd clip is composed from the same faces.
For a real deployment calibrate on your training faces instead (`edgefer calibrate --data DIR`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from edgefer.errors import EdgeferError

log = logging.getLogger("edgefer.demo")


def _step(name: str, t0: float, steps: dict[str, float]) -> float:
    now = time.perf_counter()
    steps[name] = round(now - t0, 2)
    log.info("demo: %s done in %.1f s", name, now - t0)
    return now


def run_chain(model: Path, out: Path, clip_faces: int = 12, clip_frames: int = 45) -> dict[str, Any]:
    from edgefer.camera.clip import make_crowd_clip
    from edgefer.camera.pipeline import InferOptions, run_infer
    from edgefer.deploy.calibrate import quiet_quantizer
    from edgefer.deploy.calibset import make_calibration_set
    from edgefer.deploy.onnx_export import export_model
    from edgefer.deploy.quantize import qdq_violations, quantize_qdq
    from edgefer.preprocess import preprocess_faces
    from edgefer.sample_faces import lfw_faces

    steps: dict[str, float] = {}
    t = time.perf_counter()
    export = out / "export"
    manifest = export_model(model, export)
    fp32 = export / manifest["main"]
    t = _step("export", t, steps)

    faces = preprocess_faces(list(lfw_faces(100)))[:, 0]
    x, _, _ = make_calibration_set(faces, samples=100, seed=0)
    int8 = fp32.with_name(fp32.stem + ".int8.onnx")
    with quiet_quantizer():
        quantize_qdq(fp32, x, int8, "entropy")
    problems = qdq_violations(int8)
    if problems:
        raise EdgeferError(f"{int8}: Q/DQ graph breaks TensorRT's rules: {problems[0]}")
    t = _step("int8 calibration", t, steps)

    runtime_model, engine_note = int8, "TensorRT not found: running the INT8 graph in ONNX Runtime"
    try:
        from edgefer.engine.builder import build_engine
        from edgefer.engine.trt_import import import_tensorrt

        import_tensorrt()
        runtime_model = build_engine(int8, export / "fsrfer.int8.engine", precision="int8", int8_mode="qdq",
                                     min_batch=1, opt_batch=16, max_batch=64)
        engine_note = f"TensorRT engine {runtime_model.name}"
    except EdgeferError as e:
        engine_note = f"{engine_note} ({str(e).split(':')[0]})"
    t = _step("engine", t, steps)

    clip = make_crowd_clip(out / "crowd.mp4", n_faces=clip_faces, frames=clip_frames)
    clip.write_truth(out / "crowd_truth.json")
    t = _step("crowd clip", t, steps)
    summary = run_infer(runtime_model, str(clip.path), out / "infer", options=InferOptions(save_video=True))
    _step("infer", t, steps)
    return {"export": str(export), "int8_onnx": str(int8), "runtime_model": str(runtime_model), "engine": engine_note,
            "clip": str(clip.path), "clip_faces": clip.n_faces, "clip_frames": clip.frames, "infer": summary,
            "seconds": steps}
