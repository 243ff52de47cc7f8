import json

import numpy as np
import pytest

from edgefer.checkpoint import save_checkpoint
from edgefer.deploy.calibrate import calibrate
from edgefer.deploy.calibset import load_or_make_calibration_set, make_calibration_set
from edgefer.deploy.onnx_export import export_model
from edgefer.deploy.quantize import qdq_violations
from edgefer.errors import EdgeferError
from tests.test_checkpoint import tiny_fsr_ckpt


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("calib")
    model = save_checkpoint(tiny_fsr_ckpt(), tmp / "tiny.pt")
    export_model(model, tmp / "export", max_batch=8)
    return tmp / "export" / "fsrfer.onnx"


def test_calibration_set_is_deterministic_and_spreads_factors():
    images = np.random.default_rng(0).integers(0, 256, (100, 48, 48)).astype(np.uint8)
    a = make_calibration_set(images, 64, seed=3)
    b = make_calibration_set(images, 64, seed=3)
    c = make_calibration_set(images, 64, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])
    x, idx, fac = a
    assert x.shape == (64, 1, 48, 48) and x.dtype == np.float32 and len(set(idx)) == 64
    assert np.bincount(fac, minlength=9)[1:].tolist() == [8] * 8
    with pytest.raises(EdgeferError):
        make_calibration_set(images, 0)


def test_saved_set_is_reused(ferplus_tiny, tmp_path):
    x1, m1 = load_or_make_calibration_set(ferplus_tiny, "train", 32, 0, tmp_path)
    npz = tmp_path / m1["file"]
    mtime = npz.stat().st_mtime_ns
    x2, m2 = load_or_make_calibration_set(ferplus_tiny, "train", 32, 0, tmp_path)
    np.testing.assert_array_equal(x1, x2)
    assert npz.stat().st_mtime_ns == mtime and m1 == m2 and len(m1["sha256"]) == 64


def test_qdq_graph_follows_tensorrt_rules_and_report(fp32_onnx, ferplus_tiny, tmp_path):
    m = calibrate(fp32_onnx, ferplus_tiny, "train", 32, "entropy", tmp_path / "q.int8.onnx", 0, tmp_path / "cal", "val", (1, 4))
    assert qdq_violations(tmp_path / "q.int8.onnx") == []
    assert m["qdq"]["quantize_linear"] > 0 and m["qdq"]["conv"] > 0
    acc = m["accuracy"]
    assert set(acc["fp32"]["accuracy"]) == set(acc["int8"]["accuracy"]) == {"1", "4"}
    assert json.loads((tmp_path / "q.int8.json").read_text())["method"] == "entropy"
    export_manifest = json.loads((fp32_onnx.parent / "manifest.json").read_text())
    assert "q.int8.onnx" in export_manifest["int8"]


def test_rule_checker_catches_onnx_runtime_defaults(fp32_onnx, tmp_path):
    """ONNX Runtime's default quantization (UINT8, zero-points != 0) is what TensorRT rejects."""
    from onnxruntime.quantization import QuantFormat, quantize_static

    from edgefer.deploy.quantize import _Reader

    x = np.random.default_rng(0).uniform(0, 255, (16, 1, 48, 48)).astype(np.float32)
    quantize_static(str(fp32_onnx), str(tmp_path / "bad.onnx"), _Reader(x, "faces", 8), quant_format=QuantFormat.QDQ)
    problems = qdq_violations(tmp_path / "bad.onnx")
    assert any("zero-point must be int8 0" in p for p in problems)


def test_missing_onnx(tmp_path, ferplus_tiny):
    with pytest.raises(EdgeferError, match="run `edgefer export` first"):
        calibrate(tmp_path / "no.onnx", ferplus_tiny, "train", 8, "entropy", None, 0, tmp_path, None, (1,))


def test_cpu_target_is_onnx_runtimes_u8s8_and_not_for_tensorrt(fp32_onnx, ferplus_tiny, tmp_path):
    import onnx
    from onnx import numpy_helper

    m = calibrate(fp32_onnx, ferplus_tiny, "train", 32, "minmax", None, 0, tmp_path / "cal", "val", (1,), target="cpu")
    assert m["target"] == "cpu" and m["int8_onnx"].endswith("fsrfer.int8-cpu.onnx")
    graph = onnx.load(m["int8_onnx"]).graph
    zps = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    act_zp = [zps[n.input[2]] for n in graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2]
    assert act_zp and all(z.dtype == np.uint8 for z in act_zp)
    assert qdq_violations(m["int8_onnx"])  # TensorRT would reject it: that is what --target tensorrt is for


def test_only_the_input_conv_stays_float(fp32_onnx, ferplus_tiny, tmp_path):
    import onnx

    out = tmp_path / "q.onnx"
    calibrate(fp32_onnx, ferplus_tiny, "train", 16, "minmax", out, 0, tmp_path / "cal", None, (1,))
    graph = onnx.load(str(out)).graph
    producer = {o: n for n in graph.node for o in n.output}
    convs = [n for n in graph.node if n.op_type in ("Conv", "Gemm")]
    float_convs = [n.name for n in convs if all(producer.get(i) is None or producer[i].op_type != "DequantizeLinear"
                                                 for i in n.input[:2])]
    assert float_convs == [convs[0].name] and len(convs) > 5


@pytest.mark.parametrize("method,target,samples", [("kl", "tensorrt", 8), ("entropy", "gpu", 8), ("entropy", "cpu", 0)])
def test_bad_options_fail_before_any_data_is_read(fp32_onnx, tmp_path, method, target, samples):
    with pytest.raises(EdgeferError, match="--method must be one of"):
        calibrate(fp32_onnx, tmp_path / "no-such-dataset", "train", samples, method, None, 0, tmp_path / "cal", None, (1,),
                  target=target)
    assert not (tmp_path / "cal").exists()


def graph_output_producers(path) -> dict[str, str]:
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {o: n for n in graph.node for o in n.output}
    return {o.name: producer[o.name].op_type for o in graph.output}


def test_logits_leave_the_int8_graph_in_float(fp32_onnx, ferplus_tiny, tmp_path):
    """TensorRT keeps explicit Q/DQ: a DQ on the output would put the logits on a 256-level grid (issue #7, 2)."""
    import onnxruntime as ort

    out = tmp_path / "q.onnx"
    calibrate(fp32_onnx, ferplus_tiny, "train", 16, "entropy", out, 0, tmp_path / "cal", None, (1,))
    assert graph_output_producers(out) == {"logits": "Gemm"}
    assert qdq_violations(out) == []
    # the classifier Gemm still reads quantized inputs: only its output Q/DQ went
    import onnx

    graph = onnx.load(str(out)).graph
    producer = {o: n for n in graph.node for o in n.output}
    gemm = producer["logits"]
    assert all(producer[i].op_type == "DequantizeLinear" for i in gemm.input[:2])
    assert not any(t.name.startswith("logits_") for t in graph.initializer)  # its scale/zero-point went too
    x = np.random.default_rng(1).uniform(0, 255, (4, 1, 48, 48)).astype(np.float32)
    logits = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"faces": x})[0]
    assert logits.shape == (4, 8) and np.isfinite(logits).all()


def test_rule_checker_catches_a_quantized_graph_output(fp32_onnx, tmp_path):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from edgefer.deploy.quantize import _Reader

    x = np.random.default_rng(0).uniform(0, 255, (16, 1, 48, 48)).astype(np.float32)
    quantize_static(str(fp32_onnx), str(tmp_path / "out.onnx"), _Reader(x, "faces", 8), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False})
    assert graph_output_producers(tmp_path / "out.onnx") == {"logits": "DequantizeLinear"}
    problems = qdq_violations(tmp_path / "out.onnx")
    assert any("graph output 'logits' comes from a DequantizeLinear" in p for p in problems), problems


def test_calibrate_warns_where_the_user_sees_it(fp32_onnx, ferplus_tiny, tmp_path, capsys):
    """Fewer faces than asked, and calibrating on the evaluated split: warnings in the manifest (the CLI prints them)."""
    from edgefer.deploy.calibrate import calibration_warnings

    m = calibrate(fp32_onnx, ferplus_tiny, "train", 100_000, "minmax", tmp_path / "q.onnx", 0, tmp_path / "cal", "train", (1,), "cpu")
    assert any("has only" in w for w in m["warnings"]) and any("are the same" in w for w in m["warnings"])
    assert "Collecting tensor data" not in capsys.readouterr().out  # ONNX Runtime's print()s stay out of the terminal
    assert calibration_warnings(10, 10, "train", "val", tmp_path) == []


def test_metadata_travels_to_the_int8_graph(fp32_onnx, ferplus_tiny, tmp_path):
    import shutil

    import onnx

    from edgefer.deploy.calibrate import set_metadata

    src = tmp_path / "m.onnx"
    shutil.copy(fp32_onnx, src)
    set_metadata(src, {"edgefer.abstain": '{"min_confidence": 0.4}'})
    calibrate(src, ferplus_tiny, "train", 16, "minmax", tmp_path / "m.int8.onnx", 0, tmp_path / "cal", None, (1,))
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.int8.onnx")).metadata_props}
    assert props["edgefer.abstain"] == '{"min_confidence": 0.4}'


def calibrated_qdq(ckpt: dict, data, tmp_path):
    """Export ``ckpt``, calibrate its graph to TensorRT's Q/DQ INT8 and check the rules; the INT8 path."""
    from edgefer.deploy.onnx_export import main_graph

    export_model(save_checkpoint(ckpt, tmp_path / "model.pt"), tmp_path / "export", max_batch=8)
    out = tmp_path / "q.int8.onnx"
    calibrate(tmp_path / "export" / main_graph(ckpt["kind"]), data, "train", 16, "minmax", out, 0, tmp_path / "cal", None, (1,))
    assert qdq_violations(out) == []
    return out


def float_layers_of(path) -> tuple[list, list[str]]:
    """(the Conv/Gemm layers outside the router, the names of those whose input and weights are not dequantized)."""
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {o: n for n in graph.node for o in n.output}
    layers = [n for n in graph.node if n.op_type in ("Conv", "Gemm") and not n.name.startswith("/score/")]
    return layers, [n.name for n in layers if all(producer.get(i) is None or producer[i].op_type != "DequantizeLinear"
                                                   for i in n.input[:2])]


def test_every_input_layer_and_the_router_stay_float_in_a_routed_graph_with_a_mirrored_route(ferplus_tiny, tmp_path):
    """The shipped default's shape: a router, a sharp route that reads the face and its mirror image (a
    one-member ensemble), FSR-FER. Every layer that reads the image (3: both views, and FSR-FER's backbone)
    stays float, and the Q/DQ graph keeps TensorRT's rules (the mirror view's input layer once broke them)."""
    from edgefer.checkpoint import make_checkpoint
    from edgefer.models.fer import FERNet
    from tests.test_checkpoint import ARCH

    fsr = tiny_fsr_ckpt()
    arch = {"threshold": -2.0, "routes": {
        "sharp": {"kind": "ensemble", "arch": {"members": [ARCH], "flip": True}, "calibration": None},
        "small": {"kind": "fsrfer", "arch": fsr["arch"], "calibration": None}}}
    ck = make_checkpoint("routed", arch, {}, {})
    ck["state"] = {"sharp": {"member0": FERNet(**ARCH).state_dict()}, "small": fsr["state"]}
    layers, float_layers = float_layers_of(calibrated_qdq(ck, ferplus_tiny, tmp_path))
    assert len(float_layers) == 3 and len(layers) > 10, float_layers
    assert sum("/sharp/" in n for n in float_layers) == 2 and sum("/small/" in n for n in float_layers) == 1


def test_a_member_that_reads_the_face_smaller_keeps_its_input_layer_float_in_int8(ferplus_tiny, tmp_path):
    """--input-px: the AvgPool stays float, and the first convolution after it counts as an input layer
    (it reads the image, area-averaged), so the Q/DQ graph keeps TensorRT's rules and both members' first
    layers float."""
    import onnx

    from edgefer.checkpoint import make_checkpoint
    from edgefer.models.fer import FERNet
    from tests.test_checkpoint import ARCH

    small = {**ARCH, "input_px": 12}
    ck = make_checkpoint("ensemble", {"members": [ARCH, small], "flip": False}, {}, {})
    ck["state"] = {"member0": FERNet(**ARCH).state_dict(), "member1": FERNet(**small).state_dict()}
    out = calibrated_qdq(ck, ferplus_tiny, tmp_path)
    layers, float_layers = float_layers_of(out)
    assert len(float_layers) == 2 and len(layers) > 10, float_layers
    assert all(n in float_layers for n in ("/members.0/features/stem/stem.0/Conv", "/members.1/features/stem/stem.0/Conv"))
    assert any(n.op_type == "AveragePool" for n in onnx.load(str(out)).graph.node)
