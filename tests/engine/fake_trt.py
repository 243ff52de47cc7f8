"""TEST DOUBLE of the ``tensorrt`` 10.3 Python module: only what edgefer's builder and runner call.

Nothing here is TensorRT and nothing runs on a GPU. It exists so the builder's and runner's own logic
(flags, profiles, caches, calibration, DLA core, shapes, padding) can be tested, and it behaves like
TensorRT 10.3 (pyCore.cpp / pyInt8.cpp / NvInferRuntime.h) wherever edgefer depends on the behaviour:

- ``IExecutionContext.set_input_shape`` returns False, logs an ERROR and keeps the old shape for a
  shape outside the profile or one that changes a fixed dimension;
- ``IBuilderConfig.create_timing_cache`` returns None (C++ nullptr) for bytes it cannot read, and
  ``set_timing_cache`` returns False for a cache made on another device; passing None raises TypeError
  (pybind cannot convert it);
- a STRONGLY_TYPED network fails to build (ERROR, None) when BuilderFlag.FP16 or INT8 is set;
- a weakly typed network with Q/DQ layers fails to build without BuilderFlag.INT8;
- calibrator callbacks go through a trampoline that swallows every exception, as pyInt8.cpp's does:
  a raising ``get_batch`` means "no more data", and the cache is still written afterwards;
- ``Runtime.DLA_core`` is read when an engine is deserialized: the engine runs on that core;
- a plan is a buffer (``memoryview`` works on it); a bad one makes ``deserialize_cuda_engine`` return None.

The "engine" is JSON naming its ONNX; ``execute_async_v3`` runs that ONNX with ONNX Runtime on the CPU,
reading and writing ``FakeDeviceMemory``, so the runner's data path (copies, chunks, padding) is checked
against real numbers.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = "edgefer-fake-trt-engine"
TIMING_MAGIC = b"FAKE-TIMING-CACHE:"


class _Enum:
    """Distinct, hashable, printable enum values (``int()`` works, as on TensorRT's enums)."""

    def __init__(self, name: str, value: int) -> None:
        self.name, self.value = name, value

    def __int__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return self.name


def _enum(cls_name: str, *names: str) -> type:
    return type(cls_name, (), {n: _Enum(f"{cls_name}.{n}", i) for i, n in enumerate(names)})


def make_fake_trt(memory: Any = None, num_dla_cores: int = 2, device: str = "FakeDevice") -> types.ModuleType:
    """A fresh fake ``tensorrt`` module. ``memory``: the FakeDeviceMemory that execute_async_v3 reads and writes."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.3.0.30"
    trt.calls = []  # (what, detail) in order: lets tests see what the code asked of "TensorRT"

    class ILogger:
        Severity = _enum("Severity", "INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE")

        def __init__(self) -> None:
            pass

    def error(logger: Any, msg: str) -> None:
        logger.log(ILogger.Severity.ERROR, msg)

    class IProgressMonitor:
        def __init__(self) -> None:
            pass

    trt.ILogger = ILogger
    trt.IProgressMonitor = IProgressMonitor
    trt.NetworkDefinitionCreationFlag = type("NetworkDefinitionCreationFlag", (), {"STRONGLY_TYPED": _Enum("STRONGLY_TYPED", 1)})
    trt.BuilderFlag = _enum("BuilderFlag", "FP16", "BF16", "INT8", "DEBUG", "GPU_FALLBACK", "REFIT",
                            "PREFER_PRECISION_CONSTRAINTS", "OBEY_PRECISION_CONSTRAINTS")
    trt.MemoryPoolType = _enum("MemoryPoolType", "WORKSPACE")
    trt.LayerType = _enum("LayerType", "OTHER", "QUANTIZE", "DEQUANTIZE")
    trt.DeviceType = _enum("DeviceType", "GPU", "DLA")
    trt.TensorIOMode = _enum("TensorIOMode", "NONE", "INPUT", "OUTPUT")
    trt.float32 = _Enum("DataType.FLOAT", 0)
    trt.nptype = lambda dtype: np.float32
    trt.init_libnvinfer_plugins = lambda logger, namespace: True

    class IInt8Calibrator:
        def __init__(self) -> None:
            pass

    trt.IInt8EntropyCalibrator2 = type("IInt8EntropyCalibrator2", (IInt8Calibrator,), {})
    trt.IInt8MinMaxCalibrator = type("IInt8MinMaxCalibrator", (IInt8Calibrator,), {})

    # network and parser ------------------------------------------------------------------------

    class Tensor:
        def __init__(self, name: str, shape: list[int]) -> None:
            self.name, self.shape, self.dtype = name, shape, trt.float32

    class Layer:
        def __init__(self, op: str, name: str = "", num_outputs: int = 1) -> None:
            self.type = {"QuantizeLinear": trt.LayerType.QUANTIZE, "DequantizeLinear": trt.LayerType.DEQUANTIZE}.get(op, trt.LayerType.OTHER)
            self.name, self.num_outputs, self.precision = name, num_outputs, None
            self.output_types: dict[int, Any] = {}

        def set_output_type(self, index: int, dtype: Any) -> None:
            if not 0 <= index < self.num_outputs:
                raise IndexError(f"layer {self.name} has {self.num_outputs} outputs")
            self.output_types[index] = dtype

    class Network:
        def __init__(self, flags: int) -> None:
            self.strongly_typed = bool(flags & (1 << 1))
            self.inputs: list[Tensor] = []
            self.outputs: list[Tensor] = []
            self.layers: list[Layer] = []
            self.onnx: str | None = None

        num_inputs = property(lambda self: len(self.inputs))
        num_outputs = property(lambda self: len(self.outputs))
        num_layers = property(lambda self: len(self.layers))

        def get_input(self, i: int) -> Tensor:
            return self.inputs[i]

        def get_output(self, i: int) -> Tensor:
            return self.outputs[i]

        def get_layer(self, i: int) -> Layer:
            return self.layers[i]

    class OnnxParser:
        def __init__(self, network: Network, logger: Any) -> None:
            self.network, self.errors = network, []

        def parse_from_file(self, path: str) -> bool:
            import onnx

            try:
                graph = onnx.load(path).graph
            except Exception as e:  # noqa: BLE001
                self.errors.append(f"failed to parse ONNX: {type(e).__name__}")
                return False

            def dims(vi: Any) -> list[int]:
                return [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]

            inits = {t.name for t in graph.initializer}
            self.network.inputs = [Tensor(i.name, dims(i)) for i in graph.input if i.name not in inits]
            self.network.outputs = [Tensor(o.name, dims(o)) for o in graph.output]
            self.network.layers = [Layer(n.op_type, n.name, len(n.output)) for n in graph.node]
            self.network.onnx = str(path)
            return True

        num_errors = property(lambda self: len(self.errors))

        def get_error(self, i: int) -> str:
            return self.errors[i]

    trt.OnnxParser = OnnxParser

    # builder -----------------------------------------------------------------------------------

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

        def set_shape(self, name: str, lo: Any, opt: Any, hi: Any) -> None:
            self.shapes[name] = (tuple(lo), tuple(opt), tuple(hi))

    class TimingCache:
        def __init__(self, device_name: str) -> None:
            self.device_name = device_name

        def serialize(self) -> bytes:
            return TIMING_MAGIC + self.device_name.encode()

    class Config:
        def __init__(self, logger: Any) -> None:
            self.logger = logger
            self.flags: set[str] = set()
            self.profiles: list[Profile] = []
            self.calibration_profile: Profile | None = None
            self.int8_calibrator: Any = None
            self.default_device_type = trt.DeviceType.GPU
            self.DLA_core = -1
            self.progress_monitor: Any = None
            self.timing_cache: TimingCache | None = None

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            pass

        def set_flag(self, flag: _Enum) -> None:
            self.flags.add(flag.name.split(".")[-1])

        def add_optimization_profile(self, profile: Profile) -> int:
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def set_calibration_profile(self, profile: Profile) -> bool:
            self.calibration_profile = profile
            return True

        def create_timing_cache(self, data: bytes) -> TimingCache | None:
            data = bytes(data)
            trt.calls.append(("create_timing_cache", len(data)))
            if not data:
                return TimingCache(device)
            if not data.startswith(TIMING_MAGIC):
                error(self.logger, "Failed to deserialize the timing cache: corrupted or unknown format")
                return None  # createTimingCache returned nullptr
            return TimingCache(data[len(TIMING_MAGIC):].decode(errors="replace"))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            if not isinstance(cache, TimingCache):
                raise TypeError("set_timing_cache(): incompatible function arguments")
            if cache.device_name != device and not ignore_mismatch:
                return False
            self.timing_cache = cache
            return True

        def get_timing_cache(self) -> TimingCache | None:
            return self.timing_cache

    def trampoline(fn: Any, *args: Any) -> Any:
        """pyInt8.cpp: every exception from a Python calibrator method is caught and printed."""
        try:
            return fn(*args)
        except BaseException:  # noqa: BLE001 - exactly what the C++ trampoline does
            return None

    class Builder:
        def __init__(self, logger: Any) -> None:
            self.logger = logger
            self.num_DLA_cores = num_dla_cores

        def create_network(self, flags: int = 0) -> Network:
            return Network(int(flags))

        def create_builder_config(self) -> Config:
            return Config(self.logger)

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes | None:
            trt.calls.append(("build", {"strongly_typed": network.strongly_typed, "flags": sorted(config.flags)}))
            has_qdq = any(layer.type == trt.LayerType.QUANTIZE for layer in network.layers)
            if network.strongly_typed and config.flags & {"FP16", "INT8", "BF16"}:
                error(self.logger, "BuilderFlag::kFP16/kINT8 are not allowed with a strongly typed network")
                return None
            if has_qdq and not network.strongly_typed and "INT8" not in config.flags:
                error(self.logger, "Network has Q/DQ layers but BuilderFlag::kINT8 is not set")
                return None
            profile: dict[str, Any] = {}
            for t in network.inputs:
                if t.shape and t.shape[0] == -1:
                    if not config.profiles or t.name not in config.profiles[0].shapes:
                        error(self.logger, f"{t.name}: dynamic input needs an optimization profile")
                        return None
                    profile[t.name] = [list(s) for s in config.profiles[0].shapes[t.name]]
                else:
                    profile[t.name] = [list(t.shape)] * 3
            monitor = config.progress_monitor
            if monitor is not None:
                monitor.phase_start("Building engine", None, 2)
                for step in range(2):
                    if not monitor.step_complete("Building engine", step):
                        error(self.logger, "build cancelled by the progress monitor")
                        return None
                monitor.phase_finish("Building engine")
            calibrated = None
            if "INT8" in config.flags and not has_qdq:
                calibrated = self._calibrate(network, config)
                if calibrated is None:
                    return None
            dla = config.DLA_core if config.default_device_type == trt.DeviceType.DLA else None
            pinned = {layer.name: str(layer.precision) for layer in network.layers if layer.precision is not None}
            blob = {"magic": MAGIC, "onnx": network.onnx, "fp32_layers": pinned, "inputs": {t.name: t.shape for t in network.inputs},
                    "outputs": {t.name: t.shape for t in network.outputs}, "profile": profile, "dla_core": dla,
                    "strongly_typed": network.strongly_typed, "flags": sorted(config.flags), "calibrated": calibrated}
            return json.dumps(blob).encode()

        def _calibrate(self, network: Network, config: Config) -> dict[str, Any] | None:
            cal = config.int8_calibrator
            if cal is None:
                error(self.logger, "INT8 without Q/DQ layers needs a calibrator")
                return None
            batch = trampoline(cal.get_batch_size)
            cache = trampoline(cal.read_calibration_cache)
            if cache:
                trt.calls.append(("calibration", "from cache"))
                return {"batches": 0, "from_cache": True}
            names = [t.name for t in network.inputs]
            n = 0
            while trampoline(cal.get_batch, names):  # None or an exception both mean "no more data"
                n += 1
            trt.calls.append(("calibration", n))
            trampoline(cal.write_calibration_cache, f"FAKE-CALIBRATION batch {batch} batches {n}\n".encode())
            return {"batches": n, "from_cache": False}

    trt.Builder = Builder

    # runtime -----------------------------------------------------------------------------------

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine = engine
            self.shapes: dict[str, tuple[int, ...]] = {}
            self.addresses: dict[str, int] = {}
            self.executed: list[tuple[int, ...]] = []

        def set_input_shape(self, name: str, shape: Any) -> bool:
            shape = tuple(int(d) for d in shape)
            lo, _, hi = (tuple(s) for s in self.engine.blob["profile"][name])
            ok = len(shape) == len(lo) and all(a <= d <= b for a, d, b in zip(lo, shape, hi))
            trt.calls.append(("set_input_shape", shape, ok))
            if not ok:
                error(self.engine.logger, f"IExecutionContext::setInputShape: {name} {list(shape)} is outside the profile "
                                          f"{list(lo)}..{list(hi)}")
                return False
            self.shapes[name] = shape
            return True

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            if name in self.engine.inputs:
                return self.shapes.get(name, tuple(self.engine.inputs[name]))
            batch = next(iter(self.shapes.values()), (-1,))[0]
            return tuple(batch if d == -1 else d for d in self.engine.outputs[name])

        def set_tensor_address(self, name: str, ptr: int) -> bool:
            self.addresses[name] = int(ptr)
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            import onnxruntime as ort

            if memory is None:
                raise AssertionError("make_fake_trt(memory=...) is needed to execute")
            (name,) = self.engine.inputs
            shape = self.shapes[name]
            self.executed.append(shape)
            x = memory.read(self.addresses[name], np.float32, shape)
            session = ort.InferenceSession(self.engine.blob["onnx"], providers=["CPUExecutionProvider"])
            for out, value in zip(self.engine.outputs, session.run(list(self.engine.outputs), {name: x})):
                memory.write(self.addresses[out], np.ascontiguousarray(value, np.float32))
            return True

    class Engine:
        def __init__(self, blob: dict[str, Any], logger: Any, dla_core: int) -> None:
            self.blob, self.logger = blob, logger
            self.inputs, self.outputs = blob["inputs"], blob["outputs"]
            self.names = [*self.inputs, *self.outputs]
            self.runs_on_dla_core = dla_core if blob["dla_core"] is not None else None

        num_io_tensors = property(lambda self: len(self.names))

        def get_tensor_name(self, i: int) -> str:
            return self.names[i]

        def get_tensor_mode(self, name: str) -> Any:
            return trt.TensorIOMode.INPUT if name in self.inputs else trt.TensorIOMode.OUTPUT

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return tuple(self.inputs.get(name) or self.outputs[name])

        def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple[int, ...]]:
            return [tuple(s) for s in self.blob["profile"][name]]

        def get_tensor_dtype(self, name: str) -> Any:
            return trt.float32

        def create_execution_context(self) -> Context:
            ctx = Context(self)
            trt.contexts.append(ctx)
            return ctx

    class Runtime:
        def __init__(self, logger: Any) -> None:
            self.logger = logger
            self.DLA_core = 0  # IRuntime's default: DLA core 0

        def deserialize_cuda_engine(self, blob: bytes) -> Engine | None:
            try:
                data = json.loads(bytes(blob))
                assert data["magic"] == MAGIC
            except Exception:  # noqa: BLE001
                error(self.logger, "1: [stdArchiveReader.cpp::StdArchiveReader::32] Error Code 1: Serialization "
                                   "(Serialization assertion magicTagRead == kMAGIC_TAG failed.Magic tag does not match)")
                return None
            engine = Engine(data, self.logger, self.DLA_core)
            trt.engines.append(engine)
            return engine

    trt.Runtime = Runtime
    trt.engines = []
    trt.contexts = []
    return trt


def engine_blob(path: str | Path) -> dict[str, Any]:
    """What the fake builder recorded in an engine file (flags, profile, DLA core, calibration)."""
    return json.loads(Path(path).read_bytes())
