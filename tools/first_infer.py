"""A fresh install's first `edgefer infer` (no --model, no export/): which graph, how fast, and is torch imported?

    .venv/bin/python tools/first_infer.py     (BENCHMARKS.md section 10)
"""
import sys, json, tempfile
from pathlib import Path
from edgefer.camera.clip import make_crowd_clip
t = Path(tempfile.mkdtemp())
clip = make_crowd_clip(t / "crowd12.mp4", 12, 150, (640, 480), (20, 64))
assert "torch" not in sys.modules
from edgefer.cli.main import app
try:
    app(["infer", "--source", str(clip.path), "--out", str(t / "run")], standalone_mode=False)
finally:
    s = json.loads((t / "run" / "summary.json").read_text())
    print(json.dumps({"torch_imported": "torch" in sys.modules, "model": s["model"].split("/")[-1], "fps": s["fps"],
                      "faces_per_s": s["faces_per_s"], "stages": {k: v["mean_ms"] for k, v in s["stages"].items()},
                      "load": __import__("os").getloadavg()}))
