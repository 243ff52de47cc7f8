"""The graphs shipped in edgefer/weights are the export of the shipped checkpoint (graphs.json's hashes).

When this fails after fsrfer.pt changed, regenerate them (needs FER+ for the INT8 calibration):

    .venv/bin/python tools/ship_graphs.py --data ../shared/data/ferplus
"""

import json

import cv2
import numpy as np
import pytest

from edgefer.camera.defaults import SHIPPED_FP32, SHIPPED_INT8_CPU, SHIPPED_MANIFEST
from edgefer.fileio import sha256_file
from edgefer.paths import DEFAULT_MODEL

REGENERATE = "the shipped graphs are stale: run `python tools/ship_graphs.py --data ../shared/data/ferplus` and commit " \
             "edgefer/weights/fsrfer.onnx, fsrfer.int8-cpu.onnx and graphs.json"


@pytest.fixture(scope="module")
def manifest():
    return json.loads(SHIPPED_MANIFEST.read_text())


def test_manifest_matches_the_shipped_checkpoint_and_graphs(manifest):
    assert manifest["source"]["sha256"] == sha256_file(DEFAULT_MODEL), f"{DEFAULT_MODEL.name} changed: {REGENERATE}"
    for path in (SHIPPED_FP32, SHIPPED_INT8_CPU):
        assert manifest["graphs"][path.name]["sha256"] == sha256_file(path), f"{path.name} changed: {REGENERATE}"


def test_graphs_carry_the_checkpoint_metadata():
    import onnx

    from edgefer.checkpoint import load_checkpoint

    ckpt = load_checkpoint(DEFAULT_MODEL)
    for path in (SHIPPED_FP32, SHIPPED_INT8_CPU):
        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        assert props["edgefer.source_sha256"] == sha256_file(DEFAULT_MODEL), REGENERATE
        assert json.loads(props["edgefer.classes"]) == list(ckpt["classes"])
        want = ckpt.get("abstain")
        assert (json.loads(props["edgefer.abstain"]) if "edgefer.abstain" in props else None) == want, REGENERATE


def test_fp32_graph_computes_what_the_checkpoint_computes():
    """Not only the hashes: the FP32 graph agrees with PyTorch on real faces (LFW, at three sizes)."""
    from edgefer.backends import load_runner
    from edgefer.degrade import degrade
    from edgefer.preprocess import preprocess_faces
    from edgefer.sample_faces import lfw_faces

    faces = preprocess_faces(list(lfw_faces(24)))
    batch = np.concatenate([faces, degrade(faces, 3), degrade(faces, 6)])
    with load_runner(DEFAULT_MODEL) as torch_runner, load_runner(SHIPPED_FP32) as ort_runner:
        p_torch, p_ort = torch_runner.infer(batch), ort_runner.infer(batch)
    assert np.abs(p_torch - p_ort).max() < 1e-3, REGENERATE
    with load_runner(SHIPPED_INT8_CPU) as int8_runner:  # INT8 is close, not equal: most faces keep their label
        agree = (int8_runner.infer(batch).argmax(1) == p_torch.argmax(1)).mean()
    assert agree > 0.8, f"INT8 agrees with PyTorch on {agree:.0%} of faces: {REGENERATE}"


def test_the_default_decides_the_same_through_pt_onnx_and_the_camera_api():
    """The shipped default through its three paths (PyTorch checkpoint, FP32 graph, FaceAnalyzer as the
    camera loop runs it) gives each real face the same label, abstentions included."""
    from edgefer.api import FaceAnalyzer
    from edgefer.sample_faces import lfw_faces

    crops = [np.asarray(c) for c in lfw_faces(24)]
    crops += [c[::3, ::3] for c in crops[:12]]  # the same faces, smaller
    crops += [cv2.resize(c, (9, 9), interpolation=cv2.INTER_AREA) for c in crops[:12]]  # and tiny
    import torch

    from edgefer.checkpoint import load_classifier
    from edgefer.preprocess import preprocess_faces

    model, ckpt = load_classifier(DEFAULT_MODEL)
    if ckpt["kind"] == "routed":  # both routes are taken on these faces, so both are compared
        with torch.no_grad():
            sharp = (model.score(torch.from_numpy(preprocess_faces(crops))) > model.threshold)[:, 0]
        assert sharp.any() and not sharp.all(), sharp.tolist()
    results = {}
    for name, model in (("pt", DEFAULT_MODEL), ("onnx", SHIPPED_FP32)):
        with FaceAnalyzer(model=model, detector=None, threads=1) as analyzer:
            results[name] = analyzer.classify(crops)
            assert analyzer.min_confidence is not None  # the model's own abstention threshold travels with it
    pt, onnx = results["pt"], results["onnx"]
    assert [f.label for f in pt] == [f.label for f in onnx]
    assert [f.reason for f in pt] == [f.reason for f in onnx]
    assert max(abs(a.score - b.score) for a, b in zip(pt, onnx) if a.score is not None) < 1e-3
    assert sum(f.label != "unknown" for f in pt) >= len(crops) // 2  # most real faces get a label
