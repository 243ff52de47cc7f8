"""The runner interface every backend implements."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np


class Runner(abc.ABC):
    """Activate once, infer many batches, deactivate. Also a context manager."""

    backend: str = "?"

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self.meta: dict[str, Any] = {}
        self.active = False

    @abc.abstractmethod
    def activate(self) -> None: ...

    @abc.abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, 1, S, S) float32 grey 0-255 -> (N, K) float32 class probabilities."""

    def deactivate(self) -> None:
        self.active = False

    def __enter__(self) -> Runner:
        if not self.active:
            self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()
