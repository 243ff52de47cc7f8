"""Synchronised BatchNorm: 2 real gloo ranks on halves of a batch against one BatchNorm on the whole batch."""

from __future__ import annotations

import torch
from torch import nn

from edgefer.models.fer import FERNet
from edgefer.training.sync_bn import NaiveSyncBatchNorm, training_view
from tests.training.test_distributed import run_ranks

SHAPES = {"2d": (16, 4, 5, 5), "1d": (16, 6)}


def batch(kind: str) -> tuple[torch.Tensor, torch.Tensor, nn.Module]:
    """A batch with a non-zero mean, a per-element loss weight, and a BatchNorm with non-trivial affine weights."""
    gen = torch.Generator().manual_seed(1)
    shape = SHAPES[kind]
    x = torch.randn(shape, generator=gen) * 3 + 2
    c = torch.randn(shape, generator=gen)
    bn = (nn.BatchNorm2d if kind == "2d" else nn.BatchNorm1d)(shape[1])
    with torch.no_grad():
        bn.weight.copy_(torch.rand(shape[1], generator=gen) + 0.5)
        bn.bias.copy_(torch.randn(shape[1], generator=gen))
    return x, c, bn


def forward_backward(bn: nn.Module, x: torch.Tensor, c: torch.Tensor) -> dict:
    """Two training steps' forward (running statistics move twice), then the backward of sum(c·y)."""
    x = x.clone().requires_grad_(True)
    bn(x)
    y = bn(x)
    (c * y).sum().backward()
    return {"y": y.detach(), "x_grad": x.grad, "w_grad": bn.weight.grad, "b_grad": bn.bias.grad,
            "running_mean": bn.running_mean, "running_var": bn.running_var}


def rank_part(rank: int) -> dict:
    """This rank's half of each batch through NaiveSyncBatchNorm ("sync") and, for the control, through a
    plain BatchNorm ("plain"); the parameter gradients summed over ranks, as DDP does (it averages the
    gradients of losses that are slice sums here)."""
    import torch.distributed as dist

    from edgefer.training import distributed

    distributed.init()
    rows = slice(rank * 8, (rank + 1) * 8)
    res = {}
    for kind in SHAPES:
        for mode in ("sync", "plain"):
            x, c, bn = batch(kind)
            out = forward_backward(NaiveSyncBatchNorm.like(bn) if mode == "sync" else bn, x[rows], c[rows])
            for k in ("w_grad", "b_grad"):
                dist.all_reduce(out[k])
            res[f"{kind} {mode}"] = {k: v.tolist() for k, v in out.items()}
    return res


def gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_naive_sync_bn_on_two_ranks_is_one_batchnorm_over_the_whole_batch(tmp_path):
    """Outputs, input gradients (through the all-reduce), parameter gradients and running statistics of
    2 ranks with 8 rows each equal one BatchNorm over the 16 rows; per-rank BatchNorm (the control) does not."""
    ranks = run_ranks(2, rank_part, tmp=tmp_path)
    assert [r[0] for r in ranks] == ["ok", "ok"], ranks
    for kind in SHAPES:
        ref = forward_backward(batch(kind)[2], *batch(kind)[:2])
        sync, plain = ([r[1][f"{kind} {mode}"] for r in ranks] for mode in ("sync", "plain"))
        two = {k: torch.cat([torch.tensor(r[k]) for r in sync]) for k in ("y", "x_grad")}
        two.update({k: torch.tensor(sync[0][k]) for k in ("w_grad", "b_grad", "running_mean", "running_var")})
        for k, v in two.items():
            assert gap(v, ref[k]) < 1e-5, (kind, k, gap(v, ref[k]))
        for k in ("w_grad", "b_grad", "running_mean", "running_var"):  # every rank holds the same
            assert sync[1][k] == sync[0][k], (kind, k)
        control = torch.cat([torch.tensor(r["y"]) for r in plain])
        assert gap(control, ref["y"]) > 0.01, kind  # the test can fail: each half's own statistics differ


def test_training_view_shares_every_tensor_and_leaves_the_model_plain():
    model = FERNet(widths=[8, 16, 16, 32], emb_dim=16)
    keys = list(model.state_dict())
    for cuda, cls in ((False, NaiveSyncBatchNorm), (True, nn.SyncBatchNorm)):
        view = training_view(model, cuda)
        synced = [m for m in view.modules() if isinstance(m, cls)]
        plain = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        assert len(synced) == len(plain) >= 2
        assert all(type(m) in (nn.BatchNorm2d, nn.BatchNorm1d) for m in plain)  # the model is not converted
        assert list(model.state_dict()) == keys == list(view.state_dict())
        assert all(a is b for a, b in zip(model.parameters(), view.parameters(), strict=True))
        assert all(a is b for a, b in zip(model.buffers(), view.buffers(), strict=True))
    # One process, training mode: the view's BatchNorm is the plain one and updates the model's statistics.
    view = training_view(model).train()
    before = model.features.stem[1].running_mean.clone()
    x = torch.rand(4, 1, 48, 48) * 255
    y = view(x)
    assert not torch.equal(model.features.stem[1].running_mean, before)
    assert int(model.features.stem[1].num_batches_tracked) == 1
    model.eval(), view.eval()
    torch.testing.assert_close(view(x), model(x))
    assert y.shape == (4, 8)
