#!/usr/bin/env bash
# Every install step of edgefer's Jetson image, in one place (Dockerfile.jetson RUNs it; it also works on
# a bare JetPack 6 board as root). tests/test_dockerfile.py checks it against pyproject.toml.
#
# Target: JetPack 6.1/6.2 (L4T r36.4, Ubuntu 22.04, Python 3.10, CUDA 12.6, TensorRT 10.3).
#
#   jetson-install.sh pycuda-wheel OUTDIR
#       In nvcr.io/nvidia/l4t-jetpack:r36.4.0 (it has nvcc and the CUDA headers that the runtime image
#       lacks): build a pycuda wheel against JetPack's CUDA 12.6 into OUTDIR.
#
#   jetson-install.sh runtime SRC WHEELS
#       In nvcr.io/nvidia/l4t-tensorrt:r10.3.0-runtime: install
#         1. apt: OpenCV with GStreamer (NVIDIA's OpenCV 4.8 `libopencv-python` when the L4T repo has it,
#            else Ubuntu's `python3-opencv`), GStreamer plugins, matplotlib (for crowd.png), pip;
#         2. the TensorRT Python bindings (apt python3-libnvinfer) if the image does not have them;
#         3. pip: edgefer's runtime dependencies (pyproject [project] dependencies, numpy kept < 2 because
#            apt's cv2 and matplotlib are built against numpy 1.x);
#         4. pip: the pycuda wheel from WHEELS;
#         5. pip: edgefer from SRC with --no-deps: no torch, no pip opencv-python (its wheels have no
#            GStreamer, so CSI pipelines would fail silently);
#         6. a self-check: cv2 has GStreamer and is >= 4.8 (the vendored YuNet needs it), tensorrt is
#            10.x, torch and opencv-python are absent, `edgefer --help` runs.
set -euo pipefail

PYCUDA_VERSION="2025.1.2"
# pyproject.toml [project] dependencies, as installed here (numpy capped: see step 3).
RUNTIME_DEPS=("numpy>=1.24,<2" "typer>=0.12" "rich>=13" "tqdm>=4.66")
export DEBIAN_FRONTEND=noninteractive
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

apt_install() {
    apt-get install -y --no-install-recommends "$@"
}

pycuda_wheel() {
    local out="$1"
    apt-get update
    apt_install python3-pip python3-dev build-essential
    # nvcc from the image's CUDA; libcuda.so comes from the host driver at run time, so link the stub now.
    PATH=/usr/local/cuda/bin:$PATH LIBRARY_PATH=/usr/local/cuda/lib64/stubs \
        python3 -m pip wheel --no-deps --wheel-dir "$out" "pycuda==${PYCUDA_VERSION}"
    ls "$out"/pycuda-*.whl
    rm -rf /var/lib/apt/lists/*
}

runtime() {
    local src="$1" wheels="$2"
    apt-get update
    # 1. OpenCV from apt (GStreamer inside), never the pip wheel.
    if apt-cache show libopencv-python >/dev/null 2>&1; then
        apt_install libopencv-python
    else
        echo "warning: NVIDIA's libopencv-python (OpenCV 4.8) is not in the apt sources; using Ubuntu's python3-opencv" \
             "(OpenCV 4.5: --detector yunet then needs a YuNet model made for it, or use --detector haar)" >&2
        apt_install python3-opencv opencv-data
    fi
    apt_install python3-pip python3-matplotlib \
        gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
    # 2. TensorRT's Python bindings: part of the L4T TensorRT image; install them if this one lacks them.
    if ! python3 -c "import tensorrt" >/dev/null 2>&1; then
        apt_install python3-libnvinfer
    fi
    rm -rf /var/lib/apt/lists/*
    # 3. edgefer's runtime dependencies.
    python3 -m pip install "${RUNTIME_DEPS[@]}"
    # 4. pycuda, built against this CUDA in the pycuda-wheel step.
    python3 -m pip install "$wheels"/pycuda-*.whl
    # 5. edgefer itself, without pulling anything else (no torch, no opencv-python).
    python3 -m pip install --no-deps "$src"
    # 6. Self-check.
    python3 - <<'EOF'
import importlib.util, re, sys
import cv2
info = cv2.getBuildInformation()
gst = re.search(r"GStreamer:\s*(\S+)", info)
assert gst and gst.group(1).upper() != "NO", "cv2 has no GStreamer: CSI cameras would not open"
major, minor = (int(v) for v in cv2.__version__.split(".")[:2])
if (major, minor) < (4, 8):
    print(f"warning: OpenCV {cv2.__version__} < 4.8: the vendored YuNet model needs 4.8", file=sys.stderr)
import tensorrt
assert tensorrt.__version__.startswith("10."), f"TensorRT {tensorrt.__version__}: edgefer targets 10.x (JetPack 6)"
assert importlib.util.find_spec("pycuda") is not None, "pycuda is missing"
assert importlib.util.find_spec("torch") is None, "torch must not be in the Jetson image"
from importlib.metadata import PackageNotFoundError, version
for dist in ("opencv-python", "opencv-python-headless", "opencv-contrib-python"):
    try:
        version(dist)
    except PackageNotFoundError:
        continue
    raise AssertionError(f"pip {dist} is installed: it has no GStreamer")
print(f"ok: OpenCV {cv2.__version__} with GStreamer, TensorRT {tensorrt.__version__}, pycuda, no torch")
EOF
    edgefer --help >/dev/null
}

case "${1:-}" in
    pycuda-wheel) pycuda_wheel "${2:?OUTDIR}" ;;
    runtime) runtime "${2:?SRC}" "${3:?WHEELS}" ;;
    *) echo "usage: $0 pycuda-wheel OUTDIR | runtime SRC WHEELS" >&2; exit 2 ;;
esac
