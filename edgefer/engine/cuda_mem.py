"""A tiny device-memory layer: the same few calls over pycuda or cuda-python.

    mem = device_memory()                 # pycuda if installed, else cuda-python
    buf = mem.alloc(nbytes)               # DeviceBuffer, buf.ptr is an int device pointer
    host = mem.pagelocked_empty((8, 1, 48, 48), np.float32)
    s = mem.stream()                      # Stream, s.handle is an int for execute_async_v3
    mem.htod_async(buf, host, s); ...; mem.dtoh_async(host, buf, s); s.synchronize()
    ev = mem.event(); ev.record(s); ...; mem.destroy_event(ev)
    mem.free(buf); mem.free_host(host); mem.destroy_stream(s)

``FakeDeviceMemory`` at the end is a TEST DOUBLE: it keeps "device" buffers as numpy arrays keyed by
fake integer pointers. No real code path creates it; tests pass it in explicitly.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgefer.engine.trt_import import import_cuda_layer, one_line
from edgefer.errors import EdgeferError


class CudaError(EdgeferError):
    """A CUDA call failed (told in one line)."""


@dataclass
class DeviceBuffer:
    """``nbytes`` of device memory at integer address ``ptr``; ``raw`` keeps the layer's object alive."""

    ptr: int
    nbytes: int
    raw: Any = field(default=None, repr=False)


@dataclass
class Stream:
    """A CUDA stream: ``handle`` is the int TensorRT's ``execute_async_v3`` takes."""

    handle: int
    raw: Any = field(repr=False)
    _sync: Callable[[], None] = field(repr=False)

    def synchronize(self) -> None:
        self._sync()


@dataclass
class Event:
    """A CUDA event, for GPU-side timing."""

    raw: Any = field(repr=False)
    _record: Callable[[Stream], None] = field(repr=False)
    _sync: Callable[[], None] = field(repr=False)

    def record(self, stream: Stream) -> None:
        self._record(stream)

    def synchronize(self) -> None:
        self._sync()


def _ptr(buf: DeviceBuffer | int) -> int:
    return buf.ptr if isinstance(buf, DeviceBuffer) else int(buf)


def _check_fits(buf: DeviceBuffer | int, host: np.ndarray) -> None:
    if not host.flags.c_contiguous:
        raise ValueError("host array must be C-contiguous for a device copy")
    if isinstance(buf, DeviceBuffer) and host.nbytes > buf.nbytes:
        raise ValueError(f"copy of {host.nbytes} bytes does not fit a {buf.nbytes}-byte device buffer")


class DeviceMemory:
    """The interface both real layers (and the fake) implement."""

    name = "?"

    def alloc(self, nbytes: int) -> DeviceBuffer: raise NotImplementedError
    def free(self, buf: DeviceBuffer) -> None: raise NotImplementedError
    def pagelocked_empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray: raise NotImplementedError
    def free_host(self, array: np.ndarray) -> None: raise NotImplementedError
    def htod_async(self, dst: DeviceBuffer | int, host: np.ndarray, stream: Stream) -> None: raise NotImplementedError
    def dtoh_async(self, host: np.ndarray, src: DeviceBuffer | int, stream: Stream) -> None: raise NotImplementedError
    def stream(self) -> Stream: raise NotImplementedError
    def destroy_stream(self, stream: Stream) -> None: raise NotImplementedError
    def event(self) -> Event: raise NotImplementedError
    def destroy_event(self, event: Event) -> None: raise NotImplementedError
    def elapsed_ms(self, start: Event, end: Event) -> float: raise NotImplementedError

    def device_info(self) -> tuple[str, str]:
        """(device name, compute capability "major.minor") of device 0."""
        raise NotImplementedError

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        """Make the CUDA context current in this thread for the block (no-op where not needed)."""
        yield


class PycudaMemory(DeviceMemory):
    """pycuda, on the primary context (``pycuda.autoprimaryctx``), shared with TensorRT."""

    name = "pycuda"

    def __init__(self, driver: Any) -> None:
        self.cuda = driver
        import pycuda.autoprimaryctx as primary  # already imported by import_cuda_layer

        self.context = primary.context

    def alloc(self, nbytes: int) -> DeviceBuffer:
        raw = self.cuda.mem_alloc(max(int(nbytes), 1))
        return DeviceBuffer(int(raw), int(nbytes), raw)

    def free(self, buf: DeviceBuffer) -> None:
        if buf.raw is not None:
            buf.raw.free()
            buf.raw = None

    def pagelocked_empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return self.cuda.pagelocked_empty(tuple(shape), np.dtype(dtype))

    def free_host(self, array: np.ndarray) -> None:
        base = array.base
        if base is not None and hasattr(base, "free"):
            base.free()

    def htod_async(self, dst: DeviceBuffer | int, host: np.ndarray, stream: Stream) -> None:
        _check_fits(dst, host)
        self.cuda.memcpy_htod_async(_ptr(dst), host, stream.raw)

    def dtoh_async(self, host: np.ndarray, src: DeviceBuffer | int, stream: Stream) -> None:
        _check_fits(src, host)
        self.cuda.memcpy_dtoh_async(host, _ptr(src), stream.raw)

    def stream(self) -> Stream:
        raw = self.cuda.Stream()
        return Stream(int(raw.handle), raw, raw.synchronize)

    def destroy_stream(self, stream: Stream) -> None:
        stream.raw = None  # pycuda frees a stream when it is garbage-collected

    def event(self) -> Event:
        raw = self.cuda.Event()
        return Event(raw, lambda s: raw.record(s.raw), raw.synchronize)

    def destroy_event(self, event: Event) -> None:
        event.raw = None  # pycuda destroys an event when it is garbage-collected

    def elapsed_ms(self, start: Event, end: Event) -> float:
        return float(end.raw.time_since(start.raw))

    def device_info(self) -> tuple[str, str]:
        dev = self.cuda.Device(0)
        major, minor = dev.compute_capability()
        return str(dev.name()), f"{major}.{minor}"

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        # Another thread (a camera loop, a server worker) has no current context: push the primary one,
        # or pycuda fails with "invalid device context".
        if self.cuda.Context.get_current() is not None:
            yield
            return
        self.context.push()
        try:
            yield
        finally:
            self.cuda.Context.pop()


class CudaPythonMemory(DeviceMemory):
    """cuda-python's runtime API (``cuda.bindings.runtime`` or the older ``cuda.cudart``)."""

    name = "cuda-python"

    def __init__(self, cudart: Any) -> None:
        self.rt = cudart
        self._host: dict[int, int] = {}  # host array address -> cudaMallocHost pointer

    def _call(self, what: str, result: Any) -> Any:
        # Every runtime call returns (cudaError_t, *values).
        err, *values = result if isinstance(result, tuple) else (result,)
        if err != self.rt.cudaError_t.cudaSuccess:
            raise CudaError(f"CUDA {what} failed: {one_line(getattr(err, 'name', err))}")
        return values[0] if len(values) == 1 else tuple(values)

    def alloc(self, nbytes: int) -> DeviceBuffer:
        ptr = self._call("cudaMalloc", self.rt.cudaMalloc(max(int(nbytes), 1)))
        return DeviceBuffer(int(ptr), int(nbytes))

    def free(self, buf: DeviceBuffer) -> None:
        if buf.ptr:
            self._call("cudaFree", self.rt.cudaFree(buf.ptr))
            buf.ptr = 0

    def pagelocked_empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        ptr = int(self._call("cudaMallocHost", self.rt.cudaMallocHost(max(count, 1))))
        raw = (ctypes.c_ubyte * max(count, 1)).from_address(ptr)
        array = np.frombuffer(raw, dtype=np.uint8, count=count).view(dtype).reshape(shape)
        self._host[array.ctypes.data] = ptr
        return array

    def free_host(self, array: np.ndarray) -> None:
        ptr = self._host.pop(array.ctypes.data, None)
        if ptr is not None:
            self._call("cudaFreeHost", self.rt.cudaFreeHost(ptr))

    def htod_async(self, dst: DeviceBuffer | int, host: np.ndarray, stream: Stream) -> None:
        _check_fits(dst, host)
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call("cudaMemcpyAsync", self.rt.cudaMemcpyAsync(_ptr(dst), host.ctypes.data, host.nbytes, kind, stream.raw))

    def dtoh_async(self, host: np.ndarray, src: DeviceBuffer | int, stream: Stream) -> None:
        _check_fits(src, host)
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call("cudaMemcpyAsync", self.rt.cudaMemcpyAsync(host.ctypes.data, _ptr(src), host.nbytes, kind, stream.raw))

    def stream(self) -> Stream:
        raw = self._call("cudaStreamCreate", self.rt.cudaStreamCreate())
        return Stream(int(raw), raw, lambda: self._call("cudaStreamSynchronize", self.rt.cudaStreamSynchronize(raw)))

    def destroy_stream(self, stream: Stream) -> None:
        if stream.raw is not None:
            self._call("cudaStreamDestroy", self.rt.cudaStreamDestroy(stream.raw))
            stream.raw = None

    def event(self) -> Event:
        raw = self._call("cudaEventCreate", self.rt.cudaEventCreate())
        return Event(
            raw,
            lambda s: self._call("cudaEventRecord", self.rt.cudaEventRecord(raw, s.raw)),
            lambda: self._call("cudaEventSynchronize", self.rt.cudaEventSynchronize(raw)),
        )

    def destroy_event(self, event: Event) -> None:
        if event.raw is not None:
            self._call("cudaEventDestroy", self.rt.cudaEventDestroy(event.raw))
            event.raw = None

    def elapsed_ms(self, start: Event, end: Event) -> float:
        return float(self._call("cudaEventElapsedTime", self.rt.cudaEventElapsedTime(start.raw, end.raw)))

    def device_info(self) -> tuple[str, str]:
        prop = self._call("cudaGetDeviceProperties", self.rt.cudaGetDeviceProperties(0))
        name = prop.name
        if isinstance(name, (bytes, bytearray)):
            name = bytes(name).split(b"\0", 1)[0].decode(errors="replace")
        return str(name).strip(), f"{prop.major}.{prop.minor}"


def device_memory(prefer: str | None = None) -> DeviceMemory:
    """The real device-memory layer: pycuda if installed, else cuda-python (see ``import_cuda_layer``)."""
    name, module = import_cuda_layer(prefer)
    return PycudaMemory(module) if name == "pycuda" else CudaPythonMemory(module)


class FakeDeviceMemory(DeviceMemory):
    """TEST DOUBLE, never used by real code paths: "device" memory is numpy, pointers are fake ints.

    Each ``alloc`` returns a DeviceBuffer whose ``ptr`` keys a zero-filled uint8 array in ``buffers``.
    Copies are synchronous and logged in ``copies`` as ("htod" | "dtoh", ptr, nbytes). ``live_events``
    counts events made and not destroyed, so tests can check that nothing leaks.
    ``read(ptr, dtype, shape)`` / ``write(ptr, array)`` let tests look at or fill device memory.
    """

    name = "fake"

    def __init__(self) -> None:
        self.buffers: dict[int, np.ndarray] = {}
        self.copies: list[tuple[str, int, int]] = []
        self.live_events = 0
        self._next = itertools.count(1)

    def alloc(self, nbytes: int) -> DeviceBuffer:
        ptr = 0x10000 * next(self._next)  # distinct, non-zero, never a real address we touch
        self.buffers[ptr] = np.zeros(int(nbytes), dtype=np.uint8)
        return DeviceBuffer(ptr, int(nbytes))

    def free(self, buf: DeviceBuffer) -> None:
        if buf.ptr not in self.buffers:
            raise ValueError(f"free of unknown or already freed pointer {buf.ptr:#x}")
        del self.buffers[buf.ptr]

    def pagelocked_empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.zeros(shape, dtype=dtype)

    def free_host(self, array: np.ndarray) -> None:
        pass

    def _buffer(self, ptr: int, nbytes: int) -> np.ndarray:
        if ptr not in self.buffers:
            raise ValueError(f"unknown device pointer {ptr:#x}")
        if nbytes > self.buffers[ptr].nbytes:
            raise ValueError(f"copy of {nbytes} bytes overruns the {self.buffers[ptr].nbytes}-byte buffer at {ptr:#x}")
        return self.buffers[ptr]

    def htod_async(self, dst: DeviceBuffer | int, host: np.ndarray, stream: Stream) -> None:
        _check_fits(dst, host)
        ptr = _ptr(dst)
        self._buffer(ptr, host.nbytes)[: host.nbytes] = host.reshape(-1).view(np.uint8)
        self.copies.append(("htod", ptr, host.nbytes))

    def dtoh_async(self, host: np.ndarray, src: DeviceBuffer | int, stream: Stream) -> None:
        _check_fits(src, host)
        ptr = _ptr(src)
        host.reshape(-1).view(np.uint8)[:] = self._buffer(ptr, host.nbytes)[: host.nbytes]
        self.copies.append(("dtoh", ptr, host.nbytes))

    def read(self, ptr: int, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        dtype = np.dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        return self._buffer(ptr, n)[:n].view(dtype).reshape(shape).copy()

    def write(self, ptr: int, array: np.ndarray) -> None:
        data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        self._buffer(ptr, data.nbytes)[: data.nbytes] = data

    def stream(self) -> Stream:
        return Stream(0x5000 + next(self._next), None, lambda: None)

    def destroy_stream(self, stream: Stream) -> None:
        pass

    def event(self) -> Event:
        ev = Event([0.0], lambda s: None, lambda: None)
        ev._record = lambda s: ev.raw.__setitem__(0, time.perf_counter())
        self.live_events += 1
        return ev

    def destroy_event(self, event: Event) -> None:
        if event.raw is None:
            raise ValueError("event destroyed twice")
        event.raw = None
        self.live_events -= 1

    def elapsed_ms(self, start: Event, end: Event) -> float:
        return 1000.0 * (end.raw[0] - start.raw[0])

    def device_info(self) -> tuple[str, str]:
        return "FakeDevice", "0.0"
