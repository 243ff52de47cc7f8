import hashlib

import pytest

from edgefer.fleet.sink import END_AFTER_FRAMES, FleetSink
from tests.fleet.helpers import RecordingPublisher, RunnerStandIn, face, model_file, validate


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def run_frames(privacy: bool, tmp_path):
    pub, clock = RecordingPublisher(tmp_path / "spool"), Clock()
    sink = FleetSink(pub, "cam0", "site/e", privacy, interval_s=1.0, clock=clock)
    sink.start(RunnerStandIn(str(model_file(tmp_path))))
    script = [[face(1), face(2, "unknown")]] * 5 + [[face(1, "sadness")]] * 5 + [[]] * (END_AFTER_FRAMES + 1)
    for i, faces in enumerate(script):
        sink(i, i / 10, faces)
        clock.t += 0.25  # 4 frames per interval
    summary = sink.close()
    return pub.sent, summary, script


def test_messages_validate_and_carry_identity(tmp_path):
    sent, summary, script = run_frames(False, tmp_path)
    sha = hashlib.sha256(model_file(tmp_path).read_bytes()).hexdigest()
    for topic, msg in sent:
        validate(msg)
        assert topic == f"site/e/cam0/{msg['kind']}"
        assert msg["model"] == {"name": "fsrfer.int8.onnx", "sha256": sha, "precision": "int8", "backend": "onnxruntime"}
    assert [m["seq"] for _, m in sent] == list(range(len(sent)))
    intervals = [m for _, m in sent if m["kind"] == "interval"]
    assert sum(m["frames"] for m in intervals) == len(script)
    assert sum(m["faces"] for m in intervals) == sum(len(f) for f in script)
    assert sum(m["unknown"] for m in intervals) == 5 == sum(m["counts"]["unknown"] for m in intervals)
    assert sum(m["counts"]["sadness"] for m in intervals) == 5
    assert intervals[0]["frames"] == 4 and intervals[0]["fps"] == pytest.approx(4.0)
    assert sent[0][1]["state"] == "start" and sent[-1][1]["state"] == "end"
    assert sent[-1][1]["intervals"] == len(intervals) == summary["fleet"]["intervals"]


def test_face_events_appear_change_end(tmp_path):
    sent, summary, _ = run_frames(False, tmp_path)
    events = [(m["event"], m["track"], m["label"], m["previous"]) for _, m in sent if m["kind"] == "face"]
    assert events == [("appear", 1, "happiness", None), ("appear", 2, "unknown", None),
                      ("label", 1, "sadness", "happiness"), ("end", 2, "unknown", None), ("end", 1, "sadness", None)]
    assert summary["fleet"]["face_events"] == 5


def test_privacy_sends_no_face_message(tmp_path):
    sent, summary, _ = run_frames(True, tmp_path)
    assert sent and all(m["kind"] != "face" and m["privacy"] for _, m in sent)
    assert summary["fleet"]["face_events"] == 0
    for _, m in sent:
        assert "box" not in m and "track" not in m


def test_intervals_are_aligned_on_the_wall_clock(tmp_path):
    pub, clock = RecordingPublisher(tmp_path / "spool"), Clock()
    clock.t += 0.6  # the camera starts mid-second
    sink = FleetSink(pub, "cam0", "p", True, interval_s=1.0, clock=clock)
    sink.start(RunnerStandIn(str(model_file(tmp_path))))
    for i in range(10):
        sink(i, i / 4, [face(1)])
        clock.t += 0.25
    sink.close()
    intervals = [m for _, m in pub.sent if m["kind"] == "interval"]
    assert [m["frames"] for m in intervals] == [2, 4, 4]  # .6 .85 | 1.1 ... 1.85 | 2.1 ... 2.85
    assert [int(m["start"]) for m in intervals] == [1_800_000_000, 1_800_000_001, 1_800_000_002]
