"""Progress bars and logging, one style for every long step."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def track(items: Iterable[T], description: str, total: int | None = None, **kwargs) -> Iterator[T]:
    """tqdm over ``items`` on stderr; quiet when stderr is not a terminal unless EDGEFER_PROGRESS=1."""
    return tqdm(items, desc=description, total=total, leave=False, dynamic_ncols=True, file=sys.stderr,
                mininterval=1.0, **kwargs)


def bar(total: int, description: str, **kwargs) -> tqdm:
    return tqdm(total=total, desc=description, leave=False, dynamic_ncols=True, file=sys.stderr,
                mininterval=1.0, **kwargs)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
