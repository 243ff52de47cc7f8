"""A REAL Mosquitto broker per test, on 127.0.0.1 and a free random port (no mock broker).

CI installs Debian's ``mosquitto`` (.ci/run); where the binary is absent the broker tests skip, as the
FER+ tests do without the data. Every wait below is bounded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).is_file()), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Broker:
    """mosquitto -c <conf>, with persistence in its folder (so a restart keeps sessions and queued messages)."""

    def __init__(self, folder: Path, extra: str = "") -> None:
        self.folder, self.port = folder, free_port()
        self.conf = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        anonymous = "false" if "password_file" in extra else "true"
        # as root, mosquitto drops to the "mosquitto" user, who cannot enter pytest's 0700 tmp folders
        extra = ("user root\n" if os.getuid() == 0 else "") + extra
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous {anonymous}\npersistence true\n"
                             f"persistence_location {folder}/\nautosave_interval 1\nlog_dest file {self.log}\n"
                             f"log_type all\nmax_queued_messages 100000\n{extra}")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()[-500:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not listen within 10 s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its persistence database
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def url(self, prefix: str = "test/edgefer", scheme: str = "mqtt", user: str = "") -> str:
        return f"{scheme}://{user + '@' if user else ''}127.0.0.1:{self.port}/{prefix}"


@pytest.fixture
def make_broker(tmp_path):
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run does it)")
    made: list[Broker] = []

    def make(extra: str = "") -> Broker:
        folder = tmp_path / f"broker{len(made)}"
        folder.mkdir()
        b = Broker(folder, extra)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def broker(make_broker) -> Broker:
    return make_broker()


def make_certs(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate it signed for IP 127.0.0.1, and an unrelated CA (openssl CLI)."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=120)

    for ca in ("ca", "other_ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN=edgefer test {ca}")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=cam-north")
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "client.pem", "-days", "2")
    return {n: folder / f"{n}.pem" for n in ("ca", "other_ca", "server", "client")} | {
        "server_key": folder / "server.key", "client_key": folder / "client.key"}


# the tiny ONNX model and the crowd clip of the camera tests
from tests.camera.conftest import crowd_clip, onnx_model, tiny_models  # noqa: E402,F401
