import pytest
import torch

from edgefer.checkpoint import build_classifier, load_checkpoint, load_classifier, make_checkpoint, save_checkpoint
from edgefer.errors import CheckpointError
from edgefer.models.fer import FERNet
from edgefer.models.generator import Generator

ARCH = {"widths": [8, 8, 16, 16], "emb_dim": 8, "n_classes": 8, "dropout": 0.0}


def tiny_fsr_ckpt(metrics=None):
    fer = FERNet(**ARCH)
    g = Generator(channels=16, width=8, n_rrdb=1, growth=4, n_convs=2)
    arch = {"fer": ARCH, "generator": {"channels": 16, "width": 8, "n_rrdb": 1, "growth": 4, "n_convs": 2}}
    return make_checkpoint("fsrfer", arch, {"fer": fer, "generator": g}, {"lr": 1e-3}, metrics or {"accuracy": {"1": 0.5}})


def test_round_trip_is_self_describing_and_weights_only(tmp_path):
    path = save_checkpoint(tiny_fsr_ckpt(), tmp_path / "m.pt")
    torch.load(path, weights_only=True)  # must not need pickled code
    model, ckpt = load_classifier(path)
    assert ckpt["kind"] == "fsrfer" and ckpt["input"] == {"size": 48, "channels": 1, "range": [0.0, 255.0], "dtype": "float32"}
    assert ckpt["command"].startswith("edgefer") and ckpt["metrics"]["accuracy"]["1"] == 0.5
    assert "config" in ckpt and "git_commit" in ckpt and len(ckpt["classes"]) == 8
    x = torch.rand(3, 1, 48, 48) * 255
    assert model(x).shape == (3, 8)
    again = build_classifier(load_checkpoint(path))
    torch.testing.assert_close(again(x), model(x))


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a loadable PyTorch checkpoint"):
        load_checkpoint(bad)
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an edgefer checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_that_do_not_fit(tmp_path):
    ckpt = tiny_fsr_ckpt()
    ckpt["arch"]["fer"] = {**ARCH, "emb_dim": 12}
    save_checkpoint(ckpt, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_classifier(tmp_path / "m.pt")


def test_ensemble_whose_mirror_flags_do_not_fit(tmp_path):
    """A per-member flip list of the wrong length is a bad checkpoint, not a traceback."""
    fer = FERNet(**ARCH)
    ckpt = make_checkpoint("ensemble", {"members": [ARCH], "flip": [True, False]}, {}, {})
    ckpt["state"] = {"member0": fer.state_dict()}
    save_checkpoint(ckpt, tmp_path / "ens.pt")
    with pytest.raises(CheckpointError, match="do not fit.*2 values for 1 members"):
        load_classifier(tmp_path / "ens.pt")


def routed_ckpt(**extra_arch):
    route = {"kind": "fer", "arch": {"fer": ARCH}, "calibration": None}
    names = ("sharp", "small", "tiny") if "tiny_threshold" in extra_arch or extra_arch.pop("tiny", False) else ("sharp", "small")
    ckpt = make_checkpoint("routed", {"threshold": -1.0, "routes": {n: route for n in names}, **extra_arch}, {}, {})
    ckpt["state"] = {n: {"fer": FERNet(**ARCH).state_dict()} for n in names}
    return ckpt


def with_temperature_of(name: str) -> dict:
    ckpt = routed_ckpt()
    ckpt["calibration"] = {"route_temperature": {"sharp": 1.0, name: 1.0}}
    return ckpt


@pytest.mark.parametrize("ckpt, match", [(lambda: routed_ckpt(tiny_threshold=0.5), "above threshold"),
                                         (lambda: routed_ckpt(tiny=True), "tiny_threshold"),
                                         (lambda: with_temperature_of("tiny"), "a routed model has"),
                                         (lambda: with_temperature_of("huge"), "a routed model has")])
def test_routed_tiny_route_that_does_not_fit(tmp_path, ckpt, match):
    """A third route with its threshold above the first, or with none, or a temperature for a route the
    file does not have, is a bad checkpoint, not a traceback."""
    save_checkpoint(ckpt(), tmp_path / "r.pt")
    with pytest.raises(CheckpointError, match=f"r.pt: .*do not fit.*{match}"):
        load_classifier(tmp_path / "r.pt")
    ok = load_classifier(save_checkpoint(routed_ckpt(tiny_threshold=-2.0), tmp_path / "ok.pt"))[0]
    assert ok.tiny is not None and float(ok.tiny_threshold) == -2.0


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(RuntimeError):
        save_checkpoint(tiny_fsr_ckpt(), path)
    assert list(tmp_path.iterdir()) == []
