"""One MQTT connection (paho-mqtt, MQTT 3.1.1, persistent session), shared by the publisher and ``fleet``.

``Connection.open`` checks the broker at start-up, so that what the user can fix fails with ONE line:
    a bad CA / TLS handshake, a refused user name or password  -> EdgeferError (exit 2)
    the broker hangs up before answering (a client certificate
    it requires is missing, a plain client on a TLS port)        -> EdgeferError (exit 2)
    an unreachable broker (refused, timed out, no route)         -> a warning: paho keeps reconnecting in
                                                                    its thread, and the spool keeps the messages
The session is persistent (clean_session=False, a fixed client id): the broker keeps a subscriber's QoS 1
messages while it is away, and paho resends a publisher's unacknowledged ones after a reconnection.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

from edgefer.errors import EdgeferError
from edgefer.fleet.url import PASSWORD_ENV, Broker

log = logging.getLogger(__name__)

KEEPALIVE_S = 15
CONNACK_TIMEOUT_S = 10.0


def _paho():
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise EdgeferError("MQTT needs paho-mqtt: pip install 'paho-mqtt>=2' (in the 'fleet' extra)") from None
    return mqtt


class Connection:
    """A paho client with connection state. ``on_connected`` runs (in paho's thread) on every (re)connection."""

    def __init__(self, broker: Broker, client_id: str, what: str,
                 on_connected: Callable[[Any], None] | None = None) -> None:
        mqtt = _paho()
        self.broker, self.what, self.on_connected = broker, what, on_connected
        self.connected = threading.Event()
        self.connects = 0
        self.disconnects = 0
        self._first = threading.Event()
        self._refused: str | None = None
        self._closed_early: str | None = None  # the broker hung up before its CONNACK (TLS client auth, limits)
        self._closing = False
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                        protocol=mqtt.MQTTv311)
        if broker.username:
            c.username_pw_set(broker.username, broker.password)
        if broker.tls:
            try:
                c.tls_set(ca_certs=str(broker.ca) if broker.ca else None, certfile=str(broker.cert) if broker.cert else None,
                          keyfile=str(broker.key) if broker.key else None)
            except (ssl.SSLError, OSError, ValueError) as e:
                name = "--mqtt-ca" if broker.ca and not broker.cert else "--mqtt-ca/--mqtt-cert/--mqtt-key"
                raise EdgeferError(f"{name}: not a usable PEM certificate or key ({_reason(e)})") from None
        c.reconnect_delay_set(min_delay=1, max_delay=4)  # back within seconds of the broker's return
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        self.client = c

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused = str(reason_code)
            self._first.set()
            return
        self.connects += 1
        if self.connects > 1:
            log.info("%s: reconnected to %s (session present: %s)", self.what, self.broker.describe(),
                     bool(getattr(flags, "session_present", False)))
        if self.on_connected is not None:
            self.on_connected(client)
        self.connected.set()
        self._first.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if not self._first.is_set():
            self._closed_early = str(reason_code)
            self._first.set()
        if self.connected.is_set() and not self._closing:
            self.disconnects += 1
            log.warning("%s: lost the broker %s (%s); reconnecting", self.what, self.broker.describe(), reason_code)
        self.connected.clear()

    def open(self, timeout: float = CONNACK_TIMEOUT_S) -> bool:
        """Connect and start paho's network thread; True if connected now. Raises EdgeferError on TLS/auth."""
        b, c = self.broker, self.client
        reachable = True
        try:
            c.connect(b.host, b.port, keepalive=KEEPALIVE_S)
        except ssl.SSLError as e:  # before OSError: SSLError is one
            raise EdgeferError(f"{self.what} {b.describe()}: TLS handshake failed ({_reason(e)}); "
                               f"check --mqtt-ca and the broker's certificate") from None
        except OSError as e:
            reachable = False
            log.warning("%s: broker %s unreachable (%s); messages wait in the spool, retrying", self.what,
                        b.describe(), _reason(e))
            c.connect_async(b.host, b.port, keepalive=KEEPALIVE_S)
        c.loop_start()
        if not reachable:
            return False
        self._first.wait(timeout)
        if self._refused is not None:
            self.close()
            hint = f"check the user name and {PASSWORD_ENV} / --mqtt-password-file" if b.username or b.password \
                else f"the broker wants a user name and password ({PASSWORD_ENV} / --mqtt-password-file)"
            raise EdgeferError(f"{self.what} {b.describe()}: the broker refused the connection ({self._refused}); {hint}")
        if self._closed_early is not None and not self.connected.is_set():
            self.close()
            hint = ("does it require a client certificate? --mqtt-cert/--mqtt-key" if b.tls
                    else "is it a TLS port? use mqtts:// or --mqtt-ca")
            raise EdgeferError(f"{self.what} {b.describe()}: the broker closed the connection before answering "
                               f"({self._closed_early}); {hint}")
        if not self.connected.is_set():
            log.warning("%s: no answer from %s within %.0f s; retrying in the background", self.what, b.describe(), timeout)
        return self.connected.is_set()

    def close(self) -> None:
        self._closing = True
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


def _reason(e: BaseException) -> str:
    text = getattr(e, "verify_message", None) or getattr(e, "reason", None) or getattr(e, "strerror", None) or str(e)
    return " ".join(str(text).split())[:160] or type(e).__name__
