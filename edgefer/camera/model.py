"""Load the expression model as an activated Runner, or fail with one line that says why."""

from __future__ import annotations

import os
from pathlib import Path

from edgefer.backends.base import Runner
from edgefer.backends.select import backend_for, load_runner
from edgefer.errors import EdgeferError

HINTS = {
    "torch": "a .pt model needs PyTorch (pip install 'edgefer[train]'); on the Jetson export it "
             "(edgefer export) and run the .onnx or a TensorRT .engine instead",
    "onnxruntime": "pip install 'edgefer[onnx]'",
    "tensorrt": "TensorRT comes with JetPack or the Dockerfile.jetson image",
}


# ONNX Runtime's intra-op thread pool spins between calls. In the camera loop, which runs the detector
# (OpenCV threads) and the reader thread between two infer calls, spinning threads starve both.
# Measured here (2 cores, busy, 640x480, 12 faces, YuNet): 12-13 frames/s with ORT's default threads,
# 20-22 with 1 thread. The ORT runner now sets session.intra_op.allow_spinning=0 whenever threads are
# given, and then 2 threads win (idle 2-core VM, the routed default, BENCHMARKS.md §10): 720p with 180
# faces 6.7-7.6 frames/s against 4.8-4.9 with 1 thread, 640x480 with 12 faces 43.7 against 40.8.
CAMERA_ORT_THREADS = max(1, min(2, os.cpu_count() or 1))


def open_runner(path: str | Path, threads: int | None = None) -> Runner:
    """An activated runner for ``path`` (backend by extension). ``threads``: CPU threads (torch/ORT only;
    None: 1 for ONNX Runtime, see CAMERA_ORT_THREADS; the framework's default for torch)."""
    backend = backend_for(path)
    if threads is None and backend == "onnxruntime":
        threads = CAMERA_ORT_THREADS
    options = {"threads": threads} if threads and backend != "tensorrt" else {}
    runner = load_runner(path, **options)
    try:
        runner.activate()
    except EdgeferError:
        raise
    except ImportError as e:
        missing = e.name or str(e)
        raise EdgeferError(f"{path}: cannot load the {backend} backend ({missing} is not installed); {HINTS[backend]}") from None
    except Exception as e:  # a corrupt file: torch/ORT/TensorRT raise their own types
        text = " ".join(str(e).split())[:200] or type(e).__name__
        raise EdgeferError(f"{path}: the model does not load ({text})") from None
    return runner
