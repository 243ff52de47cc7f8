"""`train sr` and `train fsr` under DDP: real gloo process groups on CPU (spawned processes, no fakes)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from edgefer.checkpoint import load_checkpoint
from edgefer.training import fsr as fsr_mod
from edgefer.training.common import load_fixed_fer
from edgefer.training.fer import FERConfig, train_fer
from edgefer.training.fsr import FSRConfig, train_fsr
from edgefer.training.run import seed_everything
from edgefer.training.sr import SRConfig, train_sr
from tests.training.test_distributed import EXACT_TOL, drift, edgefer, interrupt_at_call, run_ranks


def fixed_fer(data: Path, out: Path) -> str:
    """A tiny FER checkpoint for G to build on (trained on synthetic faces: it only has to be fixed)."""
    return train_fer(FERConfig(data=str(data), epochs=1, batch_size=16, widths=[8, 16, 16, 32], emb_dim=16,
                               val_factors=[1]), str(out))


def fsr_cfg(data, fer: str, **kw) -> FSRConfig:
    kw = {"pretrain_epochs": 1, "epochs": 2, "batch_size": 16, "factors": [1, 4], **kw}
    return FSRConfig(data=str(data), fer=fer, g_width=8, g_rrdb=1, g_growth=4, g_convs=2, d_width=8, **kw)


def sr_and_fsr(rank: int, sr: SRConfig, fsr: FSRConfig, out: str) -> list[str]:
    """Both trainers, one after the other, in one process group; each rank gets a folder of its own name."""
    return [train_sr(sr, out.format(rank=rank, kind="sr")), train_fsr(fsr, out.format(rank=rank, kind="fsr"))]


def outcome_of(fn, *args) -> list:
    try:
        return ["ok", fn(*args)]
    except BaseException as e:  # noqa: BLE001 - RankStopped is a SystemExit
        return [type(e).__name__, str(e)]


def fsr_straight_nan_killed(rank: int, cfg: FSRConfig, straight: str, nan: str, killed: str) -> dict:
    """In one process group: a straight run; a run whose critic loss becomes NaN on rank 1 alone (epoch 2,
    step 2); and a run that dies in its first adversarial epoch (rank 0, at its per-epoch check, after the
    pre-training epoch's last.pt): the kill of the resume test."""
    out = {"straight": outcome_of(train_fsr, cfg, straight.format(rank=rank))}
    real_gp, gp_calls = fsr_mod.gradient_penalty, []

    def gradient_penalty(*a, **k):
        gp_calls.append(1)
        value = real_gp(*a, **k)
        return value * float("nan") if rank == 1 and len(gp_calls) == 2 else value

    fsr_mod.gradient_penalty = gradient_penalty
    out["nan"] = outcome_of(train_fsr, cfg, nan)
    fsr_mod.gradient_penalty = real_gp
    interrupt_at_call(fsr_mod, "_val_accuracy")
    out["killed"] = outcome_of(train_fsr, cfg, killed)
    return out


def resume_fsr(rank: int, cfg: FSRConfig, out: str) -> str:
    return train_fsr(cfg, out, resume=True)


def test_sr_and_fsr_train_under_two_gloo_ranks_on_real_ferplus(ferplus_real, ferplus_tiny, tmp_path):
    fer = fixed_fer(ferplus_tiny, tmp_path / "fer")
    sr = SRConfig(data=str(ferplus_real), fer=fer, epochs=1, batch_size=32, width=8, depth=3, limit=96)
    fsr = fsr_cfg(ferplus_real, fer, epochs=1, batch_size=32, limit=96)
    outcome = run_ranks(2, sr_and_fsr, sr, fsr, str(tmp_path / "{kind}{rank}"), tmp=tmp_path)
    assert [o[0] for o in outcome] == ["ok", "ok"], outcome
    assert not (tmp_path / "sr1").exists() and not (tmp_path / "fsr1").exists()  # rank 1 wrote nothing, not even a folder
    for kind, n_epochs in (("sr", 1), ("fsr", 2)):
        records = [json.loads(x) for x in (tmp_path / f"{kind}0" / "metrics.jsonl").read_text().splitlines()]
        assert [r.get("epoch") for r in records] == [*range(1, n_epochs + 1), None] and "final" in records[-1]
        assert all(r["processes"] == 2 and r["global_batch"] == 32 and r["train_faces_per_s"] > 0 for r in records[:-1])
        ckpt = load_checkpoint(tmp_path / f"{kind}0" / "model.pt")
        assert ckpt["config"]["data"] == str(ferplus_real) and ckpt["metrics"]["accuracy"]
    assert records[0]["phase"] == "pre-train G" and records[1]["phase"] == "adversarial" and records[1]["loss_d"] == records[1]["loss_d"]


def test_ddp_fsr_matches_one_process_and_resumes_after_a_kill(ferplus_tiny, tmp_path):
    """G and D in DDP, the fixed FER model out of it: 2 ranks with the same global batch end where one
    process ends (no BatchNorm in G or D: to float rounding); a NaN on one rank stops both; and a run
    killed after pre-training, resumed under DDP, crosses into the adversarial phase and ends where the
    straight 2-rank run ends."""
    fer = fixed_fer(ferplus_tiny, tmp_path / "fer")
    cfg = fsr_cfg(ferplus_tiny, fer)
    seed_everything(cfg.seed)  # G's initial weights, drawn as train_fsr draws them (after building the fixed model)
    load_fixed_fer(fer, "FSR-FER")
    start = fsr_mod.Generator(**fsr_mod.generator_arch(cfg, 16)).state_dict()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank
    try:
        one = load_checkpoint(train_fsr(cfg, str(tmp_path / "one")))["state"]["generator"]
        half = load_checkpoint(train_fsr(dataclasses.replace(cfg, batch_size=8), str(tmp_path / "half")))["state"]["generator"]
    finally:
        torch.set_num_threads(threads)

    killed, nan = tmp_path / "killed", tmp_path / "nan"
    outcome = run_ranks(2, fsr_straight_nan_killed, cfg, str(tmp_path / "two{rank}"), str(nan), str(killed), tmp=tmp_path)
    assert [o[0] for o in outcome] == ["ok", "ok"], outcome
    ranks = [o[1] for o in outcome]
    assert [r["straight"][0] for r in ranks] == ["ok", "ok"], ranks
    assert not (tmp_path / "two1").exists()  # rank 1 wrote nothing
    # The NaN guard: a NaN critic loss on rank 1 stops both ranks at that step; rank 0 says where.
    assert ranks[0]["nan"][0] == "TrainingDiverged" and "at epoch 2 step 2 (D)" in ranks[0]["nan"][1], ranks
    assert ranks[1]["nan"][0] == "RankStopped", ranks
    assert load_checkpoint(nan / "last.pt")["epoch"] == 1 and not (nan / "model.pt").exists()
    assert [r["killed"][0] for r in ranks] == ["KeyboardInterrupt", "RankStopped"], ranks
    two = load_checkpoint(tmp_path / "two0" / "model.pt")["state"]["generator"]
    assert drift(one, two, start) < EXACT_TOL  # measured: 1.2e-6
    assert drift(one, half, start) > 0.1  # the control: half batches (what a rank alone sees) end far away
    last = load_checkpoint(killed / "last.pt")
    assert last["epoch"] == 1 and last["phase"] == "pre-train G" and not (killed / "model.pt").exists()

    outcome = run_ranks(2, resume_fsr, cfg, str(killed), tmp=tmp_path)
    assert [o[0] for o in outcome] == ["ok", "ok"], outcome
    resumed = load_checkpoint(killed / "model.pt")["state"]["generator"]
    for k in two:
        torch.testing.assert_close(resumed[k], two[k], msg=k)
    ck = load_checkpoint(killed / "last.pt")
    assert ck["phase"] == "adversarial" and tuple(ck["optim"]["generator"]["param_groups"][0]["betas"]) == (0.0, 0.9)
    records = [json.loads(x) for x in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("epoch") for r in records] == [1, 2, 3, None]


@pytest.mark.parametrize("kind", ["sr", "fsr"])
def test_nproc_rejects_a_batch_that_does_not_split(kind, tmp_path):
    fer = tmp_path / "fer.pt"
    fer.write_bytes(b"")
    r = edgefer("train", kind, "--data", str(tmp_path), "--fer", str(fer), "--out", str(tmp_path / "run"), "--nproc", "4",
                "--batch-size", "30")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["error: --batch-size 30: the global batch must split evenly over 4 processes"]
