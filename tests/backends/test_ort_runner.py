"""The ONNX Runtime runner: threads given means idle threads sleep (no spinning pool in the camera loop)."""

from __future__ import annotations

from edgefer.backends.ort_runner import OnnxRuntimeRunner
from tests.engine import tiny_onnx


def test_threads_turn_spinning_off(tmp_path):
    path = tmp_path / "tiny.onnx"
    tiny_onnx(path)
    for threads, spinning in ((2, "0"), (None, "")):
        runner = OnnxRuntimeRunner(str(path), threads=threads)
        runner.activate()
        try:
            opts = runner.session.get_session_options()
            try:
                entry = opts.get_session_config_entry("session.intra_op.allow_spinning")
            except RuntimeError:  # not set: ONNX Runtime's default (spinning)
                entry = ""
            assert entry == spinning
            assert opts.intra_op_num_threads == (threads or 0)
        finally:
            runner.deactivate()
