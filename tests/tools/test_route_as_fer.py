"""tools/route_as_fer.py: one route of a routed checkpoint as a plain FER checkpoint (a --teacher)."""

import importlib.util
from pathlib import Path

import pytest
import torch

from edgefer.checkpoint import load_classifier, make_checkpoint, save_checkpoint
from edgefer.models.fer import FERNet
from edgefer.training.common import load_fixed_fer
from tests.test_checkpoint import ARCH

TOOL = Path(__file__).resolve().parents[2] / "tools" / "route_as_fer.py"


def tool():
    spec = importlib.util.spec_from_file_location("route_as_fer", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def routed_with_ensemble_sharp(tmp_path, temperature=2.0):
    torch.manual_seed(0)
    sharp, small = FERNet(**ARCH), FERNet(**ARCH)
    routes = {"sharp": {"kind": "ensemble", "arch": {"members": [ARCH], "flip": True},
                        "calibration": {"temperature": temperature}},
              "small": {"kind": "fer", "arch": {"fer": ARCH}, "calibration": None}}
    ckpt = make_checkpoint("routed", {"threshold": -1.0, "routes": routes}, {}, {"seed": 3, "holdout": 16})
    ckpt["state"] = {"sharp": {"member0": {k: v.half() if v.is_floating_point() else v for k, v in sharp.state_dict().items()}},
                     "small": {"fer": small.state_dict()}}
    return save_checkpoint(ckpt, tmp_path / "routed.pt"), sharp


def test_sharp_route_becomes_a_teacher_with_its_calibration(tmp_path):
    src, sharp = routed_with_ensemble_sharp(tmp_path)
    out = tmp_path / "teacher.pt"
    assert tool().main([str(src), "sharp", str(out)]) == 0
    ckpt, teacher = load_fixed_fer(str(out), "--teacher")  # what `edgefer train fer --teacher` loads
    assert ckpt["kind"] == "fer" and ckpt["config"]["seed"] == 3 and ckpt["config"]["holdout"] == 16
    assert all(v.dtype == torch.float32 for v in ckpt["state"]["fer"].values() if v.is_floating_point())
    x = torch.rand(4, 1, 48, 48) * 255
    sharp.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in sharp.state_dict().items()})
    with torch.inference_mode():  # one view (the trainer mirrors the teacher), temperature 2 folded in
        torch.testing.assert_close(teacher(x), sharp.eval()(x) / 2.0, rtol=1e-4, atol=1e-4)
    routed = load_classifier(src)[0]
    assert not torch.allclose(teacher(x), routed.sharp(x))  # the route's mirrored view is dropped


@pytest.mark.parametrize("route, message", [("tiny", "no route 'tiny'"), ("small", None)])
def test_missing_route_is_one_line(tmp_path, capsys, route, message):
    src, _ = routed_with_ensemble_sharp(tmp_path)
    rc = tool().main([str(src), route, str(tmp_path / "t.pt")])
    if message is None:  # a plain fer route works too
        assert rc == 0 and (tmp_path / "t.pt").is_file()
        return
    assert rc == 1 and not (tmp_path / "t.pt").exists()
    err = capsys.readouterr().err.strip()
    assert message in err and "routed.pt" in err and len(err.splitlines()) == 1


def test_set_records_the_routes_own_settings_so_it_can_join_an_ensemble(tmp_path, ferplus_tiny):
    from edgefer.checkpoint import load_checkpoint
    from edgefer.training.ensemble import build_ensemble
    from edgefer.training.fer import calibration_factors

    src, _ = routed_with_ensemble_sharp(tmp_path)
    plain, set_ = tmp_path / "plain.pt", tmp_path / "set.pt"
    assert tool().main([str(src), "small", str(plain)]) == 0
    assert tool().main([str(src), "small", str(set_), "--set", "logit_adjust=1.0", "--set", "p_sharp=0.1",
                        "--set", "min_px=5", "--set", "max_px=10"]) == 0
    cfg = load_checkpoint(set_)["config"]
    assert cfg["logit_adjust"] == 1.0 and cfg["seed"] == 3 and calibration_factors(cfg) == [6, 8]
    assert calibration_factors(load_checkpoint(plain)["config"]) != [6, 8]
    with pytest.raises(Exception, match="logit_adjust differ"):  # without the setting an ensemble refuses the pair
        build_ensemble([str(set_), str(plain)], str(ferplus_tiny), str(tmp_path / "ens.pt"))


@pytest.mark.parametrize("pair", ["logit_adjust", "=1", "max_px=ten", "1x=2"])
def test_a_malformed_set_is_one_line_and_writes_nothing(tmp_path, capsys, pair):
    src, _ = routed_with_ensemble_sharp(tmp_path)
    assert tool().main([str(src), "small", str(tmp_path / "t.pt"), "--set", pair]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --set") and len(err.splitlines()) == 1 and not (tmp_path / "t.pt").exists()
