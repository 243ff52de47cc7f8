"""Shared fixtures of the camera tests: a tiny FSR-FER model (.pt and .onnx) and generated crowd clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgefer.camera.clip import CrowdClip, make_crowd_clip


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> tuple[Path, Path]:
    """(tiny.pt, fsrfer.onnx): an untrained tiny FSR-FER checkpoint and its ONNX export."""
    from edgefer.checkpoint import save_checkpoint
    from edgefer.deploy.onnx_export import export_model
    from tests.test_checkpoint import tiny_fsr_ckpt

    tmp = tmp_path_factory.mktemp("models")
    pt = save_checkpoint(tiny_fsr_ckpt(), tmp / "tiny.pt")
    export_model(Path(pt), tmp / "export", max_batch=16)
    return Path(pt), tmp / "export" / "fsrfer.onnx"


@pytest.fixture(scope="session")
def onnx_model(tiny_models) -> Path:
    return tiny_models[1]


@pytest.fixture(scope="session")
def crowd_clip(tmp_path_factory) -> CrowdClip:
    """640 x 480, 12 faces of 20-64 px, 20 frames at 15 fps (mp4v)."""
    return make_crowd_clip(tmp_path_factory.mktemp("clip") / "crowd.mp4", n_faces=12, frames=20)


def read_frames(path: Path) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames
