"""TensorRT 10.x engines for the Jetson: build (builder), calibrate (calibrator), describe (sidecar).

TensorRT, pycuda and cuda-python are imported lazily, inside functions (``trt_import``): this package
imports, and its pure logic runs, on machines without them. Inference is in
``edgefer.backends.trt_runner``.
"""

from edgefer.engine.builder import build_engine
from edgefer.engine.calibrator import CalibrationBatcher, make_calibrator
from edgefer.engine.sidecar import (
    EngineMismatch,
    check_sidecar,
    engine_cache_key,
    engine_sidecar,
    profile_shapes,
    read_sidecar,
    write_sidecar,
)

__all__ = [
    "CalibrationBatcher",
    "EngineMismatch",
    "build_engine",
    "check_sidecar",
    "engine_cache_key",
    "engine_sidecar",
    "make_calibrator",
    "profile_shapes",
    "read_sidecar",
    "write_sidecar",
]
