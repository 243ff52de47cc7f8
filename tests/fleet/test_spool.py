import pytest

from edgefer.errors import EdgeferError
from edgefer.fleet.spool import Spool


def test_fifo_ack_and_recovery_after_a_crash(tmp_path):
    s = Spool(tmp_path / "sp", max_messages=100)
    for i in range(5):
        s.put("t/cam/interval", b'{"i": %d}' % i)
    first = s.take()
    assert first[1:] == ("t/cam/interval", b'{"i": 0}')
    s.ack(first[0])
    s.take()  # in flight, never acknowledged: the process "dies" here
    again = Spool(tmp_path / "sp", max_messages=100)  # the next run
    assert again.recovered == 4 and len(again) == 4
    got = [again.take()[2] for _ in range(4)]
    assert got == [b'{"i": %d}' % i for i in (1, 2, 3, 4)]  # oldest first, the unacknowledged one included
    assert again.take() is None
    again.put("t", b"new")
    assert again.take()[0] > first[0]  # keys keep increasing across runs
    assert not [p for p in (tmp_path / "sp").iterdir() if not p.name.endswith(".msg")]  # no temp files left


def test_full_spool_drops_the_oldest_and_counts(tmp_path):
    s = Spool(tmp_path, max_messages=100)
    for i in range(130):
        s.put("t", str(i).encode())
    assert s.dropped == 30 and len(s) == 100
    assert s.take()[2] == b"30"
    assert len(list(tmp_path.glob("*.msg"))) == 100


def test_in_flight_messages_are_not_dropped(tmp_path):
    s = Spool(tmp_path, max_messages=100)
    for i in range(100):
        s.put("t", str(i).encode())
    taken = [s.take() for _ in range(3)]
    s.put("t", b"100")
    assert s.dropped == 1 and s.take()[2] == b"4"  # 3 in flight kept, the oldest unsent (3) dropped
    for k, _, _ in taken:
        s.ack(k)
    assert len(s) == 97


def test_bound_is_checked(tmp_path):
    with pytest.raises(EdgeferError, match="--spool-max 10"):
        Spool(tmp_path, max_messages=10)


def test_make_room_counts_the_drop_before_the_last_message(tmp_path):
    s = Spool(tmp_path, max_messages=100)
    for i in range(100):
        s.put("t", str(i).encode())
    s.make_room()
    assert s.dropped == 1
    s.put("t", b"end")  # the count stated in "end" is final: this put drops nothing more
    assert s.dropped == 1 and len(s) == 100


def test_privacy_removes_an_earlier_runs_face_messages(tmp_path):
    s = Spool(tmp_path, max_messages=100)
    for kind in ("status", "face", "interval", "face", "interval"):
        s.put(f"p/cam/{kind}", kind.encode())
    again = Spool(tmp_path, max_messages=100)
    assert again.discard_topics("/face") == 2
    assert [again.take()[2] for _ in range(3)] == [b"status", b"interval", b"interval"] and again.take() is None
    assert len(list(tmp_path.glob("*.msg"))) == 3
