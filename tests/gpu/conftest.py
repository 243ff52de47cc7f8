"""tests/gpu: checks that need a CUDA GPU but no TensorRT (run them with tools/gpu_check.sh).

Every test module here sets ``pytestmark = pytest.mark.gpu``; each test skips, with the reason, where its piece is missing: no CUDA device,
no cuda-python, no pycuda, no CUDA provider in ONNX Runtime. Figures (never asserted timings) are
written as JSON into $EDGEFER_GPU_CHECK_OUT (default: a temporary folder) for BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def record(name: str, figures: dict) -> Path:
    """Write ``figures`` to $EDGEFER_GPU_CHECK_OUT/<name>.json (the check's evidence for BENCHMARKS.md)."""
    import tempfile

    folder = Path(os.environ.get("EDGEFER_GPU_CHECK_OUT") or tempfile.mkdtemp(prefix="edgefer-gpu-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path


def _memory_layer(name: str):
    """edgefer's CUDA memory layer ``name`` on a working device, or skip the test."""
    from edgefer.engine.cuda_mem import device_memory
    from edgefer.errors import EdgeferError

    try:
        mem = device_memory(name)
        mem.device_info()
    except EdgeferError as e:
        pytest.skip(f"needs {name} and a CUDA GPU: {e}")
    return mem


@pytest.fixture(scope="session")
def cuda_python_memory():
    """CudaPythonMemory on device 0, or skip."""
    return _memory_layer("cuda-python")


@pytest.fixture(scope="session")
def pycuda_memory():
    """PycudaMemory on the primary context, or skip (pycuda may not build on the machine)."""
    return _memory_layer("pycuda")


@pytest.fixture(scope="session")
def ort_cuda():
    """onnxruntime with the CUDA provider, or skip."""
    try:
        import onnxruntime as ort
    except ImportError:
        pytest.skip("onnxruntime is not installed")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip(f"ONNX Runtime has no CUDAExecutionProvider here (has {ort.get_available_providers()}); "
                    "install onnxruntime-gpu")
    return ort
