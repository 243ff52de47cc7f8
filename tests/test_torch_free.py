"""Every command that runs on the Jetson works with torch made unimportable (issue #7).

The Jetson image has no torch. Here the ONNX is exported from the SHIPPED checkpoint (that needs torch,
in this test process), then one subprocess blocks ``import torch`` and runs, through the real
``edgefer.cli.main`` app: info, eval, infer and bench on the ONNX, info on an engine (from its sidecar),
build-engine (which stops at "TensorRT not found" here, after its imports), and calibrate --onnx with
info and eval on the INT8 graph it writes. It records every attempt
to import torch; none may happen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.camera.test_runtime_process import NO_TORCH  # the one torch blocker of the tests

ROOT = Path(__file__).resolve().parents[1]

RUN = textwrap.dedent("""
    import json
    from typer.testing import CliRunner
    from edgefer.cli.main import app
    results = {}
    for name, args in json.loads(sys.argv[1]).items():
        r = CliRunner().invoke(app, args)
        results[name] = {"code": r.exit_code, "out": r.output[-2000:],
                         "exc": None if r.exception is None or isinstance(r.exception, SystemExit) else repr(r.exception)}
    loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
    print(json.dumps({"results": results, "tried": _NoTorch.tried, "loaded": loaded}))
""")


@pytest.fixture(scope="module")
def shipped_onnx(tmp_path_factory) -> Path:
    """export/fsrfer.onnx made from edgefer/weights/fsrfer.pt, in a temporary folder."""
    from edgefer.deploy.onnx_export import export_model
    from edgefer.paths import DEFAULT_MODEL

    out = tmp_path_factory.mktemp("export")
    export_model(DEFAULT_MODEL, out, max_batch=8)
    return out / "fsrfer.onnx"


def test_jetson_commands_never_import_torch(shipped_onnx, ferplus_tiny, tmp_path):
    from edgefer.camera.clip import make_crowd_clip
    from edgefer.engine.sidecar import engine_sidecar, write_sidecar

    clip = make_crowd_clip(tmp_path / "crowd.mp4", n_faces=4, frames=4, size=(320, 240), face_px=(24, 40))
    engine = tmp_path / "fsrfer.fp16.engine"  # described from its sidecar; never deserialized here
    engine.write_bytes(b"\0" * 32)
    write_sidecar(engine, engine_sidecar("0" * 64, "10.3.0.30", "Orin", "8.7", "fp16", None, {"min": 1, "opt": 8, "max": 32},
                                         None, {"faces": [-1, 1, 48, 48]}, {"logits": [-1, 8]}, "fsrfer.onnx"))
    m = str(shipped_onnx)
    commands = {
        "info": ["info", "--model", m, "--json"],
        "info-engine": ["info", "--model", str(engine), "--json"],
        "eval": ["eval", "--model", m, "--data", str(ferplus_tiny), "--split", "val", "--factors", "1,4",
                 "--json", str(tmp_path / "eval.json")],
        "infer": ["infer", "--model", m, "--source", str(clip.path), "--out", str(tmp_path / "run"), "--max-frames", "2"],
        "bench": ["bench", "--model", m, "--batch", "1,4", "--iters", "2", "--clip", str(clip.path), "--frames", "2"],
        "build-engine": ["build-engine", "--onnx", m, "--out", str(tmp_path / "x.engine")],
        "calibrate": ["calibrate", "--onnx", m, "--data", str(ferplus_tiny), "--samples", "16", "--eval-split", "none",
                      "--out", str(tmp_path / "fsrfer.int8.onnx"), "--calib-dir", str(tmp_path / "cal")],
        "info-int8": ["info", "--model", str(tmp_path / "fsrfer.int8.onnx"), "--json"],
        "eval-int8": ["eval", "--model", str(tmp_path / "fsrfer.int8.onnx"), "--data", str(ferplus_tiny), "--split", "val",
                      "--factors", "1"],
    }
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", NO_TORCH + RUN, json.dumps(commands)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["tried"] == [] and report["loaded"] == [], report["tried"]
    r = report["results"]
    for name in ("info", "info-engine", "eval", "infer", "bench", "calibrate", "info-int8", "eval-int8"):
        assert r[name]["code"] == 0 and r[name]["exc"] is None, (name, r[name])
    # build-engine got past its imports and stopped, in one line, where TensorRT is missing (or built, where it exists)
    assert r["build-engine"]["exc"] is None and r["build-engine"]["code"] in (0, 2), r["build-engine"]
    info = json.loads(r["info"]["out"])
    assert info["format"] == "onnx" and info["inputs"] == {"faces": [-1, 1, 48, 48]} and info["qdq"] is False
    assert len(info["classes"]) == 8  # from the export's manifest.json
    assert json.loads(r["info-engine"]["out"])["trt_version"] == "10.3.0.30"
    assert json.loads(r["info-int8"]["out"])["qdq"] is True
    assert set(json.loads((tmp_path / "eval.json").read_text())["accuracy"]) == {"1", "4"}
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["frames"] == 2
