"""FER+ (Barsoum et al. 2016): FER2013{Train,Valid,Test}/ with PNGs and label.csv vote counts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from edgefer.data.faceset import FaceSet, faces_to_uint8, read_face
from edgefer.data.text import open_text
from edgefer.errors import DataError
from edgefer.progress import track

SPLIT_DIRS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
# Columns after the face box: the 8 emotions in CLASSES order, then unknown and not-a-face.
N_EMOTIONS = 8
N_VOTE_COLUMNS = 10


def majority_label(votes: list[float]) -> int | None:
    """FER+ majority vote (method.md §4): index into CLASSES, or None if the face is left out."""
    kept = [v if v > 1 else 0.0 for v in votes]  # drop single-vote emotions (outliers)
    total = sum(kept)
    if total <= 0:
        return None
    top = int(np.argmax(kept))
    if kept[top] <= 0.5 * total or top >= N_EMOTIONS:  # no majority, or unknown / NF
        return None
    return top


def vote_distribution(votes: list[float]) -> np.ndarray:
    """The 8 emotions' share of the votes, single votes dropped as in the majority rule: (8,) float32."""
    kept = np.array([v if v > 1 else 0.0 for v in votes[:N_EMOTIONS]], dtype=np.float32)
    return kept / kept.sum()


def is_ferplus(root: Path) -> bool:
    return any((root / d).is_dir() for d in SPLIT_DIRS.values())


def _parse_box(text: str) -> tuple[int, int, int, int] | None:
    try:
        x0, y0, x1, y1 = (int(float(t)) for t in text.strip("() ").split(","))
    except ValueError:
        return None
    return x0, y0, x1 - x0, y1 - y0


def load_ferplus(root: Path, split: str) -> FaceSet:
    folder = root / SPLIT_DIRS[split]
    if not folder.is_dir():
        present = [s for s, d in SPLIT_DIRS.items() if (root / d).is_dir()]
        raise DataError(f"{folder}: FER+ split folder for --split {split} not found (this copy has: {', '.join(present)})")
    label_file = folder / "label.csv"
    if not label_file.is_file():
        raise DataError(f"{label_file}: missing FER+ label file")
    rows = []
    with open_text(label_file) as fh:  # UTF-8 or one DataError (issue #11)
        for lineno, row in enumerate(csv.reader(fh), 1):
            if not row:
                continue
            if len(row) < 2 + N_VOTE_COLUMNS:
                raise DataError(f"{label_file}:{lineno}: expected file, box and {N_VOTE_COLUMNS} vote counts")
            try:
                votes = [float(v) for v in row[2 : 2 + N_VOTE_COLUMNS]]
            except ValueError:
                raise DataError(f"{label_file}:{lineno}: vote counts must be numbers") from None
            label = majority_label(votes)
            if label is not None:
                rows.append((row[0], _parse_box(row[1]), label, vote_distribution(votes)))
    faces, labels, names, soft, skipped = [], [], [], [], []
    for name, box, label, dist in track(rows, description=f"reading FER+ {split}"):
        face = read_face(folder / name, skipped, box)
        if face is not None:
            faces.append(face)
            labels.append(label)
            names.append(name)
            soft.append(dist)
    soft_arr = np.stack(soft) if soft else np.zeros((0, N_EMOTIONS), np.float32)
    return FaceSet(faces_to_uint8(faces), np.asarray(labels, dtype=np.int64), names, "ferplus", split, str(root), skipped,
                   soft_arr)
