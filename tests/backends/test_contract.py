"""The model contract's pure logic (edgefer.backends.contract); the runners' use of it: tests/hostile."""

import json

import numpy as np
import pytest

from edgefer.backends.contract import (
    CLASSES_KEY,
    ContractError,
    check_classes,
    check_finite,
    check_input,
    onnx_class_names,
    probe,
)
from edgefer.classes import CLASSES


@pytest.mark.parametrize("shape", [["batch", 1, 48, 48], [None, 1, 48, 48], [4, 1, 48, 48], [-1, 1, "h", "w"]])
def test_face_inputs_pass(shape):
    check_input("m", shape, "float32")
    check_input("m", shape, "float16")


@pytest.mark.parametrize("shape, dtype", [([1, 3, 48, 48], "float32"), ([1, 1, 64, 64], "float32"), ([1, 48, 48], "float32"),
                                          ([1, 1, 48, 48], "uint8")])
def test_other_inputs_fail(shape, dtype):
    with pytest.raises(ContractError):
        check_input("m", shape, dtype)


def test_classes():
    check_classes("m", len(CLASSES), CLASSES)
    check_classes("m", len(CLASSES), None)  # names unknown: the count still counts
    with pytest.raises(ContractError, match="gives 7 classes"):
        check_classes("m", 7)
    with pytest.raises(ContractError, match="differ"):
        check_classes("m", len(CLASSES), [*CLASSES[1:], CLASSES[0]])


def test_finite_and_probe():
    check_finite("m", [("w", np.ones(3, np.float32)), ("steps", np.array([3]))])
    with pytest.raises(ContractError, match="'b' holds 1 non-finite"):
        check_finite("m", [("w", np.ones(3)), ("b", np.array([0.0, np.inf]))])
    assert probe("m", lambda x: np.zeros((len(x), 8), np.float32)) == 8
    with pytest.raises(ContractError, match="non-finite outputs"):
        probe("m", lambda x: np.full((len(x), 8), np.nan, np.float32))
    with pytest.raises(ContractError, match="output shape"):
        probe("m", lambda x: np.zeros((len(x), 8, 2), np.float32))

    def wrong_input(x):
        raise RuntimeError("Got invalid dimensions for input: faces")

    with pytest.raises(ContractError, match="does not run on"):
        probe("m", wrong_input)


def test_class_names_from_metadata_or_manifest(tmp_path):
    g = tmp_path / "fsrfer.onnx"
    assert onnx_class_names(g, {CLASSES_KEY: json.dumps(["a", "b"])})[0] == ["a", "b"]
    assert onnx_class_names(g, {}) == (None, "")
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "edgefer-export", "classes": list(CLASSES),
                                                        "files": {"fsrfer.onnx": {}}}))
    assert onnx_class_names(g, None)[0] == list(CLASSES)
    assert onnx_class_names(tmp_path / "other.onnx", None) == (None, "")  # a manifest for other graphs says nothing
    with pytest.raises(ContractError, match="not a JSON list"):
        onnx_class_names(g, {CLASSES_KEY: "{oops"})
