"""The broker address, credentials and TLS files of ``--publish`` / ``edgefer fleet --broker``.

    mqtt://[user[:password]@]host[:port]/topic/prefix     plain TCP, default port 1883
    mqtts://[user[:password]@]host[:port]/topic/prefix    TLS, default port 8883 (system CAs unless --mqtt-ca)

Secrets never come from the command line, where the shell history and ``ps`` would keep them:
    password  EDGEFER_MQTT_PASSWORD, or the first line of --mqtt-password-file; a password inside the URL
              is accepted only when the whole URL comes from the environment (EDGEFER_PUBLISH /
              EDGEFER_BROKER), and refused with one line when it was typed as an option.
    username  the URL's user part, or EDGEFER_MQTT_USERNAME.
TLS: --mqtt-ca (the broker's CA; implies TLS on mqtt://), --mqtt-cert and --mqtt-key (a client certificate).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edgefer.errors import EdgeferError

PASSWORD_ENV = "EDGEFER_MQTT_PASSWORD"
USERNAME_ENV = "EDGEFER_MQTT_USERNAME"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
# A topic level may not hold the MQTT wildcards; camera ids and prefix levels are checked with this.
_LEVEL = re.compile(r"^[A-Za-z0-9._\-]+$")


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    prefix: str  # "site/edgefer": no leading or trailing "/"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def describe(self) -> str:
        """The address without secrets, for logs and summary.json."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}/{self.prefix}"


def check_level(value: str, what: str) -> str:
    if not _LEVEL.match(value):
        raise EdgeferError(f"{what} {value!r}: use letters, digits, '.', '_' and '-' only (it is an MQTT topic level)")
    return value


def parse_broker(url: str, option: str = "--publish", *, from_env: bool = False, ca: Path | None = None,
                 cert: Path | None = None, key: Path | None = None, password_file: Path | None = None,
                 environ: dict[str, str] | None = None) -> Broker:
    """Parse and check everything needed to connect; raises EdgeferError with one line naming ``option``."""
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise EdgeferError(f"{option} {_redact(url)}: expected mqtt://host[:port]/prefix or mqtts://…")
    if not parts.hostname:
        raise EdgeferError(f"{option} {_redact(url)}: no broker host")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise EdgeferError(f"{option} {_redact(url)}: the port is not a number in 1-65535") from None
    prefix = parts.path.strip("/")
    if not prefix:
        raise EdgeferError(f"{option} {_redact(url)}: give a topic prefix, e.g. mqtt://{parts.hostname}/site/edgefer")
    for level in prefix.split("/"):
        check_level(level, f"{option}: topic level")
    if parts.query or parts.fragment:
        raise EdgeferError(f"{option} {_redact(url)}: unexpected '?' or '#' in the URL")

    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not from_env:
        raise EdgeferError(f"{option}: do not put the password in the URL on the command line (the shell history "
                           f"keeps it); set {PASSWORD_ENV} or use --mqtt-password-file")
    if password_file is not None:
        password = _read_secret(password_file)
    elif password is None and env.get(PASSWORD_ENV):
        password = env[PASSWORD_ENV]
    username = unquote(parts.username) if parts.username else env.get(USERNAME_ENV) or None
    if password is not None and username is None:
        raise EdgeferError(f"{option}: a password is set but no user name (mqtt://USER@host/… or {USERNAME_ENV})")

    for flag, path in (("--mqtt-ca", ca), ("--mqtt-cert", cert), ("--mqtt-key", key)):
        if path is not None and not Path(path).is_file():
            raise EdgeferError(f"{flag} {path}: no such file")
    if key is not None and cert is None:
        raise EdgeferError("--mqtt-key needs --mqtt-cert (the client certificate it belongs to)")
    tls = parts.scheme == "mqtts" or ca is not None or cert is not None
    return Broker(parts.hostname, port, prefix, username, password, tls, ca, cert, key)


def _read_secret(path: Path) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise EdgeferError(f"--mqtt-password-file {path}: cannot read ({e.strerror or e})") from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise EdgeferError(f"--mqtt-password-file {path}: the first line (the password) is empty")
    return lines[0]


def _redact(url: str) -> str:
    """The URL with any password replaced by '***' (error messages end up in logs)."""
    return re.sub(r"(//[^/:@]*):[^@/]*@", r"\1:***@", url)
