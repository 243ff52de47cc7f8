#!/usr/bin/env bash
# Every install step of edgefer's Jetson image, in one place (Dockerfile.jetson RUNs it; it also works on
# a bare JetPack 6 board as root). tests/test_dockerfile.py checks it against pyproject.toml.
#
# Target: JetPack 6.1/6.2 (L4T r36.4, Ubuntu 22.04, Python 3.10, CUDA 12.6, TensorRT 10.3), Orin (t234).
#
#   jetson-install.sh pycuda-wheel OUTDIR
#       In nvcr.io/nvidia/l4t-jetpack:r36.4.0 (it has nvcc and the CUDA headers that the runtime image
#       lacks): build a pycuda wheel against JetPack's CUDA 12.6 into OUTDIR, WITHOUT curand (the runtime
#       image has no libcurand, and edgefer does not use pycuda.curandom).
#
#   jetson-install.sh runtime SRC WHEELS
#       In nvcr.io/nvidia/l4t-tensorrt:r10.3.0-runtime: install
#         1. NVIDIA's L4T r36.4 apt sources and their signing key, written explicitly (a stock image or a
#            board may not have them; without them apt resolves Ubuntu's OpenCV 4.5, which cannot run
#            the vendored YuNet);
#         2. apt: NVIDIA's OpenCV 4.8 with GStreamer (`libopencv-python`), GStreamer plugins, matplotlib
#            (for crowd.png), pip;
#         3. the TensorRT Python bindings (apt python3-libnvinfer) unless the image has them. Checked
#            with importlib.util.find_spec and dpkg -s, NEVER by importing tensorrt: on JetPack 6,
#            libnvinfer needs libnvdla_compiler.so and libcuda, which only `docker run --runtime nvidia`
#            mounts; `docker build` (BuildKit) ignores default-runtime: nvidia;
#         4. pip: edgefer's runtime dependencies (pyproject [project] dependencies, numpy kept < 2 because
#            apt's cv2 and matplotlib are built against numpy 1.x);
#         5. pip: the pycuda wheel from WHEELS;
#         6. pip: edgefer from SRC with --no-deps: no torch, no pip opencv-python (its wheels have no
#            GStreamer, so CSI pipelines would fail silently);
#         7. a self-check that FAILS the build unless: cv2 has GStreamer and is >= 4.8, the tensorrt 10.x
#            bindings are installed (found, not imported), pycuda's extension links no libcurand and
#            every library it needs is in the image (libcuda.so.1 excepted: --runtime nvidia mounts it),
#            torch and pip opencv-python are absent, `edgefer --help` runs.
#
#   jetson-install.sh smoke
#       At RUN time, inside `docker run --runtime nvidia`: import tensorrt and pycuda and start CUDA.
#       (docs/jetson.md gives the one-line docker run for it.)
set -euo pipefail

PYCUDA_VERSION="2025.1.2"
L4T_RELEASE="r36.4"
L4T_SOC="t234"  # Orin
L4T_KEY_URL="https://repo.download.nvidia.com/jetson/jetson-ota-public.asc"
L4T_KEYRING="/usr/share/keyrings/nvidia-jetson-ota.gpg"
MIN_OPENCV="4.8"
# pyproject.toml [project] dependencies, as installed here (numpy capped: see step 4).
RUNTIME_DEPS=("numpy>=1.24,<2" "typer>=0.12" "rich>=13" "tqdm>=4.66")
# pyproject.toml's "fleet" extra: `edgefer infer --publish mqtt://...` on the cameras (pure Python, small).
FLEET_DEPS=("paho-mqtt>=2.0,<3")
export DEBIAN_FRONTEND=noninteractive
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

apt_install() {
    apt-get install -y --no-install-recommends "$@"
}

die() {
    echo "error: $*" >&2
    exit 1
}

pycuda_wheel() {
    local out="$1" src
    apt-get update
    apt_install python3-pip python3-dev build-essential
    src="$(mktemp -d)"
    python3 -m pip download --no-deps --no-binary :all: --dest "$src" "pycuda==${PYCUDA_VERSION}"
    tar -xzf "$src"/pycuda-*.tar.gz -C "$src"
    (
        cd "$src/pycuda-${PYCUDA_VERSION}"
        python3 configure.py --cuda-root=/usr/local/cuda
        # No curand: the TensorRT runtime image has no libcurand, and edgefer never uses pycuda.curandom.
        sed -i 's/^CUDA_ENABLE_CURAND = True/CUDA_ENABLE_CURAND = False/' siteconf.py
        grep -q '^CUDA_ENABLE_CURAND = False' siteconf.py || die "could not disable curand in pycuda's siteconf.py"
        # nvcc from the image's CUDA; libcuda.so comes from the host driver at run time, so link the stub now.
        PATH=/usr/local/cuda/bin:$PATH LIBRARY_PATH=/usr/local/cuda/lib64/stubs \
            python3 -m pip wheel --no-deps --wheel-dir "$out" .
    )
    ls "$out"/pycuda-*.whl
    rm -rf "$src" /var/lib/apt/lists/*
}

l4t_apt_sources() {
    # Written explicitly, with the key, whatever the base image has: apt must resolve NVIDIA's OpenCV 4.8
    # and TensorRT packages, never Ubuntu's OpenCV 4.5.
    apt-get update
    apt_install ca-certificates curl gnupg
    curl -fsSL "$L4T_KEY_URL" | gpg --dearmor --yes -o "$L4T_KEYRING"
    rm -f /etc/apt/sources.list.d/nvidia-l4t-apt-source.list
    {
        echo "deb [signed-by=$L4T_KEYRING] https://repo.download.nvidia.com/jetson/common $L4T_RELEASE main"
        echo "deb [signed-by=$L4T_KEYRING] https://repo.download.nvidia.com/jetson/$L4T_SOC $L4T_RELEASE main"
    } > /etc/apt/sources.list.d/nvidia-l4t-apt-source.list
    apt-get update
}

tensorrt_bindings_present() {
    # find_spec locates the package without loading libnvinfer (which needs --runtime nvidia's libraries).
    python3 -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("tensorrt") is None)' \
        || dpkg -s python3-libnvinfer >/dev/null 2>&1
}

self_check() {
    python3 - "$MIN_OPENCV" <<'EOF'
import importlib.util, re, sys
import cv2
info = cv2.getBuildInformation()
gst = re.search(r"GStreamer:\s*(\S+)", info)
assert gst and gst.group(1).upper() != "NO", "cv2 has no GStreamer: CSI cameras would not open"
need = tuple(int(v) for v in sys.argv[1].split("."))
have = tuple(int(v) for v in cv2.__version__.split(".")[:2])
if have < need:
    sys.exit(f"error: OpenCV {cv2.__version__} < {sys.argv[1]}: the vendored YuNet model needs {sys.argv[1]} "
             "(is NVIDIA's L4T apt source missing? Ubuntu's python3-opencv is 4.5)")
# The bindings are found, never imported: importing needs the libraries --runtime nvidia mounts at run time.
assert importlib.util.find_spec("tensorrt") is not None, "the tensorrt Python bindings are missing"
from importlib.metadata import PackageNotFoundError, version
try:
    trt_version = version("tensorrt")
except PackageNotFoundError:
    trt_version = None
if trt_version is not None:
    assert trt_version.startswith("10."), f"TensorRT {trt_version}: edgefer targets 10.x (JetPack 6)"
assert importlib.util.find_spec("pycuda") is not None, "pycuda is missing"
assert importlib.util.find_spec("torch") is None, "torch must not be in the Jetson image"
for dist in ("opencv-python", "opencv-python-headless", "opencv-contrib-python"):
    try:
        version(dist)
    except PackageNotFoundError:
        continue
    raise AssertionError(f"pip {dist} is installed: it has no GStreamer")
print(f"ok: OpenCV {cv2.__version__} with GStreamer, TensorRT bindings {trt_version or '(apt)'}, pycuda, no torch")
EOF
    local trt_deb driver_so missing
    trt_deb="$(dpkg-query -W -f='${Version}' python3-libnvinfer 2>/dev/null || true)"
    if [ -n "$trt_deb" ] && [[ "$trt_deb" != 10.* ]]; then
        die "python3-libnvinfer $trt_deb: edgefer targets TensorRT 10.x (JetPack 6)"
    fi
    # pycuda's extension: no libcurand, and nothing missing but libcuda.so.1 (mounted by --runtime nvidia).
    driver_so="$(python3 -c 'import importlib.util, pathlib; print(next(pathlib.Path(importlib.util.find_spec("pycuda").origin).parent.glob("_driver*.so")))')"
    if ldd "$driver_so" | grep -q libcurand; then
        die "$driver_so links libcurand, which this image lacks: rebuild the wheel with CUDA_ENABLE_CURAND = False"
    fi
    missing="$(ldd "$driver_so" | grep 'not found' | grep -v 'libcuda\.so' || true)"
    [ -z "$missing" ] || die "$driver_so needs libraries this image lacks: $missing"
    edgefer --help >/dev/null
}

runtime() {
    local src="$1" wheels="$2"
    # 1. NVIDIA's L4T apt sources and key.
    l4t_apt_sources
    # 2. OpenCV 4.8 from NVIDIA's apt source (GStreamer inside), never the pip wheel; no Ubuntu 4.5 fallback.
    apt-cache show libopencv-python >/dev/null 2>&1 \
        || die "libopencv-python (NVIDIA's OpenCV ${MIN_OPENCV}) is not in the apt sources: check the L4T $L4T_RELEASE source"
    apt_install libopencv-python python3-pip python3-matplotlib \
        gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
    # 3. TensorRT's Python bindings: part of the L4T TensorRT image; install them if this one lacks them.
    if ! tensorrt_bindings_present; then
        apt_install python3-libnvinfer
    fi
    rm -rf /var/lib/apt/lists/*
    # 4. edgefer's runtime dependencies.
    python3 -m pip install "${RUNTIME_DEPS[@]}" "${FLEET_DEPS[@]}"
    # 5. pycuda, built against this CUDA (without curand) in the pycuda-wheel step.
    python3 -m pip install "$wheels"/pycuda-*.whl
    # 6. edgefer itself, without pulling anything else (no torch, no opencv-python).
    python3 -m pip install --no-deps "$src"
    # 7. Self-check: any failure fails the build.
    self_check
}

smoke() {
    # Run time only (docker run --runtime nvidia ...): the libraries TensorRT needs are mounted now.
    python3 -c 'import tensorrt, pycuda.driver, pycuda.autoprimaryctx; print("ok: TensorRT", tensorrt.__version__, "on", pycuda.driver.Device(0).name())'
}

case "${1:-}" in
    pycuda-wheel) pycuda_wheel "${2:?OUTDIR}" ;;
    runtime) runtime "${2:?SRC}" "${3:?WHEELS}" ;;
    smoke) smoke ;;
    *) echo "usage: $0 pycuda-wheel OUTDIR | runtime SRC WHEELS | smoke" >&2; exit 2 ;;
esac
