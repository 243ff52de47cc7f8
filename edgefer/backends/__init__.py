"""Inference backends, one runner each (Polygraphy-style: activate, infer, deactivate).

A runner takes a preprocessed batch (N, 1, S, S) float32 grey 0-255 and
returns class probabilities (N, K) float32. The file extension picks the
backend; each backend imports its framework lazily.
"""

from edgefer.backends.base import Runner
from edgefer.backends.select import BACKENDS, backend_for, load_runner

__all__ = ["BACKENDS", "Runner", "backend_for", "load_runner"]
