"""Property-style: every numeric option of every command, given 0, a negative, NaN, ±inf or a huge value
where that is out of its range, ends in exit 2 naming the option, with no traceback and nothing written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from edgefer.cli.main import app

runner = CliRunner()

INT_BAD = ["0", "-1", "-2147483649", "nan", "inf"]  # nan/inf: not integers (Typer's own exit 2)
FLOAT_BAD = ["nan", "inf", "-inf"]

# (command, option, bad values); "{data}", "{fer}", "{clip}", "{model}" are filled per test
OPTIONS = [
    ("train fer", "--epochs", INT_BAD),
    ("train fer", "--batch-size", INT_BAD),
    ("train fer", "--limit", INT_BAD),
    ("train fer", "--lr", [*FLOAT_BAD, "0", "-0.1", "1e9"]),
    ("train fer", "--kd-alpha", [*FLOAT_BAD, "-0.5", "1.5"]),
    ("train fer", "--p-sharp", [*FLOAT_BAD, "-1", "2"]),
    ("train fer", "--logit-adjust", [*FLOAT_BAD, "-1"]),
    ("train fer", "--px-range", ["16-6", "0-12", "6-64", "6", "a-b", "6-nan", ""]),
    ("train fer", "--input-px", ["0", "-16", "24", "20", "96", "nan"]),
    ("train ensemble", "--flip-members", ["0", "3", "-1", "a", "", "1,x"]),
    ("train sr", "--epochs", INT_BAD),
    ("train sr", "--batch-size", INT_BAD),
    ("train sr", "--lr", [*FLOAT_BAD, "0"]),
    ("train fsr", "--batch-size", INT_BAD),
    ("train fsr", "--pretrain-epochs", ["-1", "nan"]),
    ("train fsr", "--epochs", ["-1", "nan"]),
    ("train fsr", "--w-adv", [*FLOAT_BAD, "-1"]),
    ("train fsr", "--w-feat", [*FLOAT_BAD, "-1"]),
    ("infer", "--det-score", [*FLOAT_BAD, "-0.1", "2"]),
    ("infer", "--min-face", [*FLOAT_BAD, "0", "-5"]),
    ("infer", "--min-confidence", [*FLOAT_BAD, "-0.1", "1.1"]),
    ("infer", "--max-frames", INT_BAD),
    ("infer", "--threads", [*INT_BAD, "100000"]),
    ("bench", "--iters", [*INT_BAD, "1000000000"]),
    ("bench", "--frames", [*INT_BAD, "1000000000"]),
    ("bench", "--threads", [*INT_BAD, "100000"]),
    ("demo", "--faces", [*INT_BAD, "1000"]),
    ("demo", "--sheet-faces", [*INT_BAD, "1000"]),
    ("demo", "--clip-faces", [*INT_BAD, "1000"]),
    ("demo", "--clip-frames", [*INT_BAD, "1000000000"]),
    ("calibrate", "--samples", [*INT_BAD, "1000000000"]),
    ("export", "--max-batch", [*INT_BAD, "100000"]),
    ("export", "--opset", ["0", "-1", "nan", "99"]),
]
BASE = {
    "train fer": ["--data", "{data}"],
    "train ensemble": ["--data", "{data}", "--member", "{fer}", "--member", "{fer}"],
    "train sr": ["--data", "{data}", "--fer", "{fer}"],
    "train fsr": ["--data", "{data}", "--fer", "{fer}"],
    "infer": ["--source", "{clip}", "--model", "{model}"],
    "bench": ["--model", "{model}", "--no-end-to-end"],
    "demo": [],
    "calibrate": ["--data", "{data}", "--onnx", "{model}", "--eval-split", "none"],
    "export": [],
}
CASES = [(cmd, opt, v) for cmd, opt, values in OPTIONS for v in values]


@pytest.mark.parametrize("cmd, opt, value", CASES, ids=[f"{c}{o}={v}" for c, o, v in CASES])
def test_out_of_range_numbers_are_refused(cmd, opt, value, ferplus_tiny, onnx_model, crowd_clip, tmp_path):
    fer = tmp_path / "fer.pt"
    fer.write_bytes(b"never read: the options fail first")
    fill = {"data": str(ferplus_tiny), "fer": str(fer), "clip": str(crowd_clip.path), "model": str(onnx_model)}
    out = tmp_path / "out"
    out_args = [] if cmd in ("bench", "calibrate") else ["--out", str(out)]
    args = [*cmd.split(), *(a.format(**fill) for a in BASE[cmd]), *out_args, f"{opt}={value}"]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)  # no traceback
    assert opt in r.output or opt.strip("-") in r.output, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) <= 1  # ours: exactly one line; Typer's type errors: its own usage message
    assert not out.exists()


@pytest.mark.parametrize("opt", ["--min-batch", "--opt-batch", "--max-batch", "--samples"])
@pytest.mark.parametrize("value", ["0", "-1", "100000000"])
def test_build_engine_numbers_fail_before_tensorrt_is_looked_for(opt, value, onnx_model):
    r = runner.invoke(app, ["build-engine", "--onnx", str(onnx_model), opt, value])
    assert r.exit_code == 2 and opt in r.output and "TensorRT" not in r.output, r.output
