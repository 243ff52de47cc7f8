"""Pick a backend from a model file's extension."""

from __future__ import annotations

from pathlib import Path

from edgefer.backends.base import Runner
from edgefer.errors import EdgeferError

BACKENDS = {".pt": "torch", ".pth": "torch", ".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt"}


def backend_for(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in BACKENDS:
        raise EdgeferError(f"{path}: unknown model type {suffix or '(no extension)'!r}; expected one of {', '.join(BACKENDS)}")
    return BACKENDS[suffix]


def load_runner(path: str | Path, **options) -> Runner:
    """A runner for ``path``, not yet activated."""
    if not Path(path).is_file():
        raise EdgeferError(f"{path}: no such model file")
    backend = backend_for(path)
    if backend == "torch":
        from edgefer.backends.torch_runner import TorchRunner

        return TorchRunner(str(path), **options)
    if backend == "onnxruntime":
        from edgefer.backends.ort_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(str(path), **options)
    if backend == "tensorrt":
        from edgefer.backends.trt_runner import TensorRTRunner

        return TensorRTRunner(str(path), **options)
    raise AssertionError(backend)
