"""Stop the loop cleanly on SIGINT / SIGTERM, so that every output is finalised.

The first signal sets a flag the loop checks once per frame; a second SIGINT raises KeyboardInterrupt
(for a loop stuck in a long call), and the ``finally`` blocks still close the outputs. While the outputs
are being finalised (``StopFlag.finalising()``), a further SIGINT is only counted: raising there would
lose summary.json and crowd.png (issue #11: a second Ctrl-C within 0.3 s of the first did).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StopFlag:
    """A threading.Event that also remembers why it was set."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None
        self.deferring = False  # True while the outputs are finalised: signals are counted, not raised
        self.deferred = 0  # SIGINTs that arrived while deferring

    @contextmanager
    def finalising(self) -> Iterator[None]:
        """Defer SIGINT's KeyboardInterrupt until the block (writing the summary) is done."""
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


@contextmanager
def stop_on_signals(stop: StopFlag, signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[StopFlag]:
    """Install handlers that set ``stop`` (main thread only; elsewhere Python cannot take signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: object) -> None:
        if stop.deferring:
            stop.deferred += 1
            stop.set(signal.Signals(signum).name)
            return
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
