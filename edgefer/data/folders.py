"""Image folders: <split>/<class>/*.png|jpg, or <class>/* with no split level."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edgefer.classes import class_index
from edgefer.data.faceset import FaceSet, faces_to_uint8, read_face
from edgefer.errors import DataError
from edgefer.progress import track

log = logging.getLogger("edgefer.data")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm"}
SPLIT_NAMES = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation"),
    "test": ("test", "testing"),
}


def _subdirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file())


def _split_dir(root: Path, split: str) -> Path | None:
    for name in SPLIT_NAMES[split]:
        for cand in (root / name, root / name.capitalize(), root / name.upper()):
            if cand.is_dir():
                return cand
    return None


def is_folders(root: Path) -> bool:
    if any(_split_dir(root, s) for s in SPLIT_NAMES):
        return True
    return any(_has_images(d) for d in _subdirs(root))


def _class_dirs(folder: Path) -> list[tuple[Path, int]]:
    out = []
    for d in _subdirs(folder):
        try:
            out.append((d, class_index(d.name)))
        except KeyError:
            raise DataError(f"{d}: unknown class name {d.name!r} (expected one of the FER+ classes or a synonym)") from None
    return out


def load_folders(root: Path, split: str) -> FaceSet:
    if split == "all":
        roots = [d for s in SPLIT_NAMES if (d := _split_dir(root, s))] or [root]
    elif (d := _split_dir(root, split)) is not None:
        roots = [d]
    elif any(_split_dir(root, s) for s in SPLIT_NAMES):
        raise DataError(f"{root}: no folder for --split {split} (looked for {', '.join(SPLIT_NAMES[split])})")
    else:
        log.info("%s has no split folders: using all its images for --split %s", root, split)
        roots = [root]
    files = []
    for r in roots:
        for d, label in _class_dirs(r):
            files += [(p, label) for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    # read_face skips (and reports) what is not a regular file: a FIFO named x.png blocked the read for ever
    faces, labels, names, skipped = [], [], [], []
    for path, label in track(files, description=f"reading {root.name} {split}"):
        face = read_face(path, skipped)
        if face is not None:
            faces.append(face)
            labels.append(label)
            names.append(str(path.relative_to(root)))
    return FaceSet(faces_to_uint8(faces), np.asarray(labels, dtype=np.int64), names, "folders", split, str(root), skipped)
