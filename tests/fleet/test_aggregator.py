import csv
import json

from edgefer.fleet.aggregator import TOTAL, FleetAggregator
from edgefer.fleet.messages import Envelope, ModelId, encode

MODEL = ModelId("m.onnx", "0" * 64, "fp32", "onnxruntime")


def interval(env: Envelope, start: float, frames: int, faces: int, happy: int, dropped: int = 0) -> dict:
    counts = {c: 0 for c in ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown")}
    counts["happiness"], counts["unknown"] = happy, faces - happy
    return env.make("interval", {"start": start, "end": start + 1, "frames": frames, "fps": float(frames), "faces": faces,
                                 "max_faces": faces, "unknown": faces - happy, "counts": counts, "dropped": dropped})


def feed(agg, msg):
    return agg.add(f"p/{msg['camera']}/{msg['kind']}", encode(msg))


def test_duplicates_are_counted_once_and_totals_add_up(tmp_path):
    agg = FleetAggregator(tmp_path, bucket_s=1.0)
    a, b = Envelope("camA", MODEL, False), Envelope("camB", MODEL, False)
    ma = [interval(a, 100.0 + i, 10, 20, 15) for i in range(3)]
    mb = [interval(b, 100.2 + i, 5, 5, 1) for i in range(3)]
    for m in ma + mb:
        assert feed(agg, m) == "new"
    assert feed(agg, ma[1]) == "duplicate"  # QoS 1 redelivery
    agg.write(plot=False)
    rows = list(csv.DictReader(open(tmp_path / "crowd.csv")))
    assert [r["camera"] for r in rows[:3]] == ["camA", "camB", TOTAL]
    total = [r for r in rows if r["camera"] == TOTAL]
    assert len(total) == 3
    assert all(int(r["happiness"]) == 16 and int(r["unknown"]) == 5 + 4 and int(r["frames"]) == 15 for r in total)
    assert float(total[0]["faces_per_frame"]) == 2.0 + 1.0  # crowd size: the cameras' faces per frame, summed
    rep = json.loads((tmp_path / "fleet.json").read_text())
    assert rep["cameras"]["camA"][a.run]["duplicates"] == 1 and rep["cameras"]["camA"][a.run]["intervals"] == 3


def test_missing_messages_are_found_and_matched_against_drops(tmp_path):
    agg = FleetAggregator(tmp_path)
    env = Envelope("cam", MODEL, True)
    msgs = [interval(env, 100.0 + i, 1, 1, 1) for i in range(6)]
    end = env.make("status", {"state": "end", "intervals": 6, "face_events": 0, "dropped": 2})
    for m in msgs[2:] + [end]:  # the spool dropped the two oldest
        feed(agg, m)
    st = agg.runs[("cam", env.run)]
    assert st.missing() == 2 and st.complete()
    assert agg.ended() == [("cam", env.run)]
    agg2 = FleetAggregator(tmp_path / "b")
    for m in msgs[:2] + msgs[3:] + [end]:  # one lost in transit on top of... nothing dropped
        feed(agg2, {**m, "dropped": 0} if m is end else m)
    end0 = {**end, "dropped": 0}
    feed(agg2, end0)  # a duplicate of the end, with a different count, is ignored: seq seen
    assert agg2.runs[("cam", env.run)].missing() == 1 and not agg2.runs[("cam", env.run)].complete()


def test_privacy_keeps_no_face_event_and_bad_messages_are_counted(tmp_path):
    agg = FleetAggregator(tmp_path, privacy=True)
    env = Envelope("cam", MODEL, False)
    ev = env.make("face", {"event": "appear", "track": 1, "label": "happiness", "previous": None, "score": 0.9,
                           "face_px": 20, "box": [1, 2, 20, 20], "frame": 0})
    assert feed(agg, ev) == "ignored"
    assert not (tmp_path / "events.jsonl").exists()
    assert agg.add("p/cam/interval", b"not json") == "invalid"
    assert agg.add("p/other/face", encode(ev)) == "invalid"  # topic and body disagree
    assert agg.invalid == 2
    agg.write(plot=False)
    assert json.loads((tmp_path / "fleet.json").read_text())["face_events_ignored"] == 1


def test_broken_messages_do_not_stop_the_aggregator(tmp_path):
    agg = FleetAggregator(tmp_path)
    env = Envelope("cam", MODEL, True)
    good = interval(env, 100.0, 2, 2, 1)
    for broken in ({**good, "frames": "2"}, {**good, "counts": {"happiness": None}}, {**good, "start": None},
                   {**good, "seq": -1}, {**good, "seq": "3"}, [1, 2]):
        assert agg.add("p/cam/interval", json.dumps(broken).encode()) == "invalid"
    assert feed(agg, good) == "new"
    agg.write(plot=False)  # still writes
    assert agg.invalid == 6 and len(agg.rows()) == 2


def test_a_restarted_aggregator_continues(tmp_path):
    env = Envelope("cam", MODEL, False)
    msgs = [interval(env, 100.0 + i, 1, 1, 1) for i in range(4)]
    ev = env.make("face", {"event": "appear", "track": 1, "label": "happiness", "previous": None, "score": 0.9,
                           "face_px": 20, "box": [1, 2, 20, 20], "frame": 0})
    first = FleetAggregator(tmp_path)
    for m in msgs[:3] + [ev]:
        feed(first, m)
    first.close()  # killed: no write() of crowd.csv
    with open(tmp_path / "messages.jsonl", "a") as fh:
        fh.write('{"cut by a cra')  # a line cut by the crash
    second = FleetAggregator(tmp_path)
    assert second.replayed == 4
    assert feed(second, msgs[2]) == "duplicate" and feed(second, ev) == "duplicate"  # redelivered after the restart
    assert feed(second, msgs[3]) == "new"
    second.write(plot=False)
    rows = [r for r in csv.DictReader(open(tmp_path / "crowd.csv")) if r["camera"] == TOTAL]
    assert len(rows) == 4 and second.runs[("cam", env.run)].face_events == 1
    second.close()
    assert FleetAggregator(tmp_path).replayed == 5  # the message after the cut line survived it
