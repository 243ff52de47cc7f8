"""ONNX Runtime's CUDA provider against its CPU provider on fsrfer.onnx and its INT8 Q/DQ graph.

The graphs come from the SHIPPED checkpoint (exported here: needs torch, CPU is enough). Faces: the FER+
validation split when ../shared/data/ferplus exists (figures labelled "ferplus-val"), else synthetic
faces (labelled "synthetic": parity only, no accuracy claim). The INT8 graph is calibrated on 256 faces of
that same split: this checks CUDA-vs-CPU parity, it does not report INT8 accuracy.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.conftest import FERPLUS, write_ferplus
from tests.gpu.conftest import record

pytestmark = pytest.mark.gpu

FACTORS = (1, 4, 8)


@pytest.fixture(scope="module")
def graphs(tmp_path_factory, ort_cuda):
    pytest.importorskip("torch", reason="exporting fsrfer.onnx from the shipped checkpoint needs torch")
    from edgefer.data import load_dataset
    from edgefer.deploy.calibset import make_calibration_set
    from edgefer.deploy.onnx_export import export_model
    from edgefer.deploy.quantize import qdq_violations, quantize_qdq
    from edgefer.paths import DEFAULT_MODEL

    tmp = tmp_path_factory.mktemp("gpu-export")
    export_model(DEFAULT_MODEL, tmp, max_batch=64)
    if (FERPLUS / "FER2013Valid" / "label.csv").is_file():
        faces, label = load_dataset(FERPLUS, "val"), "ferplus-val"
    else:
        faces, label = load_dataset(write_ferplus(tmp / "synthetic", n_train=8, n_val=256), "val"), "synthetic"
    x, _, _ = make_calibration_set(faces.images, 256, seed=0)
    int8 = quantize_qdq(tmp / "fsrfer.onnx", x, tmp / "fsrfer.int8.onnx")
    assert qdq_violations(int8) == []
    return {"fp32": tmp / "fsrfer.onnx", "int8": int8}, faces, label


@pytest.mark.parametrize("graph", ["fp32", "int8"])
def test_cuda_matches_cpu(graphs, graph):
    from edgefer.backends import load_runner
    from edgefer.degrade import degrade
    from edgefer.evaluate import evaluate

    paths, faces, label = graphs
    out = {"graph": graph, "faces": label, "n": int(len(faces.labels))}
    probs = {}
    for name, providers in (("cpu", ["CPUExecutionProvider"]), ("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"])):
        with load_runner(paths[graph], providers=providers) as runner:
            if name == "cuda":
                assert runner.session.get_providers()[0] == "CUDAExecutionProvider"
            t = time.perf_counter()
            res = evaluate(runner.infer, faces.images, faces.labels, FACTORS, description=f"{graph} on {name}")
            out[f"{name}_seconds"] = round(time.perf_counter() - t, 2)
            out[f"{name}_accuracy"] = res["accuracy"]
            x = degrade(faces.images[:512], 4)[:, None].astype(np.float32)
            probs[name] = runner.infer(x)
    diff = np.abs(probs["cpu"] - probs["cuda"])
    agree = float((probs["cpu"].argmax(1) == probs["cuda"].argmax(1)).mean())
    out.update(max_abs_diff_probs=float(diff.max()), argmax_agreement=agree,
               accuracy_points_cpu_minus_cuda={k: round(100 * (out["cpu_accuracy"][k] - out["cuda_accuracy"][k]), 2)
                                               for k in out["cpu_accuracy"]})
    record(f"ort_cuda_parity_{graph}", out)
    # FP32: the same math on two devices. INT8: ORT's CUDA provider may run Q/DQ as float (fake quant), so allow more.
    tol = 1e-3 if graph == "fp32" else 5e-2
    assert diff.max() < tol and agree >= (0.99 if graph == "fp32" else 0.97), out
    for k, pts in out["accuracy_points_cpu_minus_cuda"].items():
        assert abs(pts) <= (0.5 if graph == "fp32" else 2.0), (k, out)
