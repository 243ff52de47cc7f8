"""Build a TensorRT 10.x engine from any ONNX file (a classifier, a face detector, ...).

    build_engine("fsrfer.onnx", "fsrfer.engine", precision="fp16", min_batch=1, opt_batch=8, max_batch=32)

writes ``fsrfer.engine`` and its sidecar ``fsrfer.engine.json`` (see ``edgefer.engine.sidecar``),
both atomically: on any failure neither is left behind.

Precision:
    fp32             weakly typed network, no precision flags (TF32 stays allowed where the GPU has it).
    fp16             weakly typed network + BuilderFlag.FP16.
    int8 / qdq       a Q/DQ ONNX in a STRONGLY_TYPED network: TensorRT follows the graph's types,
                     so layers outside Q/DQ pairs run in the ONNX's float type (FP32 islands).
                     STRONGLY_TYPED forbids the FP16/INT8 flags. Future-proof path.
    int8 / qdq-fp16  the same Q/DQ ONNX in a weakly typed network with BuilderFlag.INT8 + FP16: the
                     Q/DQ pairs stay INT8 and the float parts may run in FP16 (on Orin, benchmark this
                     mode first: docs/jetson.md).
    int8 / implicit  weakly typed + BuilderFlag.INT8 (+ FP16 for the layers INT8 cannot take) and an
                     IInt8 calibrator (``edgefer.engine.calibrator``). Deprecated since TensorRT 10.1,
                     but the only INT8 route onto the DLA in JetPack 6.

Only API present in TensorRT 10.0-10.x is used (no build_engine/max_workspace_size/bindings).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgefer.engine.cuda_mem import DeviceMemory, device_memory
from edgefer.engine.sidecar import (
    INT8_MODES,
    PRECISIONS,
    check_batches,
    engine_sidecar,
    profile_dict,
    profile_shapes,
    sidecar_path,
)
from edgefer.engine.trt_import import import_tensorrt, init_plugins, make_trt_logger, one_line
from edgefer.errors import EdgeferError
from edgefer.fileio import atomic_pair, atomic_path, sha256_file
from edgefer.progress import bar

log = logging.getLogger(__name__)

ENGINE_SUFFIXES = (".engine", ".plan")


def check_build_args(out_path: Path, precision: str, int8_mode: str, min_batch: int, opt_batch: int,
                     max_batch: int, workspace_mb: int, dla_core: int | None, calibrator: Any) -> None:
    """Every check that needs no TensorRT, so a bad flag fails fast (one line) on any machine."""
    if out_path.suffix.lower() not in ENGINE_SUFFIXES:
        raise EdgeferError(f"{out_path}: an engine file must end in {' or '.join(ENGINE_SUFFIXES)}")
    if precision not in PRECISIONS:
        raise EdgeferError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if int8_mode not in INT8_MODES:
        raise EdgeferError(f"unknown int8 mode {int8_mode!r}; expected one of {', '.join(INT8_MODES)}")
    check_batches(min_batch, opt_batch, max_batch)
    if not isinstance(workspace_mb, int) or workspace_mb < 1:
        raise EdgeferError(f"workspace must be a positive number of MiB, got {workspace_mb!r}")
    implicit = precision == "int8" and int8_mode == "implicit"
    if dla_core is not None:
        if not isinstance(dla_core, int) or dla_core < 0:
            raise EdgeferError(f"DLA core must be a non-negative integer, got {dla_core!r}")
        if precision == "fp32":
            raise EdgeferError("the DLA runs fp16 or int8 only: use --precision fp16 or int8 with --dla")
        if precision == "int8" and not implicit:
            raise EdgeferError("int8 on the DLA needs --int8-mode implicit (calibration); JetPack 6's DLA takes no Q/DQ graphs")
        if min_batch != max_batch:
            # A dynamic batch sends every DLA layer to the GPU, while the sidecar would still record a DLA core.
            raise EdgeferError(f"the DLA needs a fixed batch (min = opt = max), got {min_batch}/{opt_batch}/{max_batch}: "
                               f"pass --min-batch N --opt-batch N --max-batch N")
    if implicit and calibrator is None:
        raise EdgeferError("int8 implicit calibration needs calibration faces or a calibration cache (a calibrator)")
    if calibrator is not None and not implicit:
        raise EdgeferError("a calibrator is only used with --precision int8 --int8-mode implicit")


def format_parser_error(err: Any) -> str:
    """One line for a ``trt.IParserError``: "<op> 'node name' (node 3): description"."""

    def get(name: str) -> Any:
        attr = getattr(err, name, None)
        try:
            return attr() if callable(attr) else attr
        except Exception:  # noqa: BLE001 - a missing accessor only loses detail
            return None

    desc = one_line(get("desc") or err)
    where = [str(x) for x in (get("node_operator"), repr(get("node_name")) if get("node_name") else None) if x]
    node = get("node")
    if isinstance(node, int) and node >= 0:
        where.append(f"(node {node})")
    return f"{' '.join(where)}: {desc}" if where else desc


class PhaseBars:
    """Build progress as one tqdm bar per TensorRT phase (nested phases indented). No TensorRT here.

    TensorRT calls these from its own threads, hence the lock. ``cancel()`` (e.g. on Ctrl-C) makes the
    next ``step`` return False, which asks TensorRT to stop the build.
    """

    def __init__(self, make_bar: Callable[..., Any] = bar) -> None:
        self.make_bar = make_bar
        self.bars: dict[str, Any] = {}
        self.depth: dict[str, int] = {}
        self.cancelled = False
        self._lock = threading.Lock()

    def start(self, phase: str, parent: str | None, num_steps: int) -> None:
        with self._lock:
            depth = self.depth.get(parent, -1) + 1 if parent else 0
            self.depth[phase] = depth
            self.bars[phase] = self.make_bar(max(int(num_steps), 1), "  " * depth + phase)

    def step(self, phase: str, step: int) -> bool:
        with self._lock:
            b = self.bars.get(phase)
            if b is not None:
                b.update(max(step + 1 - b.n, 0))  # step is 0-based: step + 1 steps are done
            return not self.cancelled

    def finish(self, phase: str) -> None:
        with self._lock:
            b = self.bars.pop(phase, None)
            self.depth.pop(phase, None)
            if b is not None:
                b.close()

    def cancel(self) -> None:
        self.cancelled = True

    def close(self) -> None:
        with self._lock:
            for b in self.bars.values():
                b.close()
            self.bars.clear()


def make_progress_monitor(trt: Any, bars: PhaseBars) -> Any:
    """A ``trt.IProgressMonitor`` driving ``bars`` (TensorRT >= 10.0 has it)."""

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            try:
                bars.start(phase_name, parent_phase, num_steps)
            except KeyboardInterrupt:
                bars.cancel()  # only step_complete can stop the build: ask there

        def step_complete(self, phase_name: str, step: int) -> bool:
            try:
                return bars.step(phase_name, step)
            except KeyboardInterrupt:
                bars.cancel()
                return False

        def phase_finish(self, phase_name: str) -> None:
            try:
                bars.finish(phase_name)
            except KeyboardInterrupt:
                bars.cancel()

    return Monitor()


def _parse(trt: Any, network: Any, logger: Any, onnx_path: Path) -> Any:
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [format_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
        for e in errors:  # every error, one per line; the exception carries the first
            log.error("ONNX parser: %s", e)
        first = errors[0] if errors else "no detail from the parser"
        raise EdgeferError(f"{onnx_path}: TensorRT cannot parse this ONNX ({len(errors)} error(s); first: {first})")
    return parser  # keep alive: the network references weights the parser owns


def _set_profiles(builder: Any, config: Any, network: Any, min_batch: int, opt_batch: int, max_batch: int,
                  calib_batch: int | None) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Add the batch profile for every input whose dim 0 is dynamic; returns (profile, inputs)."""
    inputs = {}
    dynamic = []
    for i in range(network.num_inputs):
        t = network.get_input(i)
        shape = [int(d) for d in t.shape]
        inputs[t.name] = shape
        if not shape:
            continue  # a scalar input has no batch axis
        if shape[0] == -1:
            dynamic.append(t.name)
        elif any(d < 0 for d in shape[1:]):
            raise EdgeferError(f"input {t.name!r} has shape {shape}: only the batch axis may be dynamic; export with a fixed size")
    if not dynamic:
        static = [s[0] for s in inputs.values() if s]
        b = static[0] if static else 1
        if calib_batch and calib_batch != b:
            raise EdgeferError(f"the ONNX has a fixed batch of {b}: calibrate with batch size {b}, not {calib_batch}")
        if (min_batch, opt_batch, max_batch) != (b, b, b):
            log.info("the ONNX has a fixed batch of %d: the batch profile is ignored", b)
        return profile_dict(b, b, b), inputs
    profile = builder.create_optimization_profile()
    calib = builder.create_optimization_profile() if calib_batch else None
    for name in dynamic:
        try:
            lo, opt, hi = profile_shapes(inputs[name][1:], min_batch, opt_batch, max_batch)
        except EdgeferError as e:
            raise EdgeferError(f"input {name!r}: {e}") from None
        profile.set_shape(name, lo, opt, hi)
        log.info("profile %s: min %s opt %s max %s", name, lo, opt, hi)
        if calib is not None:
            # Calibration runs at the calibrator's fixed batch, not at the inference profile's opt.
            fixed = (calib_batch, *inputs[name][1:])
            calib.set_shape(name, fixed, fixed, fixed)
    config.add_optimization_profile(profile)
    if calib is not None:
        config.set_calibration_profile(calib)
    return profile_dict(min_batch, opt_batch, max_batch), inputs


def _has_qdq(trt: Any, network: Any) -> bool:
    quantize = getattr(trt.LayerType, "QUANTIZE", None)
    return any(network.get_layer(i).type == quantize for i in range(network.num_layers))


def _set_precision(trt: Any, config: Any, network: Any, precision: str, int8_mode: str, calibrator: Any,
                   onnx_name: str = "the ONNX") -> None:
    qdq_mode = precision == "int8" and int8_mode in ("qdq", "qdq-fp16")
    has_qdq = _has_qdq(trt, network)
    if has_qdq and not qdq_mode:
        # TensorRT would fail deep inside the build; say which mode takes this graph instead.
        raise EdgeferError(f"{onnx_name} is a Q/DQ INT8 graph: build it with --precision int8 --int8-mode qdq-fp16 "
                           f"(or qdq); --precision {precision}{' --int8-mode implicit' if precision == 'int8' else ''} "
                           f"takes the FP32 ONNX")
    if qdq_mode and not has_qdq:
        raise EdgeferError(f"--int8-mode {int8_mode} needs an ONNX with QuantizeLinear/DequantizeLinear nodes; "
                           "quantize it first (`edgefer calibrate`), or use --int8-mode implicit with calibration faces")
    if qdq_mode and int8_mode == "qdq":
        return  # strongly typed: the graph's own types decide; precision flags are not allowed
    needed = {"fp32": [], "fp16": ["FP16"], "int8": ["INT8", "FP16"]}[precision]
    for flag in needed:
        if not hasattr(trt.BuilderFlag, flag):
            raise EdgeferError(f"TensorRT {trt.__version__} has no BuilderFlag.{flag}: use a Q/DQ or fp16-typed ONNX")
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if needed:
        _keep_router_fp32(trt, config, network)
    if precision == "int8" and int8_mode == "implicit":
        if network.num_inputs != 1 or network.get_input(0).dtype != trt.float32:
            raise EdgeferError("int8 calibration feeds one float32 input; this network has another signature")
        config.int8_calibrator = calibrator


ROUTER_PREFIX = "/score/"  # the ONNX node names of a routed model's detail score (edgefer.models.gate)


def _keep_router_fp32(trt: Any, config: Any, network: Any) -> int:
    """Ask for FP32 in a routed graph's detail score: it decides which model each face takes, and reduced
    precision would move faces across the threshold. The score is built to stay finite in FP16 too
    (TensorRT may not honour the request: NVIDIA/TensorRT#3941); PREFER, not OBEY, so a layer TensorRT
    cannot run in FP32 still builds. Returns the number of layers pinned."""
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.name.startswith(ROUTER_PREFIX):
            layer.precision = trt.float32
            for j in range(layer.num_outputs):
                layer.set_output_type(j, trt.float32)
            pinned += 1
    if pinned:
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
        log.info("routed graph: %d router layers kept in FP32", pinned)
    return pinned


def _set_dla(trt: Any, builder: Any, config: Any, dla_core: int, min_batch: int, max_batch: int) -> None:
    cores = int(builder.num_DLA_cores)
    if dla_core >= cores:
        raise EdgeferError(f"DLA core {dla_core} asked for, this device has {cores} DLA core(s)" + ("" if cores else ": run on the GPU (no --dla-core)"))
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = dla_core
    config.set_flag(trt.BuilderFlag.GPU_FALLBACK)  # layers the DLA cannot run go to the GPU
    if min_batch != max_batch:  # check_build_args refuses this; a static ONNX has min = max anyway
        raise EdgeferError(f"the DLA needs a fixed batch (min = opt = max), got min {min_batch}, max {max_batch}")


def _try_timing_cache(config: Any, data: bytes) -> tuple[Any, str | None]:
    """(cache, None) when TensorRT took ``data``, else (None, why).

    TensorRT 10.3's ``create_timing_cache`` returns None (nullptr) for bytes it cannot read, and
    ``set_timing_cache`` returns False for a cache from another device or TensorRT.
    """
    try:
        cache = config.create_timing_cache(data)
        if cache is None:
            return None, "TensorRT cannot read it"
        if not config.set_timing_cache(cache, False):  # ignore_mismatch=False: refuse another GPU's timings
            return None, "it was made on another device or TensorRT"
        return cache, None
    except Exception as e:  # noqa: BLE001 - a cache is an optimisation: never fail the build over it
        return None, one_line(e)


def _load_timing_cache(config: Any, path: Path | None) -> Any:
    """Load ``path`` into ``config``; an unreadable or foreign cache is replaced by a fresh one, with a warning."""
    data = b""
    if path is not None and path.is_file():
        try:
            data = path.read_bytes()
        except OSError as e:
            log.warning("cannot read timing cache %s (%s): starting a fresh one", path, e.strerror or e)
    if data:
        cache, why = _try_timing_cache(config, data)
        if cache is not None:
            log.info("loaded timing cache %s", path)
            return cache
        log.warning("timing cache %s is not usable (%s): starting a fresh one", path, why)
    cache, why = _try_timing_cache(config, b"")
    if cache is None:
        log.warning("TensorRT could not create a timing cache (%s): building without one", why)
    return cache


def _save_timing_cache(config: Any, path: Path) -> None:
    try:
        data = bytes(memoryview(config.get_timing_cache().serialize()))
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        log.info("saved timing cache %s", path)
    except (OSError, EdgeferError, AttributeError) as e:  # a cache is an optimisation: never fail the build
        log.warning("could not save timing cache %s: %s", path, one_line(e))


def build_engine(onnx_path: str | Path, out_path: str | Path, precision: str = "fp16", int8_mode: str = "qdq",
                 min_batch: int = 1, opt_batch: int = 8, max_batch: int = 32, workspace_mb: int = 1024,
                 timing_cache: str | Path | None = None, dla_core: int | None = None, calibrator: Any = None,
                 progress: bool = True, extra: dict[str, Any] | None = None,
                 memory: DeviceMemory | None = None) -> Path:
    """Build ``out_path`` (.engine/.plan) and its sidecar from ``onnx_path``; returns ``out_path``.

    Batch profile: for every input whose dim 0 is -1, (min_batch, *rest) .. (max_batch, *rest) with
    kernels tuned for opt_batch. ``extra`` goes into the sidecar (e.g. {"classes": [...]}).
    Raises EdgeferError (one line) for bad arguments, missing TensorRT/CUDA, an ONNX TensorRT cannot
    parse, or a failed build; all parser errors are logged one per line.
    """
    batcher = getattr(calibrator, "batcher", None)
    try:
        return _build_engine(onnx_path, out_path, precision, int8_mode, min_batch, opt_batch, max_batch, workspace_mb,
                             timing_cache, dla_core, calibrator, progress, extra, memory)
    finally:
        if batcher is not None:
            batcher.close()  # the calibrator's device buffer, whatever happened (safe to call twice)


def _build_engine(onnx_path: str | Path, out_path: str | Path, precision: str, int8_mode: str, min_batch: int,
                  opt_batch: int, max_batch: int, workspace_mb: int, timing_cache: str | Path | None,
                  dla_core: int | None, calibrator: Any, progress: bool, extra: dict[str, Any] | None,
                  memory: DeviceMemory | None) -> Path:
    onnx_path, out_path = Path(onnx_path), Path(out_path)
    check_build_args(out_path, precision, int8_mode, min_batch, opt_batch, max_batch, workspace_mb, dla_core, calibrator)
    if not onnx_path.is_file():
        raise EdgeferError(f"{onnx_path}: no such ONNX file")
    timing_path = Path(timing_cache) if timing_cache else None
    onnx_sha256 = sha256_file(onnx_path)

    trt = import_tensorrt()
    memory = memory or device_memory()  # also makes the primary CUDA context current, before TensorRT
    device_name, compute_capability = memory.device_info()
    logger = make_trt_logger(trt)
    init_plugins(trt, logger)
    try:
        builder = trt.Builder(logger)
    except TypeError as e:  # "factory function returned nullptr": no usable GPU
        raise EdgeferError(f"TensorRT could not create a builder ({one_line(e)}): is a CUDA GPU visible?") from None

    strongly_typed = precision == "int8" and int8_mode == "qdq"
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    network = builder.create_network(flags)
    parser = _parse(trt, network, logger, onnx_path)  # noqa: F841 - must outlive the build

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    calib_batch = int(calibrator.get_batch_size()) if calibrator is not None else None
    profile, inputs = _set_profiles(builder, config, network, min_batch, opt_batch, max_batch, calib_batch)
    _set_precision(trt, config, network, precision, int8_mode, calibrator, onnx_path.name)
    if dla_core is not None:
        _set_dla(trt, builder, config, dla_core, profile["min"], profile["max"])
    timing = _load_timing_cache(config, timing_path)

    bars = PhaseBars()
    monitor = None
    if progress and hasattr(trt, "IProgressMonitor"):
        monitor = make_progress_monitor(trt, bars)
        config.progress_monitor = monitor
    else:
        log.info("building %s engine from %s (minutes on a Jetson)...", precision, onnx_path.name)
    batcher = getattr(calibrator, "batcher", None)  # closed by build_engine, whatever happens
    try:
        plan = builder.build_serialized_network(network, config)
    finally:
        bars.close()
    if bars.cancelled:
        raise KeyboardInterrupt
    if batcher is not None and batcher.interrupted is not None:
        raise batcher.interrupted  # Ctrl-C during calibration: no engine (and no cache) from part of the data
    failed = getattr(batcher, "failed", None)
    if failed:
        raise EdgeferError(f"{onnx_path}: INT8 calibration failed ({failed})")
    if plan is None:
        last = f": {one_line(logger.errors[-1])}" if logger.errors else " (see the TensorRT errors above)"
        raise EdgeferError(f"{onnx_path}: TensorRT could not build a {precision} engine{last}")

    outputs = {network.get_output(i).name: [int(d) for d in network.get_output(i).shape] for i in range(network.num_outputs)}
    blob = memoryview(plan)
    side = engine_sidecar(onnx_sha256, trt.__version__, device_name, compute_capability, precision, int8_mode,
                          profile, dla_core, inputs, outputs, onnx_path, extra)
    if batcher is not None:  # which ONNX, calibration set and batch the INT8 scales came from
        side["calibration"] = {**batcher.cache_key, "cache": str(batcher.cache_path) if batcher.cache_path else None}
    side["engine_sha256"] = hashlib.sha256(blob).hexdigest()
    side["engine_bytes"] = blob.nbytes
    with atomic_pair(out_path, sidecar_path(out_path)) as (engine_tmp, sidecar_tmp):  # one set, never half of it
        engine_tmp.write_bytes(blob)
        sidecar_tmp.write_text(json.dumps(side, indent=2) + "\n")
    if timing_path is not None and timing is not None:
        _save_timing_cache(config, timing_path)
    del monitor
    log.info("wrote %s (%.1f MB) and %s", out_path, blob.nbytes / 1e6, sidecar_path(out_path).name)
    return out_path
