"""edgefer: facial-expression recognition on small, low-resolution faces (FSR-FER)."""

import os as _os

__version__ = "0.1.0"

# numpy's OpenBLAS starts one spinning thread per core for every matmul, which fights ONNX Runtime, OpenCV and
# the reader thread for the same cores: the antialiased resize of a 280 px face crop took 76-156 ms instead of
# 11 ms in the camera loop on a busy 2-core machine (BENCHMARKS.md section 10). Our matmuls are small, so one
# thread. Only a default: set OPENBLAS_NUM_THREADS yourself to override; it takes effect only if edgefer is
# imported before numpy (as the CLI is).
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__all__ = ["FaceAnalyzer", "__version__"]


def __getattr__(name: str):
    # lazy: `import edgefer` (every CLI start) stays light; only `edgefer.FaceAnalyzer` pulls in numpy and cv2
    if name == "FaceAnalyzer":
        from edgefer.api import FaceAnalyzer

        return FaceAnalyzer
    raise AttributeError(f"module 'edgefer' has no attribute {name!r}")
