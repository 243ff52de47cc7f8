"""INT8 implicit calibration: feeds TensorRT one batch of real faces per call.

Implicit calibration (``IInt8EntropyCalibrator2`` / ``IInt8MinMaxCalibrator`` + a cache file) is
deprecated since TensorRT 10.1 but works in 10.3, and it is the only INT8 route onto the Jetson's DLA.
Prefer Q/DQ ONNX graphs (``int8_mode="qdq"``) elsewhere.

The batching lives in ``CalibrationBatcher`` (no TensorRT: testable with ``FakeDeviceMemory``);
``make_calibrator`` wraps it in the TensorRT base class, created lazily.

Stale caches: a cache holds TensorRT's scales for one graph, one calibration set and one batch size, and
TensorRT skips calibration whenever ``read_calibration_cache`` returns bytes. So every cache is written
with a key file (``<cache>.key.json``: ONNX sha256, calibration-set sha256, batch, method) and is only
read back when the key matches; the key goes into the engine sidecar too (``calibration``).

Ctrl-C: TensorRT's Python trampoline turns any exception in ``get_batch`` into "no more data", so a
KeyboardInterrupt would end calibration early and an engine and cache would be written from part of the
data. ``_guard`` catches BaseException, marks the batcher failed (``interrupted`` for Ctrl-C), and the
builder re-raises after the build without writing the engine; a failed batcher never writes its cache.

Last partial batch: DROPPED. The calibration profile fixes the batch at ``batch_size``, so a short
batch cannot be fed, and padding it (repeating faces) would skew the activation histograms. At most
``batch_size - 1`` faces go unused; fewer than ``batch_size`` faces in all is an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgefer.engine.cuda_mem import DeviceMemory, device_memory
from edgefer.engine.trt_import import import_tensorrt
from edgefer.errors import EdgeferError
from edgefer.fileio import atomic_path

log = logging.getLogger(__name__)

METHODS = ("entropy", "minmax")


class CalibrationBatcher:
    """Hands TensorRT device pointers to consecutive batches of ``batches``, one batch per call.

    batches: (N, C, H, W) float32, e.g. (N, 1, 48, 48) grey 0-255 faces exactly as the runner feeds
    them. Batch i is faces [i*batch_size, (i+1)*batch_size); the order is the input order, so two
    batchers over the same array produce the same calibration (deterministic).
    One device buffer of batch_size*C*H*W*4 bytes is reused for every batch.
    """

    def __init__(self, batches: np.ndarray, batch_size: int, cache_path: str | Path | None,
                 memory: DeviceMemory, onnx_sha256: str | None = None, method: str = "entropy") -> None:
        batches = np.asarray(batches)
        if batches.ndim < 2:
            raise EdgeferError(f"calibration data must be (N, C, H, W), got shape {batches.shape}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise EdgeferError(f"calibration batch size must be a positive integer, got {batch_size!r}")
        if len(batches) < batch_size:
            raise EdgeferError(f"calibration needs at least one full batch: {len(batches)} faces < batch size {batch_size}")
        if not np.isfinite(batches).all():
            raise EdgeferError("calibration data contains NaN or infinite values")
        self.data = np.ascontiguousarray(batches, dtype=np.float32)
        self.batch_size = batch_size
        self.num_batches = len(self.data) // batch_size  # the partial tail is dropped (see module doc)
        self.dropped = len(self.data) - self.num_batches * batch_size
        self.batch_shape = (batch_size, *self.data.shape[1:])
        self.cache_path = Path(cache_path) if cache_path else None
        self.memory = memory
        self.index = 0
        self.failed: str | None = None  # set when a TensorRT callback failed (see make_calibrator)
        self.interrupted: BaseException | None = None  # a Ctrl-C (or SystemExit) caught inside a callback
        self.cache_key = calibration_key(onnx_sha256, self.data, batch_size, method)
        self.stream = memory.stream()
        self.device = memory.alloc(int(np.prod(self.batch_shape)) * 4)
        if self.dropped:
            log.info("calibration: %d batches of %d, last %d faces dropped", self.num_batches, batch_size, self.dropped)

    def get_batch(self, names: list[str]) -> list[int] | None:
        """Device pointers (one per input name) to the next batch, or None when all were handed out."""
        if len(names) != 1:
            raise EdgeferError(f"calibration feeds one input, the network has {len(names)}: {', '.join(names)}")
        if self.index >= self.num_batches:
            return None
        start = self.index * self.batch_size
        self.memory.htod_async(self.device, self.data[start:start + self.batch_size], self.stream)
        # TensorRT reads the buffer on its own stream right after we return: the copy must be done.
        self.stream.synchronize()
        self.index += 1
        log.debug("calibration batch %d/%d", self.index, self.num_batches)
        return [self.device.ptr]

    def reset(self) -> None:
        """Start again from the first batch."""
        self.index = 0

    def read_calibration_cache(self) -> bytes | None:
        """The cache file's bytes (TensorRT then skips calibration), or None to calibrate.

        A cache whose key file is missing or names another ONNX, calibration set or batch is stale:
        it is ignored (with a warning) and calibration runs.
        """
        if self.cache_path is None or not self.cache_path.is_file():
            return None
        data = self.cache_path.read_bytes()
        if not data:
            return None  # an empty cache is no cache
        key_path = cache_key_path(self.cache_path)
        try:
            key = json.loads(key_path.read_text())
        except (OSError, ValueError):
            key = None
        if key != self.cache_key:
            log.warning("calibration cache %s is stale or has no key file (%s): made for another ONNX, calibration set or "
                        "batch; calibrating again", self.cache_path, key_path.name)
            return None
        log.info("using calibration cache %s", self.cache_path)
        return data

    def write_calibration_cache(self, cache: Any) -> None:
        """Save TensorRT's scales and their key atomically (``cache``: bytes, memoryview, IHostMemory).

        Not after a failed or interrupted calibration: its scales come from part of the data.
        """
        if self.cache_path is None:
            return
        if self.failed:
            log.warning("calibration failed: not writing the calibration cache %s", self.cache_path)
            return
        with atomic_path(self.cache_path) as tmp:
            tmp.write_bytes(bytes(memoryview(cache)))
        with atomic_path(cache_key_path(self.cache_path)) as tmp:
            tmp.write_text(json.dumps(self.cache_key, indent=2) + "\n")
        log.info("wrote calibration cache %s", self.cache_path)

    def close(self) -> None:
        """Free the device buffer and stream (safe to call twice)."""
        if self.device is not None:
            self.memory.free(self.device)
            self.memory.destroy_stream(self.stream)
            self.device = None


def calibration_key(onnx_sha256: str | None, data: np.ndarray, batch_size: int, method: str) -> dict[str, Any]:
    """What a calibration cache depends on: {onnx_sha256, calib_sha256, batch, method, digest}.

    ``calib_sha256`` hashes the float32 faces and their shape, so another calibration set (or the same
    faces in another order) gets another key. ``digest`` (16 hex) names default cache files.
    """
    data = np.ascontiguousarray(data, dtype=np.float32)
    h = hashlib.sha256(repr(data.shape).encode())
    h.update(memoryview(data).cast("B"))
    key = {"onnx_sha256": onnx_sha256, "calib_sha256": h.hexdigest(), "batch": int(batch_size), "method": method}
    key["digest"] = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return key


def cache_key_path(cache_path: Path) -> Path:
    """``x.trtcache`` -> ``x.trtcache.key.json``."""
    return cache_path.with_name(cache_path.name + ".key.json")


def make_calibrator(method: str, batches: np.ndarray, batch_size: int, cache_path: str | Path | None,
                    memory: DeviceMemory | None = None, onnx_sha256: str | None = None) -> Any:
    """A ``trt.IInt8EntropyCalibrator2`` ("entropy") or ``trt.IInt8MinMaxCalibrator`` ("minmax").

    batches: (N, 1, 48, 48) float32 grey 0-255 calibration faces; ``onnx_sha256`` keys the cache (see the
    module doc). The returned object has ``.batcher`` (its CalibrationBatcher) and ``.batch_shape``; the
    builder uses the latter for the calibration profile, and closes the batcher (frees its device buffer)
    after the build. Raises EdgeferError when TensorRT or a CUDA layer is missing.
    """
    if method not in METHODS:
        raise EdgeferError(f"unknown calibration method {method!r}; expected one of {', '.join(METHODS)}")
    trt = import_tensorrt()
    base = trt.IInt8EntropyCalibrator2 if method == "entropy" else trt.IInt8MinMaxCalibrator
    batcher = CalibrationBatcher(batches, batch_size, cache_path, memory or device_memory(), onnx_sha256, method)

    class Calibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)  # TensorRT's pybind trampoline needs the base initialised explicitly
            self.batcher = batcher
            self.batch_shape = batcher.batch_shape
            self.method = method

        def get_batch_size(self) -> int:
            return batcher.batch_size

        # An exception must not cross back into TensorRT's C++: log it, remember it, end calibration;
        # the builder turns ``batcher.failed`` into a one-line error.
        def get_batch(self, names: list[str]) -> list[int] | None:
            return _guard(batcher, "get_batch", lambda: batcher.get_batch(list(names)))

        def read_calibration_cache(self) -> bytes | None:
            return _guard(batcher, "read_calibration_cache", batcher.read_calibration_cache)

        def write_calibration_cache(self, cache: Any) -> None:
            _guard(batcher, "write_calibration_cache", lambda: batcher.write_calibration_cache(cache))

    return Calibrator()


def _guard(batcher: CalibrationBatcher, what: str, call: Any) -> Any:
    """Run a TensorRT callback; on any exception, Ctrl-C included, mark the batcher and return None."""
    if batcher.failed:
        return None  # after a failure every further batch is "no more data"
    try:
        return call()
    except BaseException as e:  # noqa: BLE001 - TensorRT's trampoline would swallow it: remember it instead
        if not isinstance(e, Exception):
            batcher.interrupted = e
            batcher.failed = f"calibrator {what} interrupted ({type(e).__name__})"
        else:
            batcher.failed = f"calibrator {what} failed: {e}"
        log.error("%s", batcher.failed)
        return None
