"""End to end against a REAL mosquitto on 127.0.0.1 (conftest): cameras publish, ``edgefer fleet`` combines.

Whole processes where the contract is the CLI (two cameras, one-line errors); in-process publishers where
the test must control time (the broker stopped for 5 s mid-run, a full spool).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from edgefer.errors import EdgeferError
from edgefer.fleet.client import Connection
from edgefer.fleet.publisher import Publisher
from edgefer.fleet.sink import FleetSink
from edgefer.fleet.spool import Spool
from edgefer.fleet.url import parse_broker
from tests.camera.test_runtime_process import NO_TORCH
from tests.fleet.conftest import make_certs
from tests.fleet.helpers import RunnerStandIn, face, model_file, validate

ROOT = Path(__file__).resolve().parents[2]
# infer and fleet on a fresh Typer app, with `import torch` made to fail as on the Jetson image
CLI = NO_TORCH + textwrap.dedent("""
    import sys, typer
    from edgefer.cli.common import handle_errors, setup
    from edgefer.cli.fleet import fleet_command
    from edgefer.cli.infer import infer_command
    setup()
    app = typer.Typer()
    app.command("infer")(handle_errors(infer_command))
    app.command("fleet")(handle_errors(fleet_command))
    app(sys.argv[1:])
""")


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("EDGEFER_")}
    return {**e, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **extra}


def cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLI, *args], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def start_fleet(url: str, out: Path, *args: str) -> subprocess.Popen:
    """`edgefer fleet` in the background, returned once it is subscribed (bounded wait)."""
    log = out.parent / f"{out.name}.stderr"
    proc = subprocess.Popen([sys.executable, "-c", CLI, "fleet", "--broker", url, "--out", str(out), "--refresh", "1",
                             *args], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=open(log, "w"), env=env())
    deadline = time.monotonic() + 60
    while "subscribed to" not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "fleet did not subscribe within 60 s"
        time.sleep(0.1)
    return proc


class Recorder:
    """A plain paho subscriber of the test: every raw message under the prefix, for schema checks."""

    def __init__(self, url: str) -> None:
        b = parse_broker(url, environ={})
        self.messages: list[tuple[str, dict]] = []
        subscribed = threading.Event()
        self.conn = Connection(b, "test-recorder", "recorder", on_connected=lambda c: c.subscribe(f"{b.prefix}/#", qos=1))
        self.conn.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.conn.client.on_subscribe = lambda *a: subscribed.set()
        assert self.conn.open()
        assert subscribed.wait(30), "no SUBACK within 30 s"


def test_two_cameras_publish_and_fleet_combines(broker, onnx_model, crowd_clip, tmp_path):
    url = broker.url("site/edgefer")
    rec = Recorder(url)
    fleet = start_fleet(url, tmp_path / "fleet", "--cameras", "2", "--duration", "240")
    cams = {name: cli("infer", "--source", str(crowd_clip.path), "--model", str(onnx_model), "--out", str(tmp_path / name),
                      "--publish", url, "--camera-id", name, "--publish-interval", "0.2", *extra, env=env())
            for name, extra in (("camA", []), ("camB", ["--no-save-frames"]))}
    for name, p in cams.items():
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    out, _ = fleet.communicate(timeout=120)
    assert fleet.returncode == 0, out
    time.sleep(0.5)
    rec.conn.close()

    # every message validates against the schema; privacy mode (camB) sent no face message
    assert rec.messages
    for topic, msg in rec.messages:
        validate(msg)
        assert topic == f"site/edgefer/{msg['camera']}/{msg['kind']}"
    kinds = {c: {m["kind"] for _, m in rec.messages if m["camera"] == c} for c in cams}
    assert kinds["camA"] == {"status", "interval", "face"}
    assert kinds["camB"] == {"status", "interval"}

    # the fleet has everything, once; its CSV has both cameras and their total
    rep = json.loads((tmp_path / "fleet" / "fleet.json").read_text())
    for name in cams:
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        f = summary["fleet"]
        assert f["acked"] == f["messages"] and f["dropped"] == 0 and f["unsent"] == 0
        (run,) = rep["cameras"][name].values()
        assert run["complete"] and run["missing"] == 0 and run["received"] == f["messages"]
        assert run["intervals"] == f["intervals"] == sum(1 for _, m in rec.messages if m["camera"] == name and m["kind"] == "interval")
        assert summary["frames"] == sum(m["frames"] for _, m in rec.messages if m["camera"] == name and m["kind"] == "interval")
    rows = list(csv.DictReader(open(tmp_path / "fleet" / "crowd.csv")))
    assert {r["camera"] for r in rows} == {"camA", "camB", "total"}
    for col in ("frames", "happiness", "unknown"):
        assert sum(int(r[col]) for r in rows if r["camera"] == "total") == sum(int(r[col]) for r in rows if r["camera"] != "total")
    assert (tmp_path / "fleet" / "crowd.png").stat().st_size > 0
    assert (tmp_path / "fleet" / "events.jsonl").read_text().count('"kind":"face"') == sum(1 for _, m in rec.messages if m["kind"] == "face")


def drive(sink: FleetSink, seconds: float, fps: float = 20.0, stop_broker=None) -> int:
    """Feed synthetic frames for ``seconds`` of wall time; calls ``stop_broker()`` once a third of the way in."""
    n, start = 0, time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        if stop_broker is not None and elapsed > seconds / 3:
            stop_broker()
            stop_broker = None
        sink(n, n / fps, [face(1), face(2, "sadness"), face(3, "unknown")] if n % 7 else [face(1)])
        n += 1
        time.sleep(1 / fps)
    return n


def test_broker_restart_mid_run_loses_nothing(make_broker, tmp_path):
    broker = make_broker()
    url = broker.url("site/e")
    fleet = start_fleet(url, tmp_path / "fleet", "--cameras", "1", "--duration", "120", "--client-id", "fleet-restart")
    pub = Publisher(parse_broker(url, environ={}), "edgefer-cam-restart", Spool(tmp_path / "spool", 10_000))
    assert pub.start()
    sink = FleetSink(pub, "cam0", "site/e", privacy=True, interval_s=0.1)
    sink.start(RunnerStandIn(str(model_file(tmp_path))))

    def outage():  # stopped for 5 s, in another thread so that the camera loop keeps running
        def run():
            broker.stop()
            time.sleep(5)
            broker.start()
        threading.Thread(target=run, daemon=True).start()

    drive(sink, 12.0, stop_broker=outage)
    live = list(csv.DictReader(open(tmp_path / "fleet" / "crowd.csv")))  # written live, before the camera ends
    assert live and fleet.poll() is None
    assert pub.conn.connected.wait(30), "the camera did not reconnect within 30 s of the broker's return"
    summary = sink.close(drain_s=30)["fleet"]
    out, _ = fleet.communicate(timeout=120)
    assert fleet.returncode == 0, out
    assert summary["disconnects"] >= 1, "the broker restart did not disconnect the camera: the test proved nothing"
    assert summary["dropped"] == 0 and summary["unsent"] == 0 and summary["acked"] == summary["messages"]
    (run,) = json.loads((tmp_path / "fleet" / "fleet.json").read_text())["cameras"]["cam0"].values()
    # every interval arrived exactly once (duplicates, if any, were counted and dropped by seq)
    assert run["missing"] == 0 and run["intervals"] == summary["intervals"] == run["intervals_sent"]
    assert run["received"] == summary["messages"]


def test_full_spool_drops_are_counted_not_lost(make_broker, tmp_path):
    broker = make_broker()
    url = broker.url("site/e")
    fleet = start_fleet(url, tmp_path / "fleet", "--cameras", "1", "--duration", "120", "--client-id", "fleet-spool")
    broker.stop()  # the camera starts while the broker is down: a warning, then it spools
    pub = Publisher(parse_broker(url, environ={}), "edgefer-cam-spool", Spool(tmp_path / "spool", 100))
    assert not pub.start()

    class Clock:  # 0.1 s per frame without waiting for it
        t = 1_800_000_000.0

        def __call__(self):
            self.t += 0.1
            return self.t

    sink = FleetSink(pub, "cam0", "site/e", privacy=True, interval_s=0.15, clock=Clock())
    sink.start(RunnerStandIn(str(model_file(tmp_path))))
    for i in range(600):
        sink(i, i / 10, [face(1)])
    broker.start()
    assert pub.conn.connected.wait(30), "the camera did not reconnect within 30 s of the broker's return"
    summary = sink.close(drain_s=30)["fleet"]
    out, _ = fleet.communicate(timeout=120)
    assert fleet.returncode == 0, out
    assert summary["dropped"] > 0 and summary["unsent"] == 0
    (run,) = json.loads((tmp_path / "fleet" / "fleet.json").read_text())["cameras"]["cam0"].values()
    assert run["missing"] == summary["dropped"] == run["dropped"]  # every gap is a counted drop
    assert run["received"] + run["missing"] == summary["messages"]


def test_wrong_password_is_one_line_at_start(make_broker, crowd_clip, tmp_path):
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "cam", "right"], check=True, capture_output=True, timeout=30)
    pw.chmod(0o600)
    broker = make_broker(f"password_file {pw}\n")
    url = broker.url("site/e", user="cam")
    p = cli("infer", "--source", str(crowd_clip.path), "--out", str(tmp_path / "out"), "--publish", url,
            env=env(EDGEFER_MQTT_PASSWORD="wrong"))
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith("error: --publish") and "refused" in lines[0] and "wrong" not in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "summary.json").exists()  # it failed before the run
    good = Connection(parse_broker(url, environ={"EDGEFER_MQTT_PASSWORD": "right"}), "test-good", "test")
    assert good.open()  # the right one is accepted: the failure above is the password's
    good.close()
    with pytest.raises(EdgeferError, match="refused"):
        Connection(parse_broker(broker.url("site/e"), environ={}), "test-anon", "test").open()


def test_bad_ca_is_one_line_at_start(make_broker, tmp_path):
    if not Path("/usr/bin/openssl").exists() and subprocess.run(["which", "openssl"], capture_output=True).returncode:
        pytest.skip("openssl is not installed")
    certs = make_certs(tmp_path / "certs")
    broker = make_broker(f"cafile {certs['ca']}\ncertfile {certs['server']}\nkeyfile {certs['server_key']}\n")
    url = broker.url("site/e", scheme="mqtts")
    p = cli("fleet", "--broker", url, "--out", str(tmp_path / "fleet"), "--mqtt-ca", str(certs["other_ca"]), env=env())
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith("error: --broker") and "TLS" in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "fleet" / "crowd.csv").exists()
    ok = Connection(parse_broker(url, ca=certs["ca"], environ={}), "test-tls", "test")
    assert ok.open()  # the right CA connects: the failure above is the CA's
    ok.close()
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(EdgeferError, match="--mqtt-ca: not a usable PEM"):
        Connection(parse_broker(url, ca=junk, environ={}), "test-junk", "test")


def test_a_run_that_ends_offline_is_sent_by_the_next_run(make_broker, tmp_path):
    broker = make_broker()
    url = broker.url("site/e")
    fleet = start_fleet(url, tmp_path / "fleet", "--cameras", "2", "--duration", "120", "--client-id", "fleet-next")
    broker.stop()
    runs = []
    for online in (False, True):  # the first run never reaches the broker; the second one does
        if online:
            broker.start()
        pub = Publisher(parse_broker(url, environ={}), "edgefer-cam-next", Spool(tmp_path / "spool", 1000))
        assert pub.start() == online
        sink = FleetSink(pub, "cam0", "site/e", privacy=True, interval_s=0.1)
        sink.start(RunnerStandIn(str(model_file(tmp_path))))
        drive(sink, 1.0)
        runs.append(sink.close(drain_s=30)["fleet"])
    first, second = runs
    assert first["acked"] == 0 and first["unsent"] == first["messages"]  # all of it left on disk
    assert second["recovered_from_spool"] == first["messages"] and second["unsent"] == 0
    out, _ = fleet.communicate(timeout=120)
    assert fleet.returncode == 0, out
    rep = json.loads((tmp_path / "fleet" / "fleet.json").read_text())["cameras"]["cam0"]
    assert rep[first["run"]]["complete"] and rep[first["run"]]["received"] == first["messages"]
    assert rep[second["run"]]["complete"] and rep[second["run"]]["missing"] == 0


def test_client_certificate(make_broker, tmp_path):
    certs = make_certs(tmp_path / "certs")
    broker = make_broker(f"cafile {certs['ca']}\ncertfile {certs['server']}\nkeyfile {certs['server_key']}\n"
                         "require_certificate true\n")
    url = broker.url("site/e", scheme="mqtts")
    ok = Connection(parse_broker(url, ca=certs["ca"], cert=certs["client"], key=certs["client_key"], environ={}), "t-cert", "test")
    assert ok.open()
    ok.close()
    with pytest.raises(EdgeferError, match="client certificate"):
        Connection(parse_broker(url, ca=certs["ca"], environ={}), "t-nocert", "test").open()
    with pytest.raises(EdgeferError, match="TLS port"):  # plain MQTT on the TLS listener
        Connection(parse_broker(broker.url("site/e"), environ={}), "t-plain", "test").open()


def test_the_aggregator_restarts_and_misses_nothing(broker, tmp_path):
    url = broker.url("site/e")
    out = tmp_path / "fleet"
    first = start_fleet(url, out, "--client-id", "fleet-restarted", "--duration", "120")
    pub = Publisher(parse_broker(url, environ={}), "edgefer-cam-agg", Spool(tmp_path / "spool", 10_000))
    assert pub.start()
    sink = FleetSink(pub, "cam0", "site/e", privacy=True, interval_s=0.1)
    sink.start(RunnerStandIn(str(model_file(tmp_path))))
    drive(sink, 2.0)
    first.send_signal(signal.SIGTERM)  # the aggregator goes away mid-run; its session stays on the broker
    assert first.wait(timeout=60) == 0
    before = json.loads((out / "fleet.json").read_text())["messages"]
    drive(sink, 2.0)  # published while no aggregator runs: queued by the broker for its session
    summary = sink.close(drain_s=30)["fleet"]
    second = start_fleet(url, out, "--client-id", "fleet-restarted", "--cameras", "1", "--duration", "120")
    stdout, _ = second.communicate(timeout=120)
    assert second.returncode == 0, stdout
    rep = json.loads((out / "fleet.json").read_text())
    (run,) = rep["cameras"]["cam0"].values()
    assert 0 < before < summary["messages"] and rep["replayed"] == before
    assert run["complete"] and run["missing"] == 0 and run["received"] == summary["messages"]
    assert run["intervals"] == summary["intervals"]
