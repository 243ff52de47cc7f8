"""The fleet messages: one envelope, three kinds, one topic per camera and kind.

Topic: ``<prefix>/<camera>/<kind>``, kind in interval | face | status. Every message is a JSON object:

    envelope   schema "edgefer.fleet/1", kind, camera, run, seq, time (UNIX s), privacy,
               model {name, sha256, precision, backend}
    interval   start, end, frames, fps, faces, max_faces, unknown, counts {class: n, ..., unknown: n}, dropped
    face       event appear|label|end, track, label, previous, score, face_px, box [x, y, w, h], frame
    status     state start|end (+ intervals, face_events, dropped at the end)

(camera, run, seq) identifies a message: QoS 1 may deliver one twice, and ``edgefer fleet`` keeps the first.
The JSON Schema is ``schemas/message.schema.json``; ``docs/fleet.md`` explains every field.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_ID = "edgefer.fleet/1"
KINDS = ("interval", "face", "status")
FACE_EVENTS = ("appear", "label", "end")


def topic(prefix: str, camera: str, kind: str) -> str:
    return f"{prefix}/{camera}/{kind}"


def subscription(prefix: str) -> str:
    """Every camera's every kind under ``prefix``."""
    return f"{prefix}/+/+"


def new_run_id() -> str:
    """UTC start time + 6 random hex digits: sortable, and unique across restarts of one camera."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def load_schema() -> dict[str, Any]:
    return json.loads(resources.files("edgefer.fleet").joinpath("schemas/message.schema.json").read_text("utf-8"))


@dataclass(frozen=True)
class ModelId:
    name: str
    sha256: str
    precision: str  # fp32 | fp16 | int8
    backend: str  # Runner.backend: torch, torch-fp16, onnxruntime:CPU, tensorrt

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "sha256": self.sha256, "precision": self.precision, "backend": self.backend}


def model_id(path: str | Path, backend: str, meta: dict[str, Any] | None = None) -> ModelId:
    """The identity of the model a camera runs: file sha256, precision and backend.

    Precision: a TensorRT engine's sidecar states it (runner.meta["precision"]); a .pt run in half precision
    says so in its backend ("torch-fp16"); ONNX files are named by ``edgefer calibrate`` (``*.int8.onnx``);
    else fp32.
    """
    from edgefer.fileio import sha256_file

    path = Path(path)
    precision = (meta or {}).get("precision")
    if precision not in ("fp32", "fp16", "int8"):
        suffixes = {s.lower() for s in path.suffixes}
        half = any(x.startswith(".fp16") for x in suffixes) or backend.endswith("-fp16")  # TorchRunner: "torch-fp16"
        precision = "int8" if any(x.startswith(".int8") for x in suffixes) else "fp16" if half else "fp32"  # .int8-cpu.onnx too
    return ModelId(path.name, sha256_file(path), precision, backend)


class Envelope:
    """Stamps camera, run, model and a per-run sequence number on each message."""

    def __init__(self, camera: str, model: ModelId, privacy: bool, run: str | None = None) -> None:
        self.camera, self.model, self.privacy = camera, model, privacy
        self.run = run or new_run_id()
        self.seq = 0

    def make(self, kind: str, body: dict[str, Any], now: float | None = None) -> dict[str, Any]:
        assert kind in KINDS, kind
        if kind == "face" and self.privacy:  # the privacy rule, enforced where every message is made
            raise ValueError("privacy mode: no face messages")
        msg = {"schema": SCHEMA_ID, "kind": kind, "camera": self.camera, "run": self.run, "seq": self.seq,
               "time": round(time.time() if now is None else now, 3), "model": self.model.as_dict(),
               "privacy": self.privacy, **body}
        self.seq += 1
        return msg


def encode(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode("utf-8")
