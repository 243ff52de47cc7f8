"""Sidecar round trip, mismatch messages, batch-profile validation, cache keys (pure, no TensorRT)."""

from __future__ import annotations

import hashlib
import json

import pytest

from edgefer.engine import EngineMismatch, check_sidecar, engine_cache_key, engine_sidecar, profile_shapes
from edgefer.engine.sidecar import read_sidecar, sidecar_path, write_sidecar
from edgefer.fileio import sha256_file
from edgefer.errors import EdgeferError

PROFILE = {"min": 1, "opt": 8, "max": 32}


def make(**over):
    args = dict(onnx_sha256="ab" * 32, trt_version="10.3.0.30", device_name="Orin", compute_capability="8.7",
                precision="fp16", int8_mode=None, profile=PROFILE, dla_core=None,
                inputs={"faces": [-1, 1, 48, 48]}, outputs={"logits": [-1, 8]})
    args.update(over)
    return engine_sidecar(**args)


def test_round_trip_next_to_engine(tmp_path):
    engine = tmp_path / "fsrfer.engine"
    side = make(extra={"classes": ["neutral", "happiness"]})
    path = write_sidecar(engine, side)
    assert path == tmp_path / "fsrfer.engine.json" == sidecar_path(engine)
    assert read_sidecar(engine) == side
    assert json.loads(path.read_text())["profile"] == PROFILE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fsrfer.engine.json"]  # no temp file left


def test_sidecar_fields():
    side = make(precision="int8", int8_mode="implicit", dla_core=0)
    assert side["format"] == "edgefer-trt-engine"
    assert side["int8_mode"] == "implicit" and side["dla_core"] == 0
    assert side["cache_key"] == engine_cache_key("ab" * 32, "10.3.0.30", "Orin", "int8", PROFILE, 0, "implicit", "8.7")
    assert make(int8_mode="qdq")["int8_mode"] is None  # only meaningful for int8
    with pytest.raises(EdgeferError, match="unknown precision"):
        make(precision="int4")


def test_read_missing_is_none(tmp_path):
    assert read_sidecar(tmp_path / "x.engine") is None


@pytest.mark.parametrize("text", ["{not json", json.dumps({"format": "other"}), json.dumps([1, 2])])
def test_read_garbage_says_rebuild(tmp_path, text):
    (tmp_path / "x.engine.json").write_text(text)
    with pytest.raises(EngineMismatch, match="rebuild"):
        read_sidecar(tmp_path / "x.engine")


def test_read_newer_version(tmp_path):
    write_sidecar(tmp_path / "x.engine", {**make(), "version": 99})
    with pytest.raises(EngineMismatch, match="newer"):
        read_sidecar(tmp_path / "x.engine")


def test_check_passes_on_same_build():
    check_sidecar(make(), "10.3.0.30", "Orin", "8.7", "x.engine")


@pytest.mark.parametrize("here", [("10.4.0.26", "Orin", "8.7"), ("10.3.0.30", "NVIDIA H100", "8.7"),
                                  ("10.3.0.30", "Orin", "9.0")])
def test_mismatch_says_rebuild(here):
    with pytest.raises(EngineMismatch) as e:
        check_sidecar(make(), *here, "models/x.engine")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("x.engine was built with TensorRT 10.3.0.30 on Orin")
    assert f"this is TensorRT {here[0]} on {here[1]}" in msg
    assert "rebuild it with `edgefer build-engine`" in msg
    assert isinstance(e.value, EdgeferError)


def test_profile_shapes():
    assert profile_shapes((1, 48, 48), 1, 8, 32) == ((1, 1, 48, 48), (8, 1, 48, 48), (32, 1, 48, 48))
    assert profile_shapes([3, 112, 112], 4, 4, 4) == ((4, 3, 112, 112),) * 3


@pytest.mark.parametrize("batches", [(0, 1, 1), (2, 1, 4), (1, 8, 4), (-1, 1, 1), (1.0, 2, 4), (True, 2, 4)])
def test_profile_validation(batches):
    with pytest.raises(EdgeferError, match="batch sizes") as e:
        profile_shapes((1, 48, 48), *batches)
    assert "\n" not in str(e.value)


def test_profile_needs_known_sample_shape():
    with pytest.raises(EdgeferError, match="fixed size"):
        profile_shapes((1, -1, -1), 1, 1, 1)


BASE_KEY = dict(onnx_sha256="ab" * 32, trt_version="10.3.0.30", device_name="Orin", precision="int8",
                profile=PROFILE, dla_core=None, int8_mode="qdq", compute_capability="8.7")


@pytest.mark.parametrize("field,value", [
    ("onnx_sha256", "cd" * 32), ("trt_version", "10.3.0.31"), ("device_name", "Orin Nano"),
    ("precision", "fp16"), ("profile", {"min": 1, "opt": 16, "max": 32}), ("profile", {"min": 2, "opt": 8, "max": 32}),
    ("profile", {"min": 1, "opt": 8, "max": 64}), ("dla_core", 0), ("int8_mode", "implicit"),
    ("compute_capability", "8.6"),
])
def test_cache_key_changes_with_each_field(field, value):
    base = engine_cache_key(**BASE_KEY)
    assert engine_cache_key(**BASE_KEY) == base  # deterministic
    assert len(base) == 64
    assert engine_cache_key(**{**BASE_KEY, field: value}) != base


def test_cache_key_dla_core_numbers_differ():
    assert engine_cache_key(**{**BASE_KEY, "dla_core": 0}) != engine_cache_key(**{**BASE_KEY, "dla_core": 1})


def test_cache_key_ignores_int8_mode_unless_int8():
    fp16 = {**BASE_KEY, "precision": "fp16"}
    assert engine_cache_key(**{**fp16, "int8_mode": "qdq"}) == engine_cache_key(**{**fp16, "int8_mode": "implicit"})


def test_sha256_file(tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(b"x" * 3_000_000)
    assert sha256_file(p) == hashlib.sha256(b"x" * 3_000_000).hexdigest()
