"""Lazy imports of TensorRT and a CUDA Python layer, with one-line errors that say how to get them.

Nothing here imports ``tensorrt``, ``pycuda`` or ``cuda`` at module level: the package must import
(and its pure logic must be testable) on machines that have neither.

CUDA layer choice: pycuda is the default; cuda-python is used automatically when pycuda is absent.
``EDGEFER_CUDA=pycuda`` or ``EDGEFER_CUDA=cuda-python`` forces one.
"""

from __future__ import annotations

import collections
import importlib
import logging
import os
from types import ModuleType
from typing import Any

from edgefer.errors import EdgeferError

log = logging.getLogger(__name__)

TRT_MISSING = (
    "TensorRT Python bindings not found: they come with JetPack (apt python3-libnvinfer) or the "
    "Dockerfile.jetson image; a venv needs --system-site-packages"
)
CUDA_MISSING = (
    "no CUDA Python layer found: install pycuda (on the Jetson: PATH=/usr/local/cuda/bin:$PATH pip install pycuda) "
    "or cuda-python (pip install 'cuda-python>=12.6,<13')"
)
CUDA_LAYERS = ("pycuda", "cuda-python")
MIN_TRT_MAJOR = 10
# On JetPack 6, libnvinfer needs the Jetson's libcuda and libnvdla_compiler, which only the NVIDIA container
# runtime mounts (at `docker run`, never at `docker build`).
NVIDIA_RUNTIME_HINT = ("in a container, start it with `docker run --runtime nvidia` (it mounts the Jetson's libcuda "
                       "and libnvdla_compiler, which TensorRT needs)")
MAX_LOGGED_ERRORS = 100  # a camera run can log an error per frame: keep only the latest


def one_line(exc: BaseException | str) -> str:
    """An exception's text squeezed onto one line (CLI errors are one line)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def import_tensorrt() -> ModuleType:
    """``import tensorrt`` or raise EdgeferError saying what is missing and where it comes from."""
    try:
        trt = importlib.import_module("tensorrt")
    except ModuleNotFoundError as e:
        if e.name not in (None, "tensorrt"):  # tensorrt is there but one of its own imports is not
            raise EdgeferError(f"TensorRT Python bindings failed to import ({one_line(e)}); {_load_hint(e)}") from None
        raise EdgeferError(TRT_MISSING) from None
    except (ImportError, OSError) as e:  # e.g. libnvinfer.so.10 missing or from another version
        raise EdgeferError(f"TensorRT Python bindings failed to load ({one_line(e)}); {_load_hint(e)}") from None
    major = trt_major(getattr(trt, "__version__", "0"))
    if major < MIN_TRT_MAJOR:
        raise EdgeferError(f"edgefer needs TensorRT 10.x (JetPack 6 ships 10.3); this is TensorRT {trt.__version__}")
    return trt


def _load_hint(e: BaseException) -> str:
    """What to do when the bindings exist but a shared library is missing: name --runtime nvidia where it applies."""
    text = str(e).lower()
    if "libnvdla" in text or "libcuda" in text:
        return NVIDIA_RUNTIME_HINT
    return TRT_MISSING


def trt_major(version: str) -> int:
    """'10.3.0.30' -> 10; anything unreadable -> 0."""
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 0


def _import_pycuda() -> ModuleType:
    # autoprimaryctx (not autoinit) retains the device's primary context, the one TensorRT uses,
    # so pycuda buffers and TensorRT engines live in the same context.
    importlib.import_module("pycuda.autoprimaryctx")
    return importlib.import_module("pycuda.driver")


def _import_cuda_python() -> ModuleType:
    try:
        return importlib.import_module("cuda.bindings.runtime")
    except ImportError:
        return importlib.import_module("cuda.cudart")  # cuda-python < 12.6: `from cuda import cudart`


def _is_missing(e: ImportError, top: str) -> bool:
    return isinstance(e, ModuleNotFoundError) and (e.name is None or e.name.split(".")[0] == top)


def import_cuda_layer(prefer: str | None = None) -> tuple[str, ModuleType]:
    """The CUDA layer to use: ("pycuda", pycuda.driver) or ("cuda-python", cuda runtime module).

    ``prefer`` (or $EDGEFER_CUDA) forces one; otherwise pycuda, then cuda-python.
    Raises EdgeferError (one line) when none can be imported or CUDA cannot start.
    """
    prefer = prefer or os.environ.get("EDGEFER_CUDA") or None
    if prefer is not None and prefer not in CUDA_LAYERS:
        raise EdgeferError(f"unknown CUDA layer {prefer!r}; expected one of {', '.join(CUDA_LAYERS)}")
    order = [prefer] if prefer else list(CUDA_LAYERS)
    for name in order:
        importer, top = (_import_pycuda, "pycuda") if name == "pycuda" else (_import_cuda_python, "cuda")
        try:
            return name, importer()
        except ImportError as e:
            if _is_missing(e, top) and prefer is None:
                continue  # not installed: try the next layer
            if _is_missing(e, top):
                raise EdgeferError(f"{name} is not installed (asked for by EDGEFER_CUDA or --cuda); {CUDA_MISSING}") from None
            raise EdgeferError(f"{name} failed to import ({one_line(e)})") from None
        except Exception as e:  # pycuda raises its own error when no GPU/driver is usable
            raise EdgeferError(f"{name} found but CUDA could not start ({one_line(e)}): is this a machine with a CUDA GPU and driver?") from None
    raise EdgeferError(CUDA_MISSING)


def make_trt_logger(trt: Any, name: str = "edgefer.tensorrt") -> Any:
    """A ``trt.ILogger`` that forwards TensorRT messages to Python logging and remembers the errors.

    ``logger.errors`` holds the latest ERROR/INTERNAL_ERROR messages (at most MAX_LOGGED_ERRORS: a long
    camera run must not grow it without bound), so a failed build can quote the last one in its one-line
    message; ``logger.n_errors`` counts them all. Keep the logger alive as long as any TensorRT object using it.
    """
    pylog = logging.getLogger(name)
    sev = trt.ILogger.Severity
    levels = {
        sev.INTERNAL_ERROR: logging.CRITICAL,
        sev.ERROR: logging.ERROR,
        sev.WARNING: logging.WARNING,
        sev.INFO: logging.DEBUG,  # TensorRT's INFO is chatty: show it with --verbose only
        sev.VERBOSE: logging.DEBUG,
    }

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: collections.deque[str] = collections.deque(maxlen=MAX_LOGGED_ERRORS)
            self.n_errors = 0

        def log(self, severity: Any, msg: str) -> None:
            level = levels.get(severity, logging.INFO)
            if level >= logging.ERROR:
                self.errors.append(msg)
                self.n_errors += 1
            pylog.log(level, "%s", msg)

    return _Logger()


def init_plugins(trt: Any, logger: Any) -> None:
    """Register TensorRT's bundled plugins, so ONNX graphs/engines using them (e.g. a detector's NMS) load."""
    init = getattr(trt, "init_libnvinfer_plugins", None)
    if init is not None and not init(logger, ""):
        log.warning("TensorRT plugins could not be initialised; graphs that use them will fail")
