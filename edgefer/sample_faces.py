"""Real faces that a dependency ships (scikit-image's LFW subset), for the demo and export checks."""

from __future__ import annotations

import numpy as np

from edgefer.errors import EdgeferError


def lfw_faces(n: int = 100) -> np.ndarray:
    """Up to 100 real faces from scikit-image's LFW subset, as (n, 25, 25) float32 grey 0-255."""
    try:
        from skimage.data import lfw_subset
    except ImportError:
        raise EdgeferError("sample faces come from scikit-image: pip install 'edgefer[train]'") from None
    faces = lfw_subset()[:100]  # the first 100 entries are faces, the rest are not
    return (faces[: max(1, min(n, 100))] * 255.0).astype(np.float32)
