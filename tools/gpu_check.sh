#!/usr/bin/env bash
# The GPU check of issue #7, in one go (under 10 minutes): everything on the GPU path that needs no TensorRT,
# plus the TensorRT tests where TensorRT happens to be installed.
#
#   tools/gpu_check.sh [OUT]        (default: $OUT, else gpu_check/; PYTHON=... picks the interpreter)
#
# Runs every test marked `gpu` in tests/gpu, tests/engine and tests/backends:
#   - the CUDA memory layer over cuda-python and over pycuda (allocate, copy, stream, events, free);
#   - ONNX Runtime's CUDA provider vs its CPU provider on fsrfer.onnx (exported from the shipped
#     checkpoint) and its INT8 Q/DQ graph: max |dp|, argmax agreement, accuracy per factor;
#   - TensorRT builds and runs (skipped without TensorRT).
# Writes OUT/machine.txt (GPU, driver, package versions, load), OUT/pytest.txt, OUT/junit.xml and one JSON
# of figures per check (OUT/*.json) for BENCHMARKS.md. Timings are recorded, never asserted.
# Exit status: pytest's (0 = every test passed or skipped with its reason in pytest.txt).
set -uo pipefail

OUT="${1:-${OUT:-gpu_check}}"  # the device tool sets $OUT: its files come back
PY="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
cd "$ROOT" || exit 2

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -srm), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader
    else
        echo "nvidia-smi: not found"
    fi
    "$PY" - <<'PYEOF'
import importlib, sys
print("python:", sys.version.split()[0])
for name in ("numpy", "onnx", "onnxruntime", "torch", "cuda.bindings", "pycuda", "tensorrt"):
    try:
        mod = importlib.import_module(name)
        extra = ""
        if name == "onnxruntime":
            extra = f" providers={mod.get_available_providers()}"
        if name == "torch":
            extra = f" cuda={mod.cuda.is_available()}"
        print(f"{name}: {getattr(mod, '__version__', '?')}{extra}")
    except Exception as e:  # noqa: BLE001 - a report, not a check
        print(f"{name}: missing ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})")
PYEOF
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

export EDGEFER_GPU_CHECK_OUT="$OUT" PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
timeout 540 "$PY" -m pytest -q -m gpu -rs -p no:cacheprovider --junitxml "$OUT/junit.xml" \
    tests/gpu tests/engine tests/backends 2>&1 | tee "$OUT/pytest.txt"
rc=${PIPESTATUS[0]}
echo "gpu_check: pytest exit $rc; figures in $OUT"
exit "$rc"
