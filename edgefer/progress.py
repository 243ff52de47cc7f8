"""Progress bars (tqdm on stderr), one style for every long step."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def track(items: Iterable[T], description: str, total: int | None = None, **kwargs) -> Iterator[T]:
    """tqdm over ``items`` on stderr, refreshed at most once a second."""
    return tqdm(items, desc=description, total=total, leave=False, dynamic_ncols=True, file=sys.stderr,
                mininterval=1.0, **kwargs)


def bar(total: int, description: str, **kwargs) -> tqdm:
    return tqdm(total=total, desc=description, leave=False, dynamic_ncols=True, file=sys.stderr,
                mininterval=1.0, **kwargs)
