"""Shared pieces of the fleet tests: schema validation, a recording publisher, faces and a runner stand-in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefer.camera.outputs import UNKNOWN, FaceResult
from edgefer.fleet.messages import load_schema
from edgefer.fleet.spool import Spool
from edgefer.fleet.url import parse_broker


def validate(msg: dict) -> None:
    import jsonschema

    jsonschema.validate(msg, load_schema(), cls=jsonschema.Draft202012Validator)


class RecordingPublisher:
    """Publisher's interface without a network: what a FleetSink sends lands in ``sent`` (and the spool)."""

    def __init__(self, folder: Path) -> None:
        self.spool = Spool(folder, 1000)
        self.broker = parse_broker("mqtt://127.0.0.1/test", environ={})
        self.sent: list[tuple[str, dict]] = []

    def send(self, topic: str, payload: bytes) -> None:
        self.spool.put(topic, payload)
        self.sent.append((topic, json.loads(payload)))

    def close(self, drain_s: float = 0) -> dict:
        return {"acked": 0, "dropped": self.spool.dropped, "unsent": len(self.spool)}


@dataclass
class RunnerStandIn:
    """What FleetSink.start reads from an activated Runner: path, backend, meta."""

    path: str
    backend: str = "onnxruntime"
    meta: dict | None = None


def face(track: int, label: str = "happiness", px: float = 30.0) -> FaceResult:
    f = FaceResult(box=np.array([10, 20, px, px], np.float32), det=0.9, face_px=px, track=track, label=label)
    if label != UNKNOWN:
        f.score = 0.8
    else:
        f.reason = "small: test"
    return f


def model_file(tmp_path: Path) -> Path:
    p = tmp_path / "fsrfer.int8.onnx"
    p.write_bytes(b"not really a model, but it has a sha256")
    return p
