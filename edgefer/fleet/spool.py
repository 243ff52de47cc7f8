"""A bounded, ordered queue of messages on disk: every published message goes through it.

Each message is one file ``<spool>/<n:012d>.msg`` (first line: the topic; the rest: the JSON payload),
written atomically, so a crash or a power cut leaves whole messages only. A message is written here
before it is published and deleted when the broker acknowledges it (QoS 1 PUBACK), so messages made
while the broker is unreachable, and those in flight when the process died, are sent on the next
connection or the next run, oldest first.

Bound and drop policy: at most ``max_messages`` files. When a new message would exceed it, the OLDEST
message not yet handed to the client is deleted and counted in ``dropped`` (summary.json
``fleet.dropped``; interval and status messages carry the count). The newest state is the one worth
keeping after a long outage; ``edgefer fleet`` sees the gap in the sequence numbers.
"""

from __future__ import annotations

import collections
import re
import threading
from pathlib import Path

from edgefer.errors import EdgeferError
from edgefer.fileio import atomic_path

_NAME = re.compile(r"^(\d{12})\.msg$")
MIN_MESSAGES = 100  # must exceed the publisher's in-flight window


class Spool:
    def __init__(self, folder: str | Path, max_messages: int = 50_000) -> None:
        if max_messages < MIN_MESSAGES:
            raise EdgeferError(f"--spool-max {max_messages}: must be at least {MIN_MESSAGES} messages")
        self.folder, self.max_messages = Path(folder), max_messages
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            names = sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := _NAME.match(p.name)))
        except OSError as e:
            raise EdgeferError(f"--spool {self.folder}: cannot use this folder ({e.strerror or e})") from None
        self._lock = threading.Lock()
        self._unsent: collections.deque[int] = collections.deque(names)  # oldest first
        self._inflight: set[int] = set()
        self._next = (names[-1] + 1) if names else 0
        self.recovered = len(names)  # left by an earlier run (sent first)
        self.dropped = 0
        self.written = 0

    def _path(self, n: int) -> Path:
        return self.folder / f"{n:012d}.msg"

    def __len__(self) -> int:
        with self._lock:
            return len(self._unsent) + len(self._inflight)

    def make_room(self) -> None:
        """Drop (and count) what the next ``put`` would drop, so that a message can state the final count."""
        with self._lock:
            self._make_room()

    def _make_room(self) -> None:
        while len(self._unsent) + len(self._inflight) >= self.max_messages and self._unsent:
            self._path(self._unsent.popleft()).unlink(missing_ok=True)
            self.dropped += 1

    def put(self, topic: str, payload: bytes) -> int:
        """Store one message; returns its key. Drops the oldest unsent message(s) if the spool is full."""
        with self._lock:
            n = self._next
            self._next += 1
            self._make_room()
            with atomic_path(self._path(n)) as tmp:
                tmp.write_bytes(topic.encode("utf-8") + b"\n" + payload)
            self._unsent.append(n)
            self.written += 1
            return n

    def discard_topics(self, suffix: str) -> int:
        """Delete the unsent messages whose topic ends with ``suffix``; returns how many (privacy mode
        removes an earlier run's "/face" messages this way, so that it never sends one)."""
        with self._lock:
            keep: collections.deque[int] = collections.deque()
            gone = 0
            for n in self._unsent:
                try:
                    with open(self._path(n), "rb") as fh:
                        topic = fh.readline().rstrip(b"\n").decode("utf-8")
                except OSError:
                    continue
                if topic.endswith(suffix):
                    self._path(n).unlink(missing_ok=True)
                    gone += 1
                else:
                    keep.append(n)
            self._unsent = keep
            return gone

    def take(self) -> tuple[int, str, bytes] | None:
        """The oldest unsent message (key, topic, payload), now counted as in flight; None if none."""
        with self._lock:
            while self._unsent:
                n = self._unsent.popleft()
                try:
                    data = self._path(n).read_bytes()
                except OSError:  # removed by hand: nothing to send
                    continue
                topic, _, payload = data.partition(b"\n")
                self._inflight.add(n)
                return n, topic.decode("utf-8"), payload
            return None

    def ack(self, n: int) -> None:
        """The broker has the message: forget it."""
        with self._lock:
            self._inflight.discard(n)
            self._path(n).unlink(missing_ok=True)

    @property
    def unsent(self) -> int:
        with self._lock:
            return len(self._unsent)
