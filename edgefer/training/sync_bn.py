"""Synchronised BatchNorm for DDP runs: every rank normalises with the statistics of the whole global batch.

Under DDP each of W ranks trains on B/W faces of a global batch of B. A plain BatchNorm normalises them
with those B/W faces' mean and variance, so the run is not the one-process run (BENCHMARKS.md, "Training
under torchrun"). Here every rank uses the global batch's statistics instead:
- CUDA (NCCL): PyTorch's own ``torch.nn.SyncBatchNorm`` (``convert_sync_batchnorm``), which runs on GPUs only;
- CPU (gloo): ``NaiveSyncBatchNorm``, the pattern of detectron2's ``NaiveSyncBatchNorm``
  (detectron2/layers/batch_norm.py): each rank's per-channel sum and sum of squares (and its count) are
  all-reduced with a gradient that flows back through the all-reduce, so the backward pass is also that
  of one BatchNorm over the global batch.

``training_view(model)`` is what DDP wraps: a copy of the module tree that shares every parameter and
buffer with ``model`` and has its BatchNorm layers replaced. ``model`` itself keeps its plain BatchNorm
layers, so checkpoints, the EMA, evaluation and export see exactly the modules of a one-process run (same
classes, same state_dict keys), and the running statistics the view updates are ``model``'s own tensors.
"""

from __future__ import annotations

import copy

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose backward sums the gradient over ranks too: every rank's loss depends on every
    rank's input through the pooled statistics. (fvcore's ``differentiable_all_reduce``, which detectron2
    uses; ``torch.distributed.nn.functional.all_reduce`` is the same Function but warns on every call
    that it is deprecated in torch 2.13, and its suggested replacement has no backward.)"""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001 - autograd's signature
        x = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum of ``x`` over ranks, differentiable; ``x`` itself on one process."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    return _AllReduceSum.apply(x)


class NaiveSyncBatchNorm(_BatchNorm):
    """BatchNorm over the whole global batch, for CPU process groups (gloo); any input (N, C, ...).

    In training with more than one process the per-channel statistics are pooled over every rank (one
    all-reduce of [Σx, Σx², count] per layer and step, and one in backward); otherwise, in eval mode or on
    one process, it is the plain BatchNorm. The running variance is the unbiased one, as BatchNorm keeps it.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (N, C, ...), got {x.dim()}D")

    @classmethod
    def like(cls, bn: _BatchNorm) -> NaiveSyncBatchNorm:
        """A synchronised layer sharing ``bn``'s parameters and running statistics (the same tensors)."""
        out = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        with torch.no_grad():
            out.weight, out.bias = bn.weight, bn.bias
        out.running_mean, out.running_var, out.num_batches_tracked = bn.running_mean, bn.running_var, bn.num_batches_tracked
        out.training = bn.training
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        xf = x.float()
        # One all-reduce for both moments and the count (ranks may hold different numbers of faces).
        local = torch.cat([xf.sum(dims), (xf * xf).sum(dims), xf.new_tensor([x.numel() // c])])
        pooled = all_reduce_sum(local)
        n = pooled[-1].detach()
        mean, meansq = pooled[:c] / n, pooled[c : 2 * c] / n
        var = (meansq - mean * mean).clamp_min(0.0)  # biased: what the batch is normalised with
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), f)
                self.running_var.lerp_((var.detach() * n / (n - 1).clamp_min(1)).to(self.running_var.dtype), f)
        scale = torch.rsqrt(var + self.eps)
        if self.affine:
            scale = scale * self.weight
        shift = -mean * scale + (self.bias if self.affine else 0.0)
        shape = (1, c) + (1,) * (x.dim() - 2)
        return (xf * scale.reshape(shape) + shift.reshape(shape)).to(x.dtype)


def synced(bn: _BatchNorm, cuda: bool) -> nn.Module:
    """The synchronised twin of one BatchNorm layer (shared tensors): SyncBatchNorm on CUDA, else NaiveSyncBatchNorm."""
    if cuda:  # PyTorch's converter makes a new layer from a leaf BatchNorm and leaves ``bn`` as it is
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(bn)
    return NaiveSyncBatchNorm.like(bn)


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, _BatchNorm) for m in module.modules())


def training_view(model: nn.Module, cuda: bool = False) -> nn.Module:
    """``model`` with every BatchNorm synchronised, sharing all parameters and buffers with it; ``model``
    is left unchanged. Sub-trees without BatchNorm are the very same objects; containers above a
    BatchNorm are shallow copies. Switch modes on the view (``view.train()``): its BatchNorm layers are
    its own modules and do not follow ``model.train()`` / ``model.eval()``."""
    if isinstance(model, _BatchNorm):
        return synced(model, cuda)
    if not has_batchnorm(model):
        return model
    view = copy.copy(model)  # shares _parameters and _buffers (the same dicts, the same tensors)
    view.__dict__["_modules"] = {name: None if child is None else training_view(child, cuda)
                                 for name, child in model._modules.items()}
    return view
