"""Whole processes: SIGINT/SIGTERM during a run leave valid outputs; the runtime path never imports torch."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edgefer.camera.clip import make_crowd_clip

ROOT = Path(__file__).resolve().parents[2]

# The test CLI: the two commands on a fresh Typer app, as edgefer.cli.main registers them.
CLI = textwrap.dedent("""
    import sys, typer
    from edgefer.cli.common import handle_errors
    from edgefer.cli.infer import bench_command, infer_command
    app = typer.Typer()
    app.command("infer")(handle_errors(infer_command))
    app.command("bench")(handle_errors(bench_command))
    app(sys.argv[1:])
""")

# Makes `import torch` fail as it does on the Jetson image, and records who tried.
NO_TORCH = textwrap.dedent("""
    import sys
    class _NoTorch:
        tried = []
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                _NoTorch.tried.append(name)
                raise ImportError("torch is blocked: the Jetson runtime path must not import it")
    sys.meta_path.insert(0, _NoTorch())
""")


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """Long enough (400 frames) that a signal always lands mid-run."""
    return make_crowd_clip(tmp_path_factory.mktemp("long") / "long.avi", n_faces=3, frames=400, size=(320, 240),
                           face_px=(24, 40))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_finalises_every_output(signum, long_clip, onnx_model, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", CLI, "infer", "--source", str(long_clip.path), "--model", str(onnx_model),
                             "--out", str(out), "--threads", "1"], cwd=tmp_path, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    jsonl = out / "faces.jsonl"
    deadline = time.monotonic() + 60
    while not (jsonl.is_file() and jsonl.stat().st_size > 0):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.05)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"] == signal.Signals(signum).name
    assert 0 < summary["frames"] < long_clip.frames  # stopped mid-run, not at the end
    lines = jsonl.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is whole JSON
    assert len(records) == summary["faces"]
    assert max(r["frame"] for r in records) < summary["frames"]
    rows = list(csv.DictReader((out / "crowd.csv").open()))
    assert sum(int(r["frames"]) for r in rows) == summary["frames"]
    assert (out / "crowd.png").is_file() and f"stopped: {signal.Signals(signum).name}" in stdout
    assert not list(out.glob(".*"))  # no temporary files left


def test_runtime_path_does_not_import_torch(crowd_clip, onnx_model, tmp_path):
    """infer + bench on an ONNX model, with torch made unimportable as on the Jetson."""
    code = NO_TORCH + textwrap.dedent(f"""
        import json, typer
        from typer.testing import CliRunner
        import edgefer.cli.main  # the real entry point must not pull torch either
        import edgefer.camera.bench, edgefer.camera.clip, edgefer.camera.pipeline, edgefer.cli.infer
        from edgefer.cli.common import handle_errors
        from edgefer.cli.infer import bench_command, infer_command
        app = typer.Typer()
        app.command("infer")(handle_errors(infer_command))
        app.command("bench")(handle_errors(bench_command))
        r1 = CliRunner().invoke(app, ["infer", "--model", {str(onnx_model)!r}, "--source", {str(crowd_clip.path)!r},
                                      "--out", {str(tmp_path / "out")!r}, "--max-frames", "3", "--save-video"])
        r2 = CliRunner().invoke(app, ["bench", "--model", {str(onnx_model)!r}, "--batch", "1,4", "--iters", "2",
                                      "--clip", {str(crowd_clip.path)!r}, "--frames", "3"])
        torch_mods = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
        print(json.dumps({{"codes": [r1.exit_code, r2.exit_code], "out": r1.output + r2.output,
                          "tried": _NoTorch.tried, "loaded": torch_mods}}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["codes"] == [0, 0], r["out"]
    assert r["tried"] == [] and r["loaded"] == [], r
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["frames"] == 3
