import json

import torch

from edgefer.checkpoint import load_checkpoint, load_classifier
from edgefer.training.fer import FERConfig, train_fer
from edgefer.training.fsr import FSRConfig, gradient_penalty, train_fsr
from edgefer.training.sr import SRConfig, train_sr
from tests.training.crash import interrupt_on_call


def test_gradient_penalty_is_zero_for_a_constant_critic_and_positive_otherwise():
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.rand(4, 3, 2, 2), torch.rand(4, 3, 2, 2)
    const = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
    torch.nn.init.zeros_(const[1].weight)
    assert gradient_penalty(const, real, fake, 6.0, gen).item() == 0.0
    torch.nn.init.ones_(const[1].weight)
    # gradient of sum(x) is all ones: ||1||^6 over 12 elements = 12^3
    assert abs(gradient_penalty(const, real, fake, 6.0, gen).item() - 12**3) < 1e-3


def test_fsr_and_sr_train_on_a_fixed_fer_model(ferplus_tiny, tmp_path):
    fer_path = train_fer(FERConfig(data=str(ferplus_tiny), epochs=1, batch_size=16, widths=[8, 16, 16, 32], emb_dim=16,
                                   val_factors=[1]), str(tmp_path / "fer"))
    fer_before = load_checkpoint(fer_path)["state"]["fer"]
    cfg = FSRConfig(data=str(ferplus_tiny), fer=fer_path, pretrain_epochs=1, epochs=1, batch_size=16, g_width=8,
                    g_rrdb=1, g_growth=4, g_convs=2, d_width=8)
    path = train_fsr(cfg, str(tmp_path / "fsr"))
    model, ckpt = load_classifier(path)
    assert ckpt["kind"] == "fsrfer" and ckpt["fer_source"]["sha256"]
    # the backbone's holdout travels with G's checkpoint: `train route` still finds it once the backbone's file is gone
    from edgefer.training.common import holdout_config

    fer_cfg = load_checkpoint(fer_path)["config"]
    assert ckpt["fer_source"]["holdout_config"] == {k: fer_cfg[k] for k in ("data", "seed", "limit", "holdout", "logit_adjust")}
    moved = {**ckpt, "config": {**ckpt["config"], "fer": str(tmp_path / "gone" / "model.pt")}}
    assert holdout_config(path, moved) == ckpt["fer_source"]["holdout_config"]
    for k, v in fer_before.items():  # Φ and the head stay fixed
        torch.testing.assert_close(ckpt["state"]["fer"][k], v, msg=k)
    records = [json.loads(x) for x in (tmp_path / "fsr" / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["phase"] == "pre-train G" and records[1]["phase"] == "adversarial"
    assert 0.25 <= records[1]["w"] <= 2.25  # w = (1.5 - p)^2
    assert model(torch.rand(2, 1, 48, 48) * 255).shape == (2, 8)

    sr_path = train_sr(SRConfig(data=str(ferplus_tiny), fer=fer_path, epochs=1, batch_size=16, width=8, depth=3),
                       str(tmp_path / "sr"))
    assert load_checkpoint(sr_path)["kind"] == "sr_fer"


def test_fsr_trains_on_a_backbone_that_reads_the_face_smaller(ferplus_tiny, tmp_path):
    """D is sized from the backbone's feature image (3×3 at --input-px 12), not a fixed 6×6."""
    fer_path = train_fer(FERConfig(data=str(ferplus_tiny), epochs=1, batch_size=16, widths=[8, 16, 16, 32], emb_dim=16,
                                   val_factors=[1], input_px=12), str(tmp_path / "fer"))
    cfg = FSRConfig(data=str(ferplus_tiny), fer=fer_path, pretrain_epochs=0, epochs=1, batch_size=16, g_width=8,
                    g_rrdb=1, g_growth=4, g_convs=2, d_width=8)
    model, ckpt = load_classifier(train_fsr(cfg, str(tmp_path / "fsr")))
    assert ckpt["arch"]["fer"]["input_px"] == 12 and model(torch.rand(2, 1, 48, 48) * 255).shape == (2, 8)


def test_fsr_resume_at_the_pretraining_boundary_matches_a_straight_run(ferplus_tiny, tmp_path):
    """Issue #7: a run resumed right after pre-training kept the pre-training Adam for the adversarial phase."""
    import pytest

    from edgefer.training import fsr as fsr_mod

    fer_path = train_fer(FERConfig(data=str(ferplus_tiny), epochs=1, batch_size=16, widths=[8, 16, 16, 32], emb_dim=16,
                                   val_factors=[1]), str(tmp_path / "fer"))
    cfg = FSRConfig(data=str(ferplus_tiny), fer=fer_path, pretrain_epochs=1, epochs=2, batch_size=16, g_width=8,
                    g_rrdb=1, g_growth=4, g_convs=2, d_width=8, factors=[1, 4])
    straight = train_fsr(cfg, str(tmp_path / "a"))

    with interrupt_on_call(fsr_mod, "_val_accuracy"):  # killed in the first adversarial epoch
        train_fsr(cfg, str(tmp_path / "b"))
    last = load_checkpoint(tmp_path / "b" / "last.pt")
    assert last["epoch"] == 1 and last["phase"] == "pre-train G"
    resumed = train_fsr(cfg, str(tmp_path / "b"), resume=True)

    a, b = load_checkpoint(straight)["state"]["generator"], load_checkpoint(resumed)["state"]["generator"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
    for run in ("a", "b"):  # both end with the adversarial phase's Adam (betas 0, 0.9)
        ck = load_checkpoint(tmp_path / run / "last.pt")
        assert ck["phase"] == "adversarial"
        assert tuple(ck["optim"]["generator"]["param_groups"][0]["betas"]) == (0.0, 0.9)


def test_g_never_trains_on_its_backbones_holdout(ferplus_tiny, tmp_path):
    """The holdout is where a route's threshold and temperature are fitted: G must not have seen it."""
    from edgefer.training.common import load_splits

    fer_path = train_fer(FERConfig(data=str(ferplus_tiny), epochs=1, batch_size=16, widths=[8, 16, 16, 32], emb_dim=16,
                                   val_factors=[1], holdout=16), str(tmp_path / "fer"))
    cfg = FSRConfig(data=str(ferplus_tiny), fer=fer_path, pretrain_epochs=1, epochs=0, batch_size=16, g_width=8,
                    g_rrdb=1, g_growth=4, g_convs=2, d_width=8)
    ckpt = load_checkpoint(train_fsr(cfg, str(tmp_path / "fsr")))
    train, _ = load_splits(str(ferplus_tiny), None, 0)
    assert ckpt["train_faces"] == len(train) - 16
    assert ckpt["fer_source"]["holdout_config"]["holdout"] == 16
