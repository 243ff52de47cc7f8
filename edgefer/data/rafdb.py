"""RAF-DB basic: EmoLabel/list_patition_label.txt and Image/aligned/*_aligned.jpg."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgefer.classes import class_index
from edgefer.data.faceset import FaceSet, faces_to_uint8, read_face
from edgefer.data.text import open_text
from edgefer.errors import DataError
from edgefer.progress import track

LABEL_FILE = Path("EmoLabel/list_patition_label.txt")  # sic: RAF-DB's own spelling
RAF_LABELS = {1: "surprise", 2: "fear", 3: "disgust", 4: "happiness", 5: "sadness", 6: "anger", 7: "neutral"}
PREFIX = {"train": "train_", "test": "test_"}


def is_rafdb(root: Path) -> bool:
    return (root / LABEL_FILE).is_file() or (root / "EmoLabel").is_dir()


def load_rafdb(root: Path, split: str) -> FaceSet:
    label_file = root / LABEL_FILE
    if not label_file.is_file():
        raise DataError(f"{label_file}: missing RAF-DB label file")
    if split == "val":
        raise DataError(f"{root}: RAF-DB has no validation split; use --split test or train")
    entries = []
    for lineno, line in enumerate(open_text(label_file).read().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) not in RAF_LABELS:
            raise DataError(f"{label_file}:{lineno}: expected '<image> <label 1-7>', got {line.strip()!r}")
        if split == "all" or parts[0].startswith(PREFIX[split]):
            entries.append((parts[0], class_index(RAF_LABELS[int(parts[1])])))
    faces, labels, names, skipped = [], [], [], []
    for name, label in track(entries, description=f"reading RAF-DB {split}"):
        stem = Path(name).stem
        path = root / "Image" / "aligned" / f"{stem}_aligned.jpg"
        if not path.exists() and (root / "Image" / "original" / name).exists():
            path = root / "Image" / "original" / name
        face = read_face(path, skipped)
        if face is not None:
            faces.append(face)
            labels.append(label)
            names.append(name)
    return FaceSet(faces_to_uint8(faces), np.asarray(labels, dtype=np.int64), names, "rafdb", split, str(root), skipped)
