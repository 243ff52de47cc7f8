"""The model contract, checked when a runner loads a model (issue #11).

Every model edgefer runs takes faces and gives one logit per class:
    input   (N, 1, 48, 48) float32 (float16 for FP16 graphs), grey 0-255 (``edgefer.preprocess``)
    output  (N, K) with K == len(edgefer.classes.CLASSES), the classes in that order
    weights finite: a checkpoint whose weights are NaN exported "max |Δp| = 0, agreement 100 %"
The class names come from wherever the model carries them: the checkpoint, the ONNX graph's metadata
(``edgefer.classes``, written by ``edgefer export``) or a manifest.json beside it, the engine sidecar.
A model that breaks the contract is refused with one line naming the file, instead of an ONNX Runtime
traceback or faces labelled with the wrong names. Pure logic and numpy: no torch, no TensorRT here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgefer.classes import CLASSES
from edgefer.errors import EdgeferError
from edgefer.preprocess import INPUT_CHANNELS, INPUT_SIZE

CLASSES_KEY = "edgefer.classes"  # ONNX metadata_props key: a JSON list of class names
FACE_DTYPES = ("float32", "float16")


class ContractError(EdgeferError):
    """A model that does not take (N, 1, 48, 48) faces or does not give edgefer's classes."""


def _dim_ok(dim: Any, want: int) -> bool:
    """A fixed dim must equal ``want``; a symbolic one (str / None / -1) is checked by the probe instead."""
    return not isinstance(dim, (int, np.integer)) or int(dim) in (want, -1)


def check_input(path: str | Path, shape: Sequence[Any], dtype: str) -> None:
    """shape: the input's declared shape, batch first (symbolic dims allowed); dtype: 'float32' etc."""
    want = (INPUT_CHANNELS, INPUT_SIZE, INPUT_SIZE)
    if len(shape) != 4 or not all(_dim_ok(d, w) for d, w in zip(shape[1:], want)):
        raise ContractError(f"{path}: input shape {list(shape)} is not (N, {INPUT_CHANNELS}, {INPUT_SIZE}, {INPUT_SIZE}) "
                            "grey faces; not an edgefer face model")
    if dtype not in FACE_DTYPES:
        raise ContractError(f"{path}: input type {dtype} is not float32 (or float16); not an edgefer face model")


def check_classes(path: str | Path, num_outputs: int, names: Iterable[str] | None = None, where: str = "") -> None:
    """num_outputs: K of the (N, K) output; names: the class names the model carries (None: unknown)."""
    if num_outputs != len(CLASSES):
        raise ContractError(f"{path}: the model gives {num_outputs} classes, edgefer's list has {len(CLASSES)} "
                            f"({', '.join(CLASSES)}); faces would get the wrong names")
    if names is not None:
        names = list(names)
        if names != list(CLASSES):
            raise ContractError(f"{path}: class names {names}{' in ' + where if where else ''} differ from edgefer's "
                                f"{list(CLASSES)}; faces would get the wrong names")


def check_finite(path: str | Path, arrays: Iterable[tuple[str, np.ndarray]]) -> None:
    """Every weight finite; names the first bad tensor."""
    for name, a in arrays:
        a = np.asarray(a)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = int(a.size - np.isfinite(a).sum())
            raise ContractError(f"{path}: weight {name!r} holds {bad} non-finite value(s) (NaN/inf); the model is broken")


def probe(path: str | Path, infer: Callable[[np.ndarray], np.ndarray], dtype: Any = np.float32) -> int:
    """Run two mid-grey faces (2, 1, 48, 48) through ``infer`` (raw logits); returns K. Catches what the
    declared shapes cannot: symbolic dims that are wrong, a (N, K, ...) output, NaN weights."""
    x = np.full((2, INPUT_CHANNELS, INPUT_SIZE, INPUT_SIZE), 128, dtype=dtype)
    try:
        y = np.asarray(infer(x))
    except EdgeferError:
        raise
    except Exception as e:  # a graph that does not take faces fails inside the runtime
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise ContractError(f"{path}: does not run on (N, {INPUT_CHANNELS}, {INPUT_SIZE}, {INPUT_SIZE}) faces ({first})") from None
    if y.ndim != 2 or y.shape[0] != 2:
        raise ContractError(f"{path}: output shape {list(y.shape)} for 2 faces; expected (2, K) class logits")
    if not np.isfinite(y).all():
        raise ContractError(f"{path}: gives non-finite outputs (NaN/inf) on a plain grey face; its weights are broken")
    return int(y.shape[1])


def onnx_class_names(path: str | Path, metadata: dict[str, str] | None) -> tuple[list[str] | None, str]:
    """Class names of an ONNX graph: its ``edgefer.classes`` metadata, else manifest.json beside it."""
    path = Path(path)
    if metadata and CLASSES_KEY in metadata:
        try:
            names = json.loads(metadata[CLASSES_KEY])
        except ValueError:
            raise ContractError(f"{path}: metadata {CLASSES_KEY} is not a JSON list of class names") from None
        return (names if isinstance(names, list) else [str(names)]), f"its {CLASSES_KEY} metadata"
    manifest = path.parent / "manifest.json"
    try:
        m = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, ""
    if isinstance(m, dict) and m.get("format") == "edgefer-export" and path.name in m.get("files", {}):
        names = m.get("classes")
        return (names if isinstance(names, list) else None), str(manifest)
    return None, ""
