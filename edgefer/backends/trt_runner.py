"""TensorRT backend for ``.engine`` / ``.plan`` files (the Jetson path; no torch).

activate():  read and check the sidecar (``<engine>.json``: TensorRT version, GPU), set the runtime's
             DLA core from it (before deserializing: an engine built for DLA core 1 would otherwise run
             on core 0), deserialize the engine once, find its input ("faces") and output ("logits") by
             name, set the profile's max input shape and size every buffer from the shape TensorRT
             then reports for it (``context.get_tensor_shape``), create one CUDA stream.
infer():     (N, 1, 48, 48) float32 grey 0-255 -> (N, K) float32 probabilities. N is cut into chunks
             of at most the max batch; a chunk smaller than the profile's min batch (a fixed-batch
             engine: the DLA) is padded with zero faces and the padding's rows dropped. Per chunk:
             set_input_shape (checked: False means TensorRT refused the shape), set_tensor_address
             (every tensor), async H2D, execute_async_v3(stream), async D2H, synchronize.

Our graphs end in **logits** (softmax is not in the ONNX, so FP16/INT8 engines keep the arg-max
stable), and this runner applies a float32 softmax in numpy. An engine whose output is named like
probabilities ("probs", "probabilities", "softmax") is returned as is.

The pure pieces (chunk_ranges, tensor_nbytes, bind_io_names, softmax) need no TensorRT.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgefer.backends.base import Runner
from edgefer.backends.softmax import softmax
from edgefer.engine.cuda_mem import DeviceBuffer, DeviceMemory, device_memory
from edgefer.engine.sidecar import REBUILD, EngineMismatch, check_sidecar, read_sidecar, sidecar_path
from edgefer.engine.trt_import import import_tensorrt, init_plugins, make_trt_logger, one_line
from edgefer.errors import EdgeferError

log = logging.getLogger(__name__)

INPUT_NAME = "faces"
OUTPUT_NAME = "logits"
PROBABILITY_NAMES = ("probs", "probabilities", "softmax")


def chunk_ranges(n: int, max_batch: int) -> list[tuple[int, int]]:
    """[(start, stop), ...] covering range(n) in order, each at most max_batch long. n=0 -> []."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return [(start, min(start + max_batch, n)) for start in range(0, n, max_batch)]


def tensor_nbytes(shape: Sequence[int], dtype: Any) -> int:
    """Bytes of one tensor of a fully known ``shape`` (the shape the context reports at the max input).

    (32, 1, 48, 48) float32 -> 32*1*48*48*4 = 294912. An output whose dim 0 is not the batch is sized
    by its own shape, not by the max batch. A 0-d tensor is one element; -1 anywhere is an error.
    """
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise ValueError(f"shape {list(shape)} has an unknown dimension: set the input shape first")
    return int(np.prod(dims, dtype=np.int64)) * np.dtype(dtype).itemsize


def bind_io_names(tensors: Sequence[tuple[str, bool]]) -> tuple[str, str]:
    """(input name, output name) from [(name, is_input), ...] in engine order.

    Exactly one input is required. The output is the one named "logits", else the only output.
    Raises EdgeferError (one line) otherwise.
    """
    inputs = [n for n, is_in in tensors if is_in]
    outputs = [n for n, is_in in tensors if not is_in]
    if len(inputs) != 1:
        raise EdgeferError(f"expected an engine with one input ({INPUT_NAME!r}), this one has {len(inputs)}: {', '.join(inputs) or 'none'}")
    if OUTPUT_NAME in outputs:
        return inputs[0], OUTPUT_NAME
    if len(outputs) == 1:
        return inputs[0], outputs[0]
    raise EdgeferError(f"expected an output named {OUTPUT_NAME!r} or a single output, this engine has: {', '.join(outputs) or 'none'}")


def needs_softmax(output_name: str) -> bool:
    return output_name.lower() not in PROBABILITY_NAMES


class TensorRTRunner(Runner):
    """A TensorRT engine as a Runner. ``memory`` picks the CUDA layer (default: pycuda, else cuda-python).

    ``require_sidecar=False`` lets engines without a sidecar (e.g. from trtexec) run after a warning;
    TensorRT itself still refuses an engine from another version.
    """

    backend = "tensorrt"

    def __init__(self, path: str, memory: DeviceMemory | None = None, require_sidecar: bool = False) -> None:
        super().__init__(path)
        self.memory = memory
        self.require_sidecar = require_sidecar
        self.sidecar: dict[str, Any] | None = None
        self.context: Any = None
        self._engine: Any = None
        self._runtime: Any = None
        self._logger: Any = None
        self._device: dict[str, DeviceBuffer] = {}
        self._stream = None
        self._events = None
        self.min_batch = 1

    # activation -------------------------------------------------------------------------------

    def _check_sidecar(self, trt: Any, memory: DeviceMemory, blob: bytes) -> None:
        self.sidecar = read_sidecar(self.path)
        if self.sidecar is None:
            if self.require_sidecar:
                raise EngineMismatch(f"{self.path}: no sidecar {sidecar_path(self.path).name} says what it was built for; {REBUILD}")
            log.warning("%s has no sidecar: cannot check it was built for this TensorRT and GPU", self.path)
            return
        check_sidecar(self.sidecar, trt.__version__, *memory.device_info(), self.path)
        want = self.sidecar.get("engine_sha256")
        if want and hashlib.sha256(blob).hexdigest() != want:
            raise EngineMismatch(f"{self.path} is not the engine its sidecar describes (sha256 differs); {REBUILD}")

    def activate(self) -> None:
        trt = import_tensorrt()
        memory = self.memory = self.memory or device_memory()
        path = Path(self.path)
        if not path.is_file():
            raise EdgeferError(f"{path}: no such engine file")
        blob = path.read_bytes()
        with memory.current():
            self._check_sidecar(trt, memory, blob)
            logger = make_trt_logger(trt)
            init_plugins(trt, logger)
            try:
                runtime = trt.Runtime(logger)
            except TypeError as e:  # "factory function returned nullptr": no usable GPU
                raise EdgeferError(f"TensorRT could not start a runtime ({one_line(e)}): is a CUDA GPU visible?") from None
            dla_core = (self.sidecar or {}).get("dla_core")
            if dla_core is not None:
                runtime.DLA_core = int(dla_core)  # must precede deserialization
            engine = runtime.deserialize_cuda_engine(blob)
            if engine is None:
                why = f" ({one_line(logger.errors[-1])})" if logger.errors else ""
                raise EngineMismatch(
                    f"{path.name}: TensorRT {trt.__version__} cannot load it (Magic/Version tag mismatch: built by another "
                    f"TensorRT or for another GPU, or not an engine){why}; {REBUILD}")
            names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
            is_input = {n: engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
            input_name, output_name = bind_io_names([(n, is_input[n]) for n in names])
            shape = tuple(engine.get_tensor_shape(input_name))
            # profile 0's (min, opt, max); a static engine's shape is its own min and max
            if -1 in shape:
                lo, _, hi = (tuple(s) for s in engine.get_tensor_profile_shape(input_name, 0))
            else:
                lo = hi = shape
            context = engine.create_execution_context()
            if not context.set_input_shape(input_name, hi):
                raise EngineMismatch(f"{path.name}: TensorRT refused its own max input shape {list(hi)}; {REBUILD}")
            # every buffer is sized from the shape TensorRT reports at the max input, not by guessing dim 0
            tensors = {n: (tuple(context.get_tensor_shape(n)), np.dtype(trt.nptype(engine.get_tensor_dtype(n)))) for n in names}
            # the runtime and logger must outlive the engine (released in reverse in deactivate)
            self._logger, self._runtime, self._engine = logger, runtime, engine
            self._setup(context, memory, input_name, output_name, tensors, min_batch=int(lo[0]))

    def _setup(self, context: Any, memory: DeviceMemory, input_name: str, output_name: str,
               tensors: dict[str, tuple[tuple[int, ...], np.dtype]], min_batch: int = 1) -> None:
        """Allocate buffers for the max batch. ``tensors``: name -> (shape at the max input, dtype).

        ``min_batch``: the profile's smallest batch; smaller chunks are padded up to it (a fixed-batch
        engine has min = max). No TensorRT here: tests drive it with a fake context and FakeDeviceMemory.
        """
        in_shape, in_dtype = tensors[input_name]
        out_shape, out_dtype = tensors[output_name]
        max_batch = int(in_shape[0])
        if len(out_shape) != 2 or out_shape[0] != max_batch:
            raise EdgeferError(f"{self.path}: expected a (N, K) {output_name!r} output, the engine gives {list(out_shape)} for N={max_batch}")
        self.context, self.memory = context, memory
        self.input_name, self.output_name = input_name, output_name
        self.input_shape, self.input_dtype = tuple(int(d) for d in in_shape), in_dtype
        self.max_batch, self.num_classes = max_batch, int(out_shape[1])
        from edgefer.backends.contract import check_classes

        # the engine's K and the sidecar's class names against edgefer's list, before anything is allocated
        check_classes(self.path, self.num_classes, (self.sidecar or {}).get("classes"), "the engine sidecar")
        self.min_batch = max(1, min(int(min_batch), max_batch))
        self._device = {n: memory.alloc(tensor_nbytes(s, d)) for n, (s, d) in tensors.items()}
        self._host_in = memory.pagelocked_empty(self.input_shape, in_dtype)
        self._host_out = memory.pagelocked_empty(tuple(out_shape), out_dtype)
        self._stream = memory.stream()
        side = self.sidecar or {}
        self.meta = {
            "backend": self.backend,
            "classes": side.get("classes"),
            "input": {"name": input_name, "shape": [-1, *self.input_shape[1:]], "dtype": str(in_dtype)},
            "output": output_name,
            "max_batch": max_batch,
            "min_batch": self.min_batch,
            "dla_core": side.get("dla_core"),
            "precision": side.get("precision"),
            "trt_version": side.get("trt_version"),
            "device_name": side.get("device_name"),
        }
        self.active = True

    # inference --------------------------------------------------------------------------------

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, 1, 48, 48) float32 grey 0-255 -> (N, K) float32 probabilities (softmax of the logits)."""
        if not self.active:
            self.activate()
        x = np.asarray(batch)
        if x.ndim != len(self.input_shape) or x.shape[1:] != self.input_shape[1:]:
            want = ", ".join(str(d) for d in self.input_shape[1:])
            raise EdgeferError(f"{Path(self.path).name} takes batches of shape (N, {want}), got {tuple(x.shape)}")
        logits = np.empty((len(x), self.num_classes), dtype=np.float32)
        memory, stream, ctx = self.memory, self._stream, self.context
        with memory.current():
            for start, stop in chunk_ranges(len(x), self.max_batch):
                n = stop - start
                run = max(n, self.min_batch)  # a fixed-batch engine takes exactly min = max faces: pad
                host_in, host_out = self._host_in[:run], self._host_out[:run]  # leading-axis views stay contiguous
                host_in[:n] = x[start:stop]
                host_in[n:] = 0
                shape = (run, *self.input_shape[1:])
                if not ctx.set_input_shape(self.input_name, shape):
                    # TensorRT logs an error and keeps the old shape: stop here instead of every frame
                    raise EdgeferError(f"{Path(self.path).name}: TensorRT refused input shape {list(shape)} "
                                       f"(profile batch {self.min_batch}..{self.max_batch})")
                for name, buf in self._device.items():
                    ctx.set_tensor_address(name, buf.ptr)
                memory.htod_async(self._device[self.input_name], host_in, stream)
                if not ctx.execute_async_v3(stream.handle):
                    raise EdgeferError(f"{Path(self.path).name}: TensorRT failed to run a batch of {run}")
                memory.dtoh_async(host_out, self._device[self.output_name], stream)
                stream.synchronize()
                logits[start:stop] = host_out[:n]
        return softmax(logits) if needs_softmax(self.output_name) else logits

    def time_infer(self, batch: np.ndarray, repeats: int = 20, warmup: int = 3) -> dict[str, float]:
        """GPU time of ``infer(batch)`` from CUDA events on the runner's stream, in ms.

        Includes the H2D/D2H copies and any gaps between chunks; for kernel-only timing use
        ``trtexec --loadEngine=... --shapes=... --useCudaGraph``.
        """
        if not self.active:
            self.activate()
        if self._events is None:
            self._events = (self.memory.event(), self.memory.event())
        start, end = self._events
        for _ in range(warmup):
            self.infer(batch)
        times = []
        with self.memory.current():
            for _ in range(max(int(repeats), 1)):
                start.record(self._stream)
                self.infer(batch)
                end.record(self._stream)
                end.synchronize()
                times.append(self.memory.elapsed_ms(start, end))
        t = np.asarray(times)
        return {"batch": len(batch), "repeats": len(t), "mean_ms": float(t.mean()), "median_ms": float(np.median(t)),
                "min_ms": float(t.min()), "per_face_ms": float(np.median(t)) / max(len(batch), 1)}

    def deactivate(self) -> None:
        memory = self.memory
        if memory is not None and (self._device or self._stream is not None):
            with memory.current():
                for buf in self._device.values():
                    memory.free(buf)
                for host in (getattr(self, "_host_in", None), getattr(self, "_host_out", None)):
                    if host is not None:
                        memory.free_host(host)
                for event in self._events or ():
                    memory.destroy_event(event)
                if self._stream is not None:
                    memory.destroy_stream(self._stream)
        self._device, self._stream, self._events = {}, None, None
        self._host_in = self._host_out = None
        self.context = None  # context before engine, engine before runtime
        self._engine = None
        self._runtime = None
        self._logger = None
        self.active = False
