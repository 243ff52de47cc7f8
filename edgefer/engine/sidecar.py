"""The JSON sidecar written next to every engine (``<engine>.json``), and the checks made with it.

A TensorRT engine only runs under the TensorRT version and on the GPU it was built for. The sidecar
records what it was built from and for, so a mismatch is reported as one line that says "rebuild"
before TensorRT fails with a "Magic tag" / "Version tag" error:

    format, version, onnx_sha256, trt_version, device_name, compute_capability, precision,
    int8_mode, profile {min, opt, max} (batch), dla_core, inputs {name: shape}, outputs {name: shape},
    cache_key, engine_sha256, engine_bytes, edgefer_version, built_at, + extra fields
    (``classes`` from build-engine; ``calibration`` {onnx_sha256, calib_sha256, batch, method, digest,
    cache} for implicit INT8)

Shapes are lists with -1 for the dynamic batch axis, e.g. inputs {"faces": [-1, 1, 48, 48]}.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from edgefer import __version__
from edgefer.errors import EdgeferError
from edgefer.fileio import write_json

FORMAT = "edgefer-trt-engine"
VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")
INT8_MODES = ("qdq", "qdq-fp16", "implicit")
REBUILD = "rebuild it with `edgefer build-engine`"


class EngineMismatch(EdgeferError):
    """An engine that cannot run here (other TensorRT, other GPU, unreadable): it must be rebuilt."""


def sidecar_path(engine_path: str | Path) -> Path:
    """``x.engine`` -> ``x.engine.json``."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def check_batches(min_batch: int, opt_batch: int, max_batch: int) -> None:
    """Raise EdgeferError (one line) unless 1 <= min <= opt <= max."""
    values = (min_batch, opt_batch, max_batch)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise EdgeferError(f"batch sizes must be integers, got min={min_batch!r} opt={opt_batch!r} max={max_batch!r}")
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise EdgeferError(f"batch sizes must satisfy 1 <= min <= opt <= max, got min={min_batch} opt={opt_batch} max={max_batch}")


def profile_shapes(input_shape: tuple[int, ...] | list[int], min_batch: int, opt_batch: int,
                   max_batch: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Optimization-profile shapes over the batch axis.

    ``input_shape`` is one sample's shape without the batch axis, e.g. (1, 48, 48); returns
    ((min, 1, 48, 48), (opt, 1, 48, 48), (max, 1, 48, 48)). Raises EdgeferError (one line) on bad
    batch sizes or a non-positive sample dimension (a dynamic H/W cannot be profiled here).
    """
    check_batches(min_batch, opt_batch, max_batch)
    rest = tuple(int(d) for d in input_shape)
    if any(d <= 0 for d in rest):
        raise EdgeferError(f"input shape {list(rest)} (after the batch axis) must be fully known; export the ONNX with a fixed size")
    return (min_batch, *rest), (opt_batch, *rest), (max_batch, *rest)


def profile_dict(min_batch: int, opt_batch: int, max_batch: int) -> dict[str, int]:
    return {"min": int(min_batch), "opt": int(opt_batch), "max": int(max_batch)}


def engine_cache_key(onnx_sha256: str, trt_version: str, device_name: str, precision: str,
                     profile: dict[str, int], dla_core: int | None, int8_mode: str | None = None,
                     compute_capability: str | None = None) -> str:
    """sha256 hex over everything that makes an engine differ: change any field, get another key."""
    fields = {
        "onnx_sha256": onnx_sha256,
        "trt_version": str(trt_version),
        "device_name": str(device_name),
        "compute_capability": compute_capability,
        "precision": precision,
        # int8_mode only matters for int8; normalise so fp16 engines don't differ by an unused flag
        "int8_mode": int8_mode if precision == "int8" else None,
        "profile": {k: int(profile[k]) for k in ("min", "opt", "max")},
        "dla_core": dla_core,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def engine_sidecar(onnx_sha256: str, trt_version: str, device_name: str, compute_capability: str,
                   precision: str, int8_mode: str | None, profile: dict[str, int], dla_core: int | None,
                   inputs: dict[str, list[int]], outputs: dict[str, list[int]] | None = None,
                   onnx_path: str | Path | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sidecar dict for an engine (engine_sha256/engine_bytes are added by the builder)."""
    if precision not in PRECISIONS:
        raise EdgeferError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    int8_mode = int8_mode if precision == "int8" else None
    side: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "onnx": Path(onnx_path).name if onnx_path else None,
        "onnx_sha256": onnx_sha256,
        "trt_version": str(trt_version),
        "device_name": str(device_name),
        "compute_capability": str(compute_capability),
        "precision": precision,
        "int8_mode": int8_mode,
        "profile": profile_dict(profile["min"], profile["opt"], profile["max"]),
        "dla_core": dla_core,
        "inputs": {k: [int(d) for d in v] for k, v in inputs.items()},
        "outputs": {k: [int(d) for d in v] for k, v in (outputs or {}).items()},
        "cache_key": engine_cache_key(onnx_sha256, trt_version, device_name, precision, profile, dla_core,
                                      int8_mode, str(compute_capability)),
        "edgefer_version": __version__,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    side.update(extra or {})
    return side


def write_sidecar(engine_path: str | Path, sidecar: dict[str, Any]) -> Path:
    """Write ``<engine>.json`` atomically; returns its path."""
    path = sidecar_path(engine_path)
    write_json(path, sidecar)
    return path


def read_sidecar(engine_path: str | Path) -> dict[str, Any] | None:
    """The sidecar of ``engine_path``, or None when there is none (e.g. an engine made by trtexec).

    Raises EngineMismatch (one line) when it exists but is not an edgefer engine sidecar.
    """
    path = sidecar_path(engine_path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EngineMismatch(f"{path}: unreadable engine sidecar ({type(e).__name__}); {REBUILD}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EngineMismatch(f"{path}: not an edgefer engine sidecar; {REBUILD}")
    if data.get("version", 0) > VERSION:
        raise EngineMismatch(f"{path}: sidecar version {data.get('version')} is newer than this edgefer reads ({VERSION}); upgrade edgefer or {REBUILD}")
    return data


def _where(trt_version: str, device_name: str, compute_capability: str) -> str:
    return f"TensorRT {trt_version} on {device_name} (compute {compute_capability})"


def check_sidecar(sidecar: dict[str, Any], trt_version: str, device_name: str, compute_capability: str,
                  engine_path: str | Path) -> None:
    """Raise EngineMismatch (one line, says "rebuild") unless the engine was built for this TensorRT and GPU.

    TensorRT versions must match exactly (engines are not portable across versions, even patch
    releases, unless built version-compatible); device name and compute capability must match too.
    """
    built = (str(sidecar.get("trt_version")), str(sidecar.get("device_name")), str(sidecar.get("compute_capability")))
    here = (str(trt_version), str(device_name), str(compute_capability))
    if built != here:
        raise EngineMismatch(f"{Path(engine_path).name} was built with {_where(*built)}; this is {_where(*here)}: {REBUILD}")
