"""Detect a dataset's layout and load one split of it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgefer.data.faceset import FaceSet
from edgefer.data.ferplus import SPLIT_DIRS, is_ferplus, load_ferplus
from edgefer.data.folders import is_folders, load_folders
from edgefer.data.kaggle import kaggle_csv, load_kaggle
from edgefer.data.rafdb import is_rafdb, load_rafdb
from edgefer.errors import DataError

log = logging.getLogger("edgefer.data")

SPLITS = ("train", "val", "test", "all")
LAYOUTS: dict[str, tuple[Callable[[Path], object], Callable[[Path, str], FaceSet]]] = {
    "ferplus": (is_ferplus, load_ferplus),
    "kaggle": (kaggle_csv, load_kaggle),
    "rafdb": (is_rafdb, load_rafdb),
    "folders": (is_folders, load_folders),
}


def detect_layout(root: Path) -> str:
    if not root.exists():
        raise DataError(f"{root}: no such file or directory")
    for name, (probe, _) in LAYOUTS.items():
        if (root.is_dir() or name == "kaggle") and probe(root):
            return name
    raise DataError(
        f"{root}: unknown dataset layout (expected FER+ FER2013*/label.csv, fer2013.csv, "
        "RAF-DB EmoLabel/, or class folders)"
    )


def _concat(parts: list[FaceSet], split: str) -> FaceSet:
    first = parts[0]
    return FaceSet(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.labels for p in parts]),
        [n for p in parts for n in p.names],
        first.layout,
        split,
        first.root,
        [s for p in parts for s in p.skipped],
    )


def load_dataset(root: str | Path, split: str = "train", layout: str | None = None) -> FaceSet:
    """Load ``split`` of the dataset at ``root``; raise DataError with a one-line message if it can't."""
    root = Path(root)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    layout = layout or detect_layout(root)
    _, loader = LAYOUTS[layout]
    if split == "all" and layout in ("ferplus", "kaggle"):
        present = [s for s in ("train", "val", "test") if layout != "ferplus" or (root / SPLIT_DIRS[s]).is_dir()]
        faces = _concat([loader(root, s) for s in present], "all")
    else:
        faces = loader(root, split)
    if faces.skipped:
        log.warning("%s: skipped %d unreadable image(s)", root, len(faces.skipped))
    if len(faces) == 0:
        raise DataError(f"{root}: split {split!r} of the {layout} dataset holds no faces")
    return faces


def count_faces(root: str | Path, split: str = "train") -> int | None:
    """An upper bound on the faces of ``split`` from the label files alone (no image is read), for checks
    before any work (e.g. ``--batch-size`` larger than the training split); None if it cannot tell."""
    from edgefer.data.folders import IMAGE_SUFFIXES, _class_dirs, _split_dir
    from edgefer.data.kaggle import USAGE, kaggle_csv
    from edgefer.data.rafdb import LABEL_FILE, PREFIX
    from edgefer.data.text import open_text

    root = Path(root)
    try:
        layout = detect_layout(root)
        if layout == "ferplus":
            return sum(1 for line in open_text(root / SPLIT_DIRS[split] / "label.csv") if line.strip())
        if layout == "kaggle":
            import csv

            usages = USAGE[split]
            return sum(1 for row in csv.DictReader(open_text(kaggle_csv(root))) if row.get("Usage") in usages)
        if layout == "rafdb":
            return sum(1 for line in open_text(root / LABEL_FILE).read().splitlines() if line.startswith(PREFIX[split]))
        folder = _split_dir(root, split) or root
        return sum(1 for d, _ in _class_dirs(folder) for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except (DataError, OSError, KeyError, TypeError):
        return None
