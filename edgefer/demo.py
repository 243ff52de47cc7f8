"""``edgefer demo``: the bundled model on real faces that scikit-image ships, at several face sizes.

The faces are scikit-image's LFW subset (25×25 px crops): no dataset, camera or
GPU needed. They carry no expression labels, so the demo reports how stable
each face's prediction stays as the face shrinks, and draws a contact sheet.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgefer.classes import CLASSES
from edgefer.degrade import degrade, lr_size
from edgefer.preprocess import INPUT_SIZE, preprocess_faces
from edgefer.sample_faces import lfw_faces


def run_demo(model: Path, out: Path, factors: tuple[int, ...], n_faces: int, sheet_faces: int) -> dict[str, Any]:
    from edgefer.backends import load_runner

    crops = lfw_faces(n_faces)
    sharp = preprocess_faces(list(crops))[:, 0]  # the same preprocessing as every other path
    probs = {}
    t0 = time.perf_counter()
    with load_runner(model) as runner:
        for f in factors:
            probs[f] = runner.infer(degrade(sharp, f)[:, None])
        backend = runner.backend
    seconds = time.perf_counter() - t0
    ref = probs[factors[0]].argmax(1)
    summary: dict[str, Any] = {"model": str(model), "backend": backend, "faces": len(sharp), "source": "scikit-image LFW subset",
                               "seconds": round(seconds, 3), "per_factor": {}}
    for f in factors:
        pred = probs[f].argmax(1)
        summary["per_factor"][str(f)] = {
            "face_px": min(lr_size(INPUT_SIZE, f), crops.shape[-1]),
            "agreement_with_sharp": float(np.mean(pred == ref)),
            "mean_confidence": float(probs[f].max(1).mean()),
            "labels": dict(Counter(CLASSES[i] for i in pred).most_common()),
        }
    out.mkdir(parents=True, exist_ok=True)
    sheet = contact_sheet(sharp[:sheet_faces], probs, factors, out / "contact_sheet.png", crops.shape[-1])
    summary["contact_sheet"] = str(sheet)
    from edgefer.fileio import write_json

    write_json(out / "summary.json", summary)
    return summary


def detail_label(factor: int, source_px: int = 25) -> str:
    """How much detail the face keeps at ``factor``: the model input (48 px) shrunk to 48/f px, but never more than
    the source crop had. LFW crops are 25 px, so ×1 (48 px) and ×2 (24 px) both show the source's detail."""
    px = lr_size(INPUT_SIZE, factor)
    return f"{source_px} px (source)" if px >= source_px - 1 else f"{px} px"


def contact_sheet(faces: np.ndarray, probs: dict[int, np.ndarray], factors: tuple[int, ...], path: Path,
                  faces_px: int = 25) -> Path:
    from edgefer.plots import _pyplot, _save

    plt = _pyplot()
    rows, cols = len(faces), len(factors)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.75 * rows), squeeze=False)
    for j, f in enumerate(factors):
        shown = degrade(faces, f)
        for i in range(rows):
            ax = axes[i, j]
            p = probs[f][i]
            k = int(p.argmax())
            ax.imshow(shown[i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            head = f"×{f}: {detail_label(f, faces_px)}\n" if i == 0 else ""
            ax.set_title(f"{head}{CLASSES[k]} {p[k]:.2f}", fontsize=7, pad=2)
    fig.suptitle("edgefer demo: one model, every face size (LFW faces, scikit-image)", fontsize=9)
    return _save(fig, path)
