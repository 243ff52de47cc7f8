"""Dockerfile.jetson and docker/jetson-install.sh agree with pyproject.toml (the image cannot be built here)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile.jetson"
SCRIPT = ROOT / "docker" / "jetson-install.sh"
RUNTIME_IMAGE = "nvcr.io/nvidia/l4t-tensorrt:r10.3.0-runtime"
BUILD_IMAGE = "nvcr.io/nvidia/l4t-jetpack:r36.4.0"  # L4T r36.4 = JetPack 6.1: CUDA 12.6, TensorRT 10.3


def name_of(requirement: str) -> str:
    return re.split(r"[<>=!~\[;\s]", requirement, maxsplit=1)[0].lower()


def lower_bound(requirement: str) -> str | None:
    m = re.search(r">=\s*([\w.]+)", requirement)
    return m.group(1) if m else None


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, comments dropped, continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, args = line.partition(" ")
            out.append((op.upper(), args.strip()))
    return out


@pytest.fixture(scope="module")
def script() -> str:
    return SCRIPT.read_text()


def script_deps(script: str) -> list[str]:
    m = re.search(r"RUNTIME_DEPS=\(([^)]*)\)", script)
    assert m, "docker/jetson-install.sh must list the runtime dependencies in RUNTIME_DEPS=(...)"
    return re.findall(r'"([^"]+)"', m.group(1))


def pip_lines(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if re.search(r"\bpip3?\b.*\binstall\b", line)]


def test_base_images_are_jetpack6_tensorrt_10_3(dockerfile):
    froms = [args for op, args in dockerfile if op == "FROM"]
    assert froms[-1] == RUNTIME_IMAGE  # the image that runs
    assert froms[0].split()[0] == BUILD_IMAGE  # pycuda is compiled on the same L4T release (same CUDA)
    assert all(not f.endswith(":latest") and ":" in f for f in froms)


def test_entrypoint_is_the_edgefer_script(dockerfile, pyproject):
    assert ("ENTRYPOINT", '["edgefer"]') in dockerfile
    assert pyproject["project"]["scripts"]["edgefer"] == "edgefer.cli.main:app"


def test_every_install_step_is_in_the_one_script(dockerfile):
    runs = [args for op, args in dockerfile if op == "RUN"]
    assert runs and all("jetson-install.sh" in r for r in runs)
    assert not any(re.search(r"\b(pip3?|apt-get|apt)\b", r) for r in runs), "install steps belong in the script"
    assert any("jetson-install.sh runtime" in r for r in runs) and any("jetson-install.sh pycuda-wheel" in r for r in runs)
    for op, args in dockerfile:
        if op == "COPY" and "--from" not in args:
            for src in args.split()[:-1]:
                assert (ROOT / src).exists(), f"COPY {src}: not in the repository"


def test_script_installs_every_runtime_dependency_of_pyproject(pyproject, script):
    wanted = {name_of(r): r for r in pyproject["project"]["dependencies"]}
    got = {name_of(r): r for r in script_deps(script)}
    assert set(got) == set(wanted), f"pyproject {sorted(wanted)} vs script {sorted(got)}"
    for name, req in wanted.items():
        assert lower_bound(got[name]) == lower_bound(req), f"{name}: script {got[name]!r} vs pyproject {req!r}"
    assert '"${RUNTIME_DEPS[@]}"' in script


def test_no_torch_and_no_pip_opencv(pyproject, script):
    assert not any(name_of(r) in ("torch", "opencv-python", "opencv-python-headless") for r in pyproject["project"]["dependencies"])
    for line in pip_lines(script):
        assert "torch" not in line and "opencv" not in line, line
    assert re.search(r"pip install --no-deps \"\$src\"", script), "edgefer itself must be installed with --no-deps"
    assert re.search(r"apt_install[^\n]*\b(libopencv-python|python3-opencv)\b", script), "OpenCV comes from apt"
    assert 'find_spec("torch") is None' in script  # and the image checks it


def test_pycuda_is_built_against_the_images_cuda(script):
    assert re.search(r"PATH=/usr/local/cuda/bin:\$PATH[^\n]*\\\n[^\n]*pip wheel", script)
    assert re.search(r'pip download[^\n]*"pycuda==\$\{PYCUDA_VERSION\}"', script)
    assert re.search(r"pip install \"\$wheels\"/pycuda-\*\.whl", script)


def function_body(script: str, name: str) -> str:
    m = re.search(rf"^{name}\(\) \{{\n(.*?)^\}}", script, re.S | re.M)
    assert m, f"no function {name}() in docker/jetson-install.sh"
    return m.group(1)


def test_build_never_imports_tensorrt(script):
    """Issue #7, 1: on JetPack 6 `import tensorrt` needs libnvdla_compiler.so, mounted only at docker run."""
    build_steps = "\n".join(line for line in script.split("\nsmoke() {")[0].splitlines()  # what docker build runs
                            if not line.lstrip().startswith("#"))
    assert not re.search(r"import tensorrt|__import__\(.tensorrt|import_module\(.tensorrt", build_steps)
    present = function_body(script, "tensorrt_bindings_present")
    assert 'find_spec("tensorrt")' in present and "dpkg -s python3-libnvinfer" in present
    assert "import tensorrt" in function_body(script, "smoke")  # the import is checked at run time instead


def test_l4t_apt_sources_and_key_are_explicit(script):
    body = function_body(script, "l4t_apt_sources")
    assert 'L4T_RELEASE="r36.4"' in script and 'L4T_SOC="t234"' in script
    assert "https://repo.download.nvidia.com/jetson/common $L4T_RELEASE main" in body
    assert "https://repo.download.nvidia.com/jetson/$L4T_SOC $L4T_RELEASE main" in body
    assert "jetson-ota-public.asc" in script and "signed-by=$L4T_KEYRING" in body and "gpg --dearmor" in body
    runtime = function_body(script, "runtime")
    assert runtime.index("l4t_apt_sources") < runtime.index("apt_install libopencv-python")


def test_old_opencv_fails_the_build(script):
    """No silent fallback to Ubuntu's OpenCV 4.5: the vendored YuNet needs 4.8."""
    assert 'MIN_OPENCV="4.8"' in script
    assert "python3-opencv" not in function_body(script, "runtime").replace("# ", "")
    check = function_body(script, "self_check")
    assert re.search(r"if have < need:\n\s+sys\.exit\(", check), "OpenCV < 4.8 must exit non-zero"
    assert "warning" not in check.lower()


def test_pycuda_has_no_curand_and_is_ldd_checked(script):
    """Issue #7, 9: the runtime image has no libcurand."""
    wheel = function_body(script, "pycuda_wheel")
    assert "s/^CUDA_ENABLE_CURAND = True/CUDA_ENABLE_CURAND = False/" in wheel
    assert "grep -q '^CUDA_ENABLE_CURAND = False' siteconf.py" in wheel
    check = function_body(script, "self_check")
    assert 'ldd "$driver_so" | grep -q libcurand' in check
    assert "grep 'not found' | grep -v 'libcuda\\.so'" in check


def test_script_refuses_unknown_steps():
    r = subprocess.run(["bash", str(SCRIPT), "nonsense"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage:" in r.stderr and "smoke" in r.stderr


def test_the_vendored_yunet_reaches_the_image(pyproject, script):
    data = pyproject["tool"]["setuptools"].get("package-data", {}).get("edgefer", [])
    in_package = any(p in ("weights/*.onnx", "weights/*") for p in data)
    assert in_package or "face_detection_yunet.onnx" in script
    assert (ROOT / "edgefer" / "weights" / "face_detection_yunet.onnx").is_file()


def test_script_is_valid_bash_and_lints_clean_when_linters_exist():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    assert SCRIPT.stat().st_mode & 0o111, "docker/jetson-install.sh must be executable"
    for tool, args in (("shellcheck", [str(SCRIPT)]), ("hadolint", [str(DOCKERFILE)])):
        if shutil.which(tool):
            r = subprocess.run([tool, *args], capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr


def test_docs_give_the_docker_run_line():
    doc = (ROOT / "docs" / "jetson.md").read_text()
    for flag in ("--runtime nvidia", "/tmp/argus_socket:/tmp/argus_socket", "--device /dev/video0", "/work/export",
                 "build-engine --onnx export/fsrfer.onnx --precision fp16", "docker build -f Dockerfile.jetson",
                 "--int8-mode qdq-fp16"):
        assert flag in doc, flag
    # the run-time smoke test (TensorRT can only be imported under --runtime nvidia)
    assert re.search(r"docker run --rm --runtime nvidia [^\n]*-c \"import tensorrt, pycuda\.driver", doc)
    # --runtime nvidia mounts the Jetson's drivers and libraries; TensorRT itself is in the image
    assert not re.search(r"--runtime nvidia`?:[^\n]*TensorRT libraries of the host", doc)
    assert "NOT run on a GPU" in doc or "not run on a GPU" in doc


def test_dockerfile_and_install_script_lint_clean():
    """The image cannot be built here, so it is linted: hadolint and shellcheck (both from the dev extra)."""
    import sys

    bindir = Path(sys.executable).parent
    tools = {name: shutil.which(name, path=str(bindir)) or shutil.which(name) for name in ("hadolint", "shellcheck")}
    missing = [name for name, path in tools.items() if path is None]
    assert not missing, f"{missing} not installed: pip install -e '.[dev]'"
    for tool, target in (("hadolint", ROOT / "Dockerfile.jetson"), ("shellcheck", ROOT / "docker" / "jetson-install.sh")):
        out = subprocess.run([tools[tool], str(target)], capture_output=True, text=True)
        assert out.returncode == 0, f"{tool} {target.name}:\n{out.stdout}{out.stderr}"


def test_the_image_can_publish_to_a_fleet(pyproject, script):
    m = re.search(r"FLEET_DEPS=\(([^)]*)\)", script)
    assert m, "docker/jetson-install.sh must list the fleet extra in FLEET_DEPS=(...)"
    assert re.findall(r'"([^"]+)"', m.group(1)) == pyproject["project"]["optional-dependencies"]["fleet"]
    assert '"${FLEET_DEPS[@]}"' in script
