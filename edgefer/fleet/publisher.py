"""The sender thread: spool -> QoS 1 publish -> PUBACK -> deleted from the spool.

``send`` only writes to the spool (never blocks the camera loop on the network). The thread hands the
oldest unsent message to paho while connected, with at most ``WINDOW`` unacknowledged at a time; paho
resends those after a reconnection (persistent session), so the order holds across an outage.
``close`` waits up to ``drain_s`` for the spool to empty (up to RECONNECT_GRACE_S only while
disconnected); what is left stays on disk for the next run.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from edgefer.fleet.client import Connection
from edgefer.fleet.spool import Spool
from edgefer.fleet.url import Broker

RECONNECT_GRACE_S = 5.0  # at exit, how long a disconnected publisher waits for the broker to come back
WINDOW = 32  # unacknowledged messages handed to paho at once (bounds its memory while the broker is away)


class Publisher:
    def __init__(self, broker: Broker, client_id: str, spool: Spool) -> None:
        self.broker, self.spool = broker, spool
        self.conn = Connection(broker, client_id, "--publish", on_connected=lambda _c: self._wake())
        self.conn.client.on_publish = self._on_publish
        self._cond = threading.Condition()
        self._mids: dict[int, int] = {}  # paho mid -> spool key, for messages awaiting PUBACK
        self._early: set[int] = set()  # PUBACKs that beat publish() returning their mid
        self._stop = False
        self.published = 0
        self.acked = 0
        self._thread = threading.Thread(target=self._run, name="edgefer-mqtt-publisher", daemon=True)

    def start(self) -> bool:
        """Connect (one-line errors for TLS/auth) and start sending; True if the broker answered."""
        ok = self.conn.open()
        self._thread.start()
        return ok

    def send(self, topic: str, payload: bytes) -> None:
        self.spool.put(topic, payload)
        self._wake()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _ready(self) -> bool:
        return self.conn.connected.is_set() and len(self._mids) < WINDOW and self.spool.unsent > 0

    def _run(self) -> None:
        client = self.conn.client
        while True:
            with self._cond:
                while not self._stop and not self._ready():
                    self._cond.wait(0.2)  # also polls: a reconnection sets `connected` in paho's thread
                if self._stop:
                    return
            item = self.spool.take()
            if item is None:
                continue
            key, topic, payload = item
            # Not under self._cond: on_publish (paho's thread) takes it, and paho's locks are taken here.
            info = client.publish(topic, payload, qos=1)  # queued by paho even if the link just dropped
            with self._cond:
                self.published += 1
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    self._done(key)
                else:
                    self._mids[info.mid] = key

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._cond:
            key = self._mids.pop(mid, None)
            if key is None:
                self._early.add(mid)
            else:
                self._done(key)
            self._cond.notify_all()

    def _done(self, key: int) -> None:
        self.spool.ack(key)
        self.acked += 1

    def close(self, drain_s: float = 10.0) -> dict[str, Any]:
        """Send what is spooled (up to ``drain_s``), disconnect; returns the counts for summary.json."""
        start = time.monotonic()
        while len(self.spool) and self._thread.is_alive() and (now := time.monotonic()) < start + drain_s:
            if not self.conn.connected.is_set() and now > start + min(drain_s, RECONNECT_GRACE_S):
                break  # the broker is away: waiting sends nothing, and the spool keeps every message
            time.sleep(0.05)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.conn.close()
        return {"published": self.published, "acked": self.acked, "dropped": self.spool.dropped,
                "unsent": len(self.spool), "recovered_from_spool": self.spool.recovered,
                "reconnects": max(self.conn.connects - 1, 0), "disconnects": self.conn.disconnects}
