"""Load the expression model as an activated Runner, or fail with one line that says why."""

from __future__ import annotations

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


def open_runner(path: str | Path, threads: int | None = None) -> Runner:
    """An activated runner for ``path`` (backend by extension). ``threads``: CPU threads (torch/ORT only)."""
    backend = backend_for(path)
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
