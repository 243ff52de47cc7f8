"""Kaggle FER2013: fer2013.csv with the columns emotion, pixels, Usage."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from edgefer.classes import class_index
from edgefer.data.faceset import FaceSet, faces_to_uint8
from edgefer.data.text import open_text
from edgefer.errors import DataError
from edgefer.preprocess import preprocess_face
from edgefer.progress import track

log = logging.getLogger("edgefer.data")

USAGE = {"train": ("Training",), "val": ("PublicTest",), "test": ("PrivateTest",)}
KAGGLE_LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
SIDE = 48


def kaggle_csv(root: Path) -> Path | None:
    if root.is_file() and root.suffix == ".csv":
        return root
    path = root / "fer2013.csv"
    return path if path.is_file() else None


def load_kaggle(root: Path, split: str) -> FaceSet:
    path = kaggle_csv(root)
    if path is None:
        raise DataError(f"{root}: missing fer2013.csv")
    usages = USAGE[split]
    faces, labels, names, skipped = [], [], [], []
    with open_text(path) as fh:  # UTF-8 or one DataError
        reader = csv.DictReader(fh)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{path}: not a FER2013 csv, missing column(s) {', '.join(sorted(missing))}")
        for lineno, row in enumerate(track(list(reader), description=f"reading fer2013.csv {split}"), 2):
            if row["Usage"] not in usages:
                continue
            try:
                label = class_index(KAGGLE_LABELS[int(row["emotion"])])
                pixels = np.array(row["pixels"].split(), dtype=np.float32)
                face = pixels.reshape(SIDE, SIDE)
            except (ValueError, IndexError):
                log.warning("skipping %s:%d: bad emotion or pixels", path, lineno)
                skipped.append(f"{path}:{lineno}")
                continue
            faces.append(preprocess_face(face))
            labels.append(label)
            names.append(f"row{lineno}")
    return FaceSet(faces_to_uint8(faces), np.asarray(labels, dtype=np.int64), names, "kaggle", split, str(root), skipped)
