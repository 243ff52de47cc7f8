"""CalibrationBatcher against FakeDeviceMemory (a numpy test double: no GPU, no TensorRT)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgefer.engine.calibrator import CalibrationBatcher, _guard, make_calibrator
from edgefer.engine.cuda_mem import FakeDeviceMemory
from edgefer.errors import EdgeferError


def faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, 1, 48, 48)).astype(np.float32)


def drain(batcher: CalibrationBatcher, fake: FakeDeviceMemory) -> list[np.ndarray]:
    """Every batch the batcher hands out, read back from fake device memory."""
    out = []
    while (ptrs := batcher.get_batch(["faces"])) is not None:
        assert len(ptrs) == 1 and isinstance(ptrs[0], int)
        out.append(fake.read(ptrs[0], np.float32, batcher.batch_shape))
    return out


def test_batches_copied_in_order_then_none(tmp_path):
    fake, data = FakeDeviceMemory(), faces(10)
    b = CalibrationBatcher(data, 4, tmp_path / "calib.cache", fake)
    assert (b.num_batches, b.dropped, b.batch_shape) == (2, 2, (4, 1, 48, 48))
    got = drain(b, fake)
    assert len(got) == 2
    np.testing.assert_array_equal(got[0], data[0:4])
    np.testing.assert_array_equal(got[1], data[4:8])  # faces 8 and 9 (the partial tail) are dropped
    assert b.get_batch(["faces"]) is None  # stays exhausted
    assert [c[0] for c in fake.copies] == ["htod", "htod"]
    assert len({c[1] for c in fake.copies}) == 1  # one device buffer reused for every batch


def test_exact_multiple_drops_nothing():
    fake = FakeDeviceMemory()
    b = CalibrationBatcher(faces(8), 4, None, fake)
    assert (b.num_batches, b.dropped) == (2, 0)
    assert len(drain(b, fake)) == 2


def test_deterministic_and_reset():
    data = faces(13, seed=3)
    runs = []
    for _ in range(2):
        fake = FakeDeviceMemory()
        runs.append(drain(CalibrationBatcher(data, 5, None, fake), fake))
    assert len(runs[0]) == 2
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    fake = FakeDeviceMemory()
    b = CalibrationBatcher(data, 5, None, fake)
    first = drain(b, fake)
    b.reset()
    again = drain(b, fake)
    np.testing.assert_array_equal(np.stack(first), np.stack(again))


def test_converts_to_float32():
    fake = FakeDeviceMemory()
    data = np.arange(2 * 1 * 48 * 48, dtype=np.uint8).reshape(2, 1, 48, 48)
    b = CalibrationBatcher(data, 2, None, fake)
    np.testing.assert_array_equal(drain(b, fake)[0], data.astype(np.float32))


@pytest.mark.parametrize("data,batch,match", [
    (faces(3), 4, "at least one full batch"),
    (faces(4), 0, "positive integer"),
    (np.zeros(5, np.float32), 1, r"\(N, C, H, W\)"),
    (np.full((4, 1, 48, 48), np.nan, np.float32), 2, "NaN"),
])
def test_bad_input(data, batch, match):
    with pytest.raises(EdgeferError, match=match):
        CalibrationBatcher(data, batch, None, FakeDeviceMemory())


def test_one_input_only():
    b = CalibrationBatcher(faces(4), 2, None, FakeDeviceMemory())
    with pytest.raises(EdgeferError, match="one input"):
        b.get_batch(["faces", "mask"])


def test_cache_read_write(tmp_path):
    cache = tmp_path / "sub" / "calib.cache"
    b = CalibrationBatcher(faces(4), 2, cache, FakeDeviceMemory())
    assert b.read_calibration_cache() is None
    b.write_calibration_cache(memoryview(b"TRT-1003-EntropyCalibration2\nfaces: 3c010a14\n"))
    assert cache.read_bytes().startswith(b"TRT-1003")
    assert b.read_calibration_cache() == cache.read_bytes()
    b.write_calibration_cache(bytearray(b"second"))
    assert b.read_calibration_cache() == b"second"
    assert sorted(p.name for p in cache.parent.iterdir()) == ["calib.cache", "calib.cache.key.json"]  # no temp files


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    cache = tmp_path / "calib.cache"
    cache.write_bytes(b"old scales")
    b = CalibrationBatcher(faces(4), 2, cache, FakeDeviceMemory())

    def fail(self, data):
        Path.write_text(self, "half")  # half-written temp file...
        raise OSError(28, "No space left on device")  # ...then the disk fills up

    monkeypatch.setattr(Path, "write_bytes", fail)
    with pytest.raises(OSError):
        b.write_calibration_cache(b"new scales")
    monkeypatch.undo()
    assert cache.read_bytes() == b"old scales"
    assert [p.name for p in tmp_path.iterdir()] == ["calib.cache"]


def test_empty_or_no_cache_calibrates(tmp_path):
    (tmp_path / "empty.cache").write_bytes(b"")
    assert CalibrationBatcher(faces(2), 2, tmp_path / "empty.cache", FakeDeviceMemory()).read_calibration_cache() is None
    b = CalibrationBatcher(faces(2), 2, None, FakeDeviceMemory())
    assert b.read_calibration_cache() is None
    b.write_calibration_cache(b"ignored")  # no cache path: nothing written, no error


def test_close_frees_once():
    fake = FakeDeviceMemory()
    b = CalibrationBatcher(faces(4), 2, None, fake)
    assert len(fake.buffers) == 1
    b.close()
    b.close()
    assert fake.buffers == {}


def test_guard_reports_instead_of_raising():
    b = CalibrationBatcher(faces(4), 2, None, FakeDeviceMemory())
    assert _guard(b, "get_batch", lambda: b.get_batch(["a", "b"])) is None
    assert "get_batch" in b.failed and "one input" in b.failed


def test_make_calibrator_checks_method_first():
    with pytest.raises(EdgeferError, match="unknown calibration method"):
        make_calibrator("percentile", faces(4), 2, None, FakeDeviceMemory())


def test_make_calibrator_without_tensorrt(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails wherever this runs
    with pytest.raises(EdgeferError, match="TensorRT Python bindings not found"):
        make_calibrator("entropy", faces(4), 2, None, FakeDeviceMemory())


def test_guard_catches_ctrl_c_and_a_failed_batcher_writes_no_cache(tmp_path):
    """Issue #7, 7: TensorRT's trampoline would turn Ctrl-C into "no more data"; the batcher remembers it."""
    cache = tmp_path / "calib.cache"
    b = CalibrationBatcher(faces(4), 2, cache, FakeDeviceMemory())

    def ctrl_c():
        raise KeyboardInterrupt

    assert _guard(b, "get_batch", ctrl_c) is None
    assert isinstance(b.interrupted, KeyboardInterrupt) and "interrupted" in b.failed
    assert _guard(b, "get_batch", lambda: b.get_batch(["faces"])) is None  # no batch after a failure
    _guard(b, "write_calibration_cache", lambda: b.write_calibration_cache(b"scales from half the data"))
    assert not cache.exists()


def test_cache_key_depends_on_onnx_data_and_batch():
    from edgefer.engine.calibrator import calibration_key

    x = faces(8)
    base = calibration_key("a" * 64, x, 4, "entropy")
    assert base == calibration_key("a" * 64, x.copy(), 4, "entropy")
    others = [calibration_key("b" * 64, x, 4, "entropy"), calibration_key("a" * 64, faces(8, seed=1), 4, "entropy"),
              calibration_key("a" * 64, x, 2, "entropy"), calibration_key("a" * 64, x, 4, "minmax"),
              calibration_key("a" * 64, x[::-1], 4, "entropy")]
    assert len({k["digest"] for k in [base, *others]}) == 6
