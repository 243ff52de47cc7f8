"""PNG plots: accuracy against face size, and confusion matrices (matplotlib, written atomically)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgefer.classes import CLASSES
from edgefer.fileio import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def plot_accuracy_vs_size(results: Mapping[str, dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """One line per model: accuracy (%) against face size in pixels."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, res in results.items():
        keys = sorted(res["accuracy"], key=int)
        px = [res["face_px"][k] if "face_px" in res else 48 / int(k) for k in keys]
        ax.plot(px, [100 * res["accuracy"][k] for k in keys], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("face size (px)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "Accuracy against face size")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    return _save(fig, Path(path))


def plot_confusions(result: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """A row-normalised confusion matrix per factor."""
    plt = _pyplot()
    keys = sorted(result["confusion"], key=int)
    cols = min(3, len(keys))
    rows = int(np.ceil(len(keys) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.0 * rows), squeeze=False)
    short = [c[:4] for c in CLASSES]
    for ax, k in zip(axes.flat, keys):
        cm = np.asarray(result["confusion"][k], dtype=float)
        norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        px = result.get("face_px", {}).get(k, "?")
        ax.set_title(f"factor {k} ({px} px): {100 * result['accuracy'][k]:.1f}%", fontsize=9)
        ax.set_xticks(range(len(CLASSES)), short, rotation=90, fontsize=7)
        ax.set_yticks(range(len(CLASSES)), short, fontsize=7)
        for i in range(len(CLASSES)):
            for j in range(len(CLASSES)):
                if cm[i, j]:
                    ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=5,
                            color="white" if norm[i, j] > 0.5 else "black")
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle(title or "Confusion (rows: truth, columns: prediction)", fontsize=10)
    return _save(fig, Path(path))
