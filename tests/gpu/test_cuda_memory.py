"""The CUDA memory layer (edgefer.engine.cuda_mem) on a real GPU: allocate, copy, stream, events, free."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gpu.conftest import record

pytestmark = pytest.mark.gpu


@pytest.fixture(params=["cuda-python", "pycuda"])
def memory(request):
    return request.getfixturevalue("cuda_python_memory" if request.param == "cuda-python" else "pycuda_memory")


def test_round_trip_stream_and_events(memory):
    x = np.random.default_rng(0).uniform(0, 255, (32, 1, 48, 48)).astype(np.float32)
    with memory.current():
        host_in = memory.pagelocked_empty(x.shape, np.float32)
        host_out = memory.pagelocked_empty(x.shape, np.float32)
        host_in[...] = x
        buf = memory.alloc(x.nbytes)
        stream = memory.stream()
        start, end = memory.event(), memory.event()
        start.record(stream)
        memory.htod_async(buf, host_in, stream)
        memory.dtoh_async(host_out, buf, stream)
        end.record(stream)
        end.synchronize()
        stream.synchronize()
        ms = memory.elapsed_ms(start, end)
        np.testing.assert_array_equal(host_out, x)
        assert ms >= 0
        with pytest.raises(ValueError, match="does not fit"):
            memory.htod_async(buf, np.zeros(len(x) * 2 * 48 * 48, np.float32), stream)
        memory.destroy_event(start)
        memory.destroy_event(end)
        memory.free(buf)
        memory.free(buf)  # a second free is a no-op, not a crash
        memory.free_host(host_in)
        memory.free_host(host_out)
        memory.destroy_stream(stream)
    name, cc = memory.device_info()
    record(f"cuda_memory_{memory.name}", {"device": name, "compute_capability": cc, "bytes": int(x.nbytes),
                                         "htod_dtoh_ms": round(ms, 4)})


def test_many_events_are_destroyed(memory):
    """Issue #7, 11: events are created and destroyed without leaking (a long camera run times many batches)."""
    with memory.current():
        stream = memory.stream()
        for _ in range(2000):
            ev = memory.event()
            ev.record(stream)
            ev.synchronize()
            memory.destroy_event(ev)
        memory.destroy_stream(stream)
