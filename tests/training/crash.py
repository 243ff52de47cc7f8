"""Kill a training run at a chosen point, for the resume tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def interrupt_on_call(module, name: str, n: int = 2) -> Iterator[None]:
    """Replace ``module.name`` so that its n-th call raises KeyboardInterrupt (the run is killed there);
    the calls before it run the real function. The trainers call their per-epoch check once an epoch, so
    n = 2 kills epoch 2 after epoch 1's checkpoint."""
    real, calls = getattr(module, name), []

    def wrapper(*a, **k):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(*a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, name, wrapper)
        with pytest.raises(KeyboardInterrupt):
            yield
