"""The in-memory face set every reader returns, and the shared image reader."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgefer.preprocess import INPUT_SIZE, preprocess_face

log = logging.getLogger("edgefer.data")


@dataclass
class FaceSet:
    """Preprocessed faces and their labels.

    images: uint8 (N, S, S) grey faces at the model's input size.
    labels: int64 (N,) indices into ``edgefer.classes.CLASSES``.
    names: per-face source (file name, or csv row) for error reports.
    skipped: sources that could not be read (corrupt or missing images).
    soft: float32 (N, K) annotators' label distributions where the dataset has them (FER+ votes), else None.
    """

    images: np.ndarray
    labels: np.ndarray
    names: list[str]
    layout: str
    split: str
    root: str
    skipped: list[str] = field(default_factory=list)
    soft: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> FaceSet:
        """The faces at indices ``keep`` (a new FaceSet; arrays are copied)."""
        return FaceSet(self.images[keep], self.labels[keep], [self.names[i] for i in keep], self.layout, self.split,
                       self.root, self.skipped, None if self.soft is None else self.soft[keep])

    def class_counts(self, n_classes: int) -> np.ndarray:
        return np.bincount(self.labels, minlength=n_classes)


def faces_to_uint8(faces: list[np.ndarray]) -> np.ndarray:
    if not faces:
        return np.zeros((0, INPUT_SIZE, INPUT_SIZE), dtype=np.uint8)
    return np.rint(np.stack(faces)).astype(np.uint8)


def read_face(path: Path, skipped: list[str], box: tuple[int, int, int, int] | None = None) -> np.ndarray | None:
    """Read one image file as a preprocessed face, or warn, record it in ``skipped`` and return None."""
    if path.exists() and not path.is_file():  # a FIFO, socket or device: imread would block or misread
        log.warning("skipping %s: not a regular file", path)
        skipped.append(str(path))
        return None
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        reason = "missing" if not path.exists() else "corrupt or not an image"
        log.warning("skipping %s: %s", path, reason)
        skipped.append(str(path))
        return None
    if image.dtype != np.uint8:  # 16-bit PNGs and the like
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if box is not None:
        x, y, w, h = box
        if w > 0 and h > 0:
            image = image[max(y, 0) : y + h, max(x, 0) : x + w]
    return preprocess_face(image)
