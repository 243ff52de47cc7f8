"""``edgefer fleet`` (the aggregator) and the ``--publish`` / ``--mqtt-*`` options of ``edgefer infer``.

No torch and no paho at module level: paho-mqtt is imported when a broker is actually used.
Registered by ``edgefer.cli.main`` as ``app.command("fleet")(handle_errors(fleet_command))``.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

log = logging.getLogger(__name__)

PUBLISH_ENV = "EDGEFER_PUBLISH"
BROKER_ENV = "EDGEFER_BROKER"

PublishOpt = Annotated[str | None, typer.Option(
    "--publish", envvar=PUBLISH_ENV, show_envvar=True,
    help="Publish crowd aggregates (and face events, unless --no-save-frames) to MQTT: "
         "mqtt://user@host:port/topic/prefix (user and port optional; mqtts:// for TLS). Password: EDGEFER_MQTT_PASSWORD or --mqtt-password-file.")]
CameraIdOpt = Annotated[str | None, typer.Option("--camera-id", help="This camera's name in the fleet (a topic level). Default: the host name.")]
MqttCaOpt = Annotated[Path | None, typer.Option("--mqtt-ca", help="The broker's CA certificate (PEM); turns on TLS.")]
MqttCertOpt = Annotated[Path | None, typer.Option("--mqtt-cert", help="Client certificate (PEM) for TLS client authentication.")]
MqttKeyOpt = Annotated[Path | None, typer.Option("--mqtt-key", help="The client certificate's private key (PEM).")]
MqttPasswordFileOpt = Annotated[Path | None, typer.Option("--mqtt-password-file", help="A file whose first line is the MQTT password.")]
PublishIntervalOpt = Annotated[float, typer.Option("--publish-interval", help="Seconds of wall time per crowd-aggregate message.")]
SpoolOpt = Annotated[Path | None, typer.Option("--spool", help="Folder of the on-disk message queue (default: OUT/spool).")]
SpoolMaxOpt = Annotated[int, typer.Option("--spool-max", help="Most messages kept while the broker is away; then the oldest are dropped (counted).")]


def make_fleet_sink(publish: str | None, *, out: Path, privacy: bool, camera_id: str | None = None,
                    ca: Path | None = None, cert: Path | None = None, key: Path | None = None,
                    password_file: Path | None = None, interval_s: float = 1.0, spool: Path | None = None,
                    spool_max: int = 50_000) -> Any:
    """The FleetSink for ``edgefer infer --publish`` (connected, or spooling), or None without --publish.

    Raises EdgeferError (one line) on a bad URL, camera id, secret file, CA, password or interval.
    """
    if publish is None:
        return None
    import socket

    from edgefer.errors import EdgeferError
    from edgefer.fleet.publisher import Publisher
    from edgefer.fleet.sink import FleetSink
    from edgefer.fleet.spool import Spool
    from edgefer.fleet.url import check_level, parse_broker

    if not interval_s > 0:
        raise EdgeferError(f"--publish-interval {interval_s:g}: must be a positive number of seconds")
    broker = parse_broker(publish, "--publish", from_env=os.environ.get(PUBLISH_ENV) == publish, ca=ca, cert=cert,
                          key=key, password_file=password_file)
    camera = check_level(camera_id or socket.gethostname().split(".")[0], "--camera-id")
    queue = Spool(spool or out / "spool", spool_max)
    if privacy and (n := queue.discard_topics("/face")):  # an earlier, non-private run's face events stay unsent
        log.info("privacy mode: %d face message(s) of an earlier run removed from the spool", n)
    pub = Publisher(broker, f"edgefer-cam-{camera}", queue)
    pub.start()
    return FleetSink(pub, camera, broker.prefix, privacy, interval_s)


def fleet_command(
    broker_url: Annotated[str, typer.Option("--broker", envvar=BROKER_ENV, show_envvar=True,
                                            help="mqtt://user@host:port/topic/prefix (mqtts:// for TLS; user and port optional): the cameras' --publish prefix.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: crowd.csv, crowd.png, fleet.json, messages.jsonl, events.jsonl; "
                                                    "a restart on the same folder continues it.")] = Path("runs/fleet"),
    privacy: Annotated[bool, typer.Option("--privacy", help="Aggregates only: face events are not written (events.jsonl is not kept).")] = False,
    bucket: Annotated[float, typer.Option("--bucket", help="Seconds per crowd.csv row.")] = 1.0,
    refresh: Annotated[float, typer.Option("--refresh", help="Rewrite crowd.csv, crowd.png and fleet.json every this many seconds.")] = 5.0,
    client_id: Annotated[str, typer.Option("--client-id", help="MQTT client id: the broker keeps this session's messages while it is away.")] = "edgefer-fleet",
    cameras: Annotated[int | None, typer.Option("--cameras", help="Stop once this many camera runs have ended and all their messages are in.")] = None,
    duration: Annotated[float | None, typer.Option("--duration", help="Stop after this many seconds.")] = None,
    ca: MqttCaOpt = None,
    cert: MqttCertOpt = None,
    key: MqttKeyOpt = None,
    password_file: MqttPasswordFileOpt = None,
) -> None:
    """Subscribe to every camera under the prefix; write the combined crowd.csv and plot, live (Ctrl-C stops)."""
    from edgefer.camera.signals import StopFlag, stop_on_signals
    from edgefer.errors import EdgeferError
    from edgefer.fleet.aggregator import FleetAggregator
    from edgefer.fleet.client import Connection
    from edgefer.fleet.messages import subscription
    from edgefer.fleet.url import check_level, parse_broker

    if not refresh > 0:
        raise EdgeferError(f"--refresh {refresh:g}: must be a positive number of seconds")
    if cameras is not None and cameras < 1:
        raise EdgeferError(f"--cameras {cameras}: must be at least 1")
    check_level(client_id, "--client-id")
    broker = parse_broker(broker_url, "--broker", from_env=os.environ.get(BROKER_ENV) == broker_url, ca=ca, cert=cert,
                          key=key, password_file=password_file)
    agg = FleetAggregator(out, privacy=privacy, bucket_s=bucket)
    if agg.replayed:
        log.info("continuing %s: %d earlier messages replayed from messages.jsonl / events.jsonl", out, agg.replayed)
    topic = subscription(broker.prefix)

    def on_connected(client: Any) -> None:  # on every (re)connection; the persistent session keeps it anyway
        client.subscribe(topic, qos=1)

    conn = Connection(broker, client_id, "--broker", on_connected=on_connected)
    conn.client.on_subscribe = lambda *a: log.info("subscribed to %s on %s", topic, broker.describe())
    conn.client.on_message = lambda _c, _u, m: agg.add(m.topic, m.payload)
    stop = StopFlag()
    start = last = time.monotonic()
    conn.open()  # a bad CA or password fails here, before anything is written
    try:
        with stop_on_signals(stop):
            while not stop.is_set():
                time.sleep(0.1)
                now = time.monotonic()
                if agg.changed and now - last >= refresh:
                    agg.write()
                    last = now
                if cameras is not None and len(agg.ended()) >= cameras:
                    stop.set(f"{cameras} camera run(s) ended, all messages in")
                if duration is not None and now - start >= duration:
                    stop.set("duration")
    finally:
        conn.close()
        files = agg.write()
        agg.close()
    rep = agg.report()
    for camera, runs in rep["cameras"].items():
        for run, r in runs.items():
            typer.echo(f"{camera} {run}: {r['received']} messages ({r['intervals']} intervals), {r['duplicates']} duplicates, "
                       f"missing {r['missing'] if r['missing'] is not None else '? (not ended)'}, dropped by the camera "
                       f"{r['dropped'] if r['dropped'] is not None else '?'}")
    typer.echo(f"stopped: {stop.reason}; {rep['messages']} messages, {rep['invalid']} invalid")
    for name, path in files.items():
        typer.echo(f"  {name}: {path}")
