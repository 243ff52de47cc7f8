"""Checks that an ONNX graph computes what the PyTorch model computes, on real faces."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgefer.backends.softmax import softmax
from edgefer.degrade import degrade
from edgefer.errors import EdgeferError
from edgefer.preprocess import preprocess_faces
from edgefer.sample_faces import lfw_faces

PROB_TOLERANCE = 1e-4


def check_faces(n: int) -> np.ndarray:
    """``n`` real faces (LFW, repeated if n > 100), preprocessed: (n, 48, 48) float32."""
    faces = preprocess_faces(list(lfw_faces(100)))[:, 0]
    return np.resize(faces, (n, *faces.shape[1:]))


def _session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def check_against_torch(model, onnx_path: Path, factors: Sequence[int], batches: Sequence[int]) -> dict[str, Any]:
    """Max |Δ| of probabilities and argmax agreement at every factor and batch; EdgeferError if off."""
    import torch

    sess = _session(onnx_path)
    faces = check_faces(max(batches))
    worst, compared, agree = 0.0, 0, 0
    for f in factors:
        x_all = degrade(faces, f)[:, None]
        for b in batches:
            x = np.ascontiguousarray(x_all[:b])
            with torch.inference_mode():
                ref = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
            got = softmax(sess.run(["logits"], {"faces": x})[0])
            diff = float(np.abs(got - ref).max())
            same = int((got.argmax(1) == ref.argmax(1)).sum())
            if diff > PROB_TOLERANCE or same != b:
                raise EdgeferError(
                    f"{onnx_path.name}: ONNX Runtime differs from PyTorch at factor {f}, batch {b}: "
                    f"max |Δp| = {diff:.2e} (limit {PROB_TOLERANCE:g}), argmax agreement {same}/{b}"
                )
            worst, compared, agree = max(worst, diff), compared + b, agree + same
    return {"faces": "scikit-image LFW subset", "factors": list(factors), "batches": list(batches),
            "max_abs_diff_probs": worst, "argmax_agreement": agree / compared}


def check_parts_compose(files: dict[str, Path]) -> float:
    """backbone -> g -> head in ONNX Runtime equals the fused graph; returns the max |Δ| of the logits."""
    x = check_faces(16)[:, None]
    fused = _session(files["fsrfer.onnx"]).run(["logits"], {"faces": x})[0]
    feats = _session(files["backbone.onnx"]).run(["features"], {"faces": x})[0]
    feats = _session(files["g.onnx"]).run(["features_sr"], {"features": feats})[0]
    parts = _session(files["head.onnx"]).run(["logits"], {"features": feats})[0]
    diff = float(np.abs(parts - fused).max())
    if diff > 1e-3:
        raise EdgeferError(f"backbone.onnx -> g.onnx -> head.onnx differs from fsrfer.onnx: max |Δ logits| = {diff:.2e}")
    return diff
