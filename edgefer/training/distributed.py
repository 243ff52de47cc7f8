"""Training under torchrun: one process per device, DistributedDataParallel, gloo on CPU and NCCL on GPUs.

``torchrun`` (or ``edgefer train fer --nproc N``) starts W processes and sets RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT; ``init()`` reads them. Without them, or with WORLD_SIZE=1, it
returns a one-process context and the run is exactly the single-process run (CPU, no process group).

How one step is shared by W ranks (global batch B, B % W == 0):
- every rank draws the same epoch permutation and the same augmentation draws for the whole global
  batch (the trainer's per-epoch generators are seeded alike on every rank), then trains on its own
  contiguous B/W rows (``Dist.shard``): rank r sees exactly the faces, augmented pixel for pixel, that
  the single process sees at rows r·B/W .. (r+1)·B/W of its batch. This is DistributedSampler's
  contract (disjoint shards of one seeded per-epoch permutation) with the single process's batch
  order kept, so the two runs can be compared. The price: each rank augments the whole global batch;
- DDP averages the W slice-mean gradients: the gradient of the global batch mean;
- BatchNorm normalises with the global batch's statistics (``edgefer.training.sync_bn``: SyncBatchNorm
  on GPUs, an all-reduce based one on CPUs; ``sync_bn=False`` keeps each rank's slice statistics,
  DDP's default); dropout masks are drawn per rank: the one remaining difference from the single process;
- the NaN guard looks at the loss averaged over ranks, before backward, so every rank stops at the
  same step and none is left waiting in the gradient all-reduce;
- rank 0 alone touches the run folder; the others hold a ``FollowerRun`` that writes nothing, and
  receive the resume checkpoint by broadcast (a multi-node run needs no shared disk for it).

Every trainer (fer, sr, fsr) goes through the same calls: ``start`` (process group, batch check, seed,
run folder), ``Dist.resume_from``, ``Dist.wrap``, ``Dist.announce``, ``Dist.step`` (guard + optimizer
step), ``Dist.on_main`` for the per-epoch check and the final model, and ``Dist.record`` in metrics.jsonl.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from edgefer.errors import EdgeferError
from edgefer.training.run import RunDir, check_finite, optimizer_step, seed_everything

log = logging.getLogger("edgefer.train")
T = TypeVar("T")


class RankStopped(SystemExit):
    """A non-zero rank leaving because rank 0 stopped the run. Its exit status is 0: the run's status is
    rank 0's, and torchrun, which stops every worker once one fails, must leave rank 0 the time to print
    its one ``error:`` line and exit non-zero."""

    def __init__(self) -> None:
        super().__init__(0)


@dataclass(frozen=True)
class Dist:
    """This process's place in the run: rank, world size, and the device it trains on."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes, logs and draws progress bars."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world:
            raise EdgeferError(f"--batch-size {batch_size}: the global batch must split evenly over "
                               f"{self.world} processes")

    def shard(self, n: int) -> slice:
        """The rows of an (n, ...) global batch this rank trains on: the rank-th of W equal blocks."""
        b = n // self.world
        return slice(self.rank * b, (self.rank + 1) * b)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """A scalar averaged over ranks (detached); the value itself on one process."""
        value = value.detach()
        if not self.active:
            return value
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value / self.world

    def guard(self, loss: torch.Tensor, where: str, run: Any) -> float:
        """The NaN guard, taken by every rank on the rank-mean loss: one non-finite rank stops all of
        them at this step (rank 0 raises TrainingDiverged, the others RankStopped). Returns the mean."""
        mean = self.mean(loss)
        if not (self.main or torch.isfinite(mean)):
            raise RankStopped
        check_finite(mean, where, run)
        return mean.item()

    def step(self, opt: torch.optim.Optimizer, loss: torch.Tensor, run: Any, where: str) -> float:
        """The NaN guard on the rank-mean loss (every rank stops at the same step), then backward (DDP
        averages the gradients) and the optimizer step. Returns the rank-mean loss."""
        mean = self.guard(loss, where, run)
        optimizer_step(opt, loss, run, where)
        return mean

    def resume_from(self, run: RunDir) -> dict:
        """The run's last.pt on every rank: rank 0 reads it (and trims metrics.jsonl), the others receive it."""
        return self.on_main(run.load_last, share=True)

    def announce(self, batch_size: int, lr: float, steps: int) -> None:
        """State the global batch, its split over processes and the peak learning rate in the log."""
        log.info("global batch %d (%d process%s x %d faces), peak lr %g, %d steps per epoch", batch_size,
                 self.world, "es" if self.active else "", batch_size // self.world, lr, steps)

    def record(self, batch_size: int, faces_per_s: float) -> dict[str, Any]:
        """The DDP fields of a metrics.jsonl epoch record (faces/s: every process together)."""
        return {"global_batch": batch_size, "processes": self.world, "train_faces_per_s": round(faces_per_s, 1)}

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (pickled; for checkpoints and small messages)."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def on_main(self, fn: Callable[[], T], *, share: bool = False, default: Any = None) -> T:
        """Run ``fn`` on rank 0 only. If it raises, rank 0 re-raises and every other rank stops
        (RankStopped) instead of waiting forever; with ``share`` its result goes to every rank, else the
        others get ``default``."""
        if not self.active:
            return fn()
        out, err = None, None
        if self.main:
            try:
                out = fn()
            except BaseException as e:  # noqa: BLE001 - re-raised below, after telling the others
                err = e
        failed, shared = self.broadcast((err is not None, out if share and err is None else None))
        if err is not None:
            raise err
        if failed:
            raise RankStopped
        return out if self.main else (shared if share else default)

    def wrap(self, model: nn.Module, sync_bn: bool = True) -> nn.Module:
        """The module to train through: on one process ``model`` itself; under DDP a DistributedDataParallel
        (gradients averaged over ranks, rank 0's weights broadcast first) around ``model`` or, with
        ``sync_bn`` and BatchNorm layers in it, around ``sync_bn.training_view(model)``: the same
        parameters and buffers with synchronised BatchNorm, ``model`` unchanged (what is saved). Call
        ``.train()`` on the returned module."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        from edgefer.training.sync_bn import has_batchnorm, training_view

        cuda = self.device.type == "cuda"
        if sync_bn and has_batchnorm(model):
            log.info("BatchNorm synchronised over %d processes (%s)", self.world,
                     "SyncBatchNorm" if cuda else "NaiveSyncBatchNorm, all-reduce over gloo")
            model = training_view(model, cuda)
        return DistributedDataParallel(model, device_ids=[self.device.index] if cuda else None)


class FollowerRun(RunDir):
    """What a non-zero rank holds instead of a RunDir: the same paths and step counting, and every
    write is a no-op (no folder, no config.json, no metrics, no checkpoint)."""

    def __init__(self, path: str | Path) -> None:  # no checks: rank 0's RunDir made them
        self.path = Path(path)
        self.last = self.path / "last.pt"
        self.model = self.path / "model.pt"
        self.metrics = self.path / "metrics.jsonl"
        self.config, self.resume, self._begun, self._steps = {}, False, True, 0
        self.t0 = time.time()

    def _begin(self) -> None:
        pass

    def log_metrics(self, record: dict[str, Any]) -> None:
        self._steps = 0

    def save_last(self, ckpt: dict) -> None:
        pass

    def trim_metrics(self, epoch: int) -> int:
        return 0

    def load_last(self) -> dict:
        raise RuntimeError("only rank 0 reads last.pt; the others receive it through Dist.on_main(share=True)")


def env_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def start(out: str | Path, cfg: Any, resume: bool) -> tuple[Dist, RunDir]:
    """A trainer's first lines, on one process or under torchrun: join the process group, check that
    ``cfg.batch_size`` splits over the ranks, seed ``cfg.seed``, and open the run folder on rank 0 (a
    FollowerRun, which writes nothing, elsewhere). An error on rank 0 stops every rank."""
    ddp = init()
    ddp.on_main(lambda: ddp.check_batch(cfg.batch_size))  # one error line, every rank stops
    seed_everything(cfg.seed)
    run = ddp.on_main(lambda: RunDir(out, cfg, resume), default=FollowerRun(out))
    return ddp, run


def init() -> Dist:
    """Join the process group torchrun describes in the environment (gloo on CPU, NCCL when CUDA is
    there, one GPU per local rank); a one-process Dist when there is none. Idempotent."""
    world = env_world()
    if world <= 1:
        return Dist()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device, backend = torch.device("cuda", local_rank), "nccl"
        torch.cuda.set_device(device)
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, device_id=device if backend == "nccl" else None)
        atexit.register(shutdown)  # however the process ends: a group left to the interpreter's exit can abort it
    if rank:  # one voice: the other ranks only warn
        logging.getLogger("edgefer").setLevel(logging.WARNING)
    log.info("distributed: %d processes (%s), this is rank %d on %s", world, backend, rank, device)
    return Dist(rank=rank, world=world, local_rank=local_rank, device=device)


def shutdown() -> None:
    """Leave the process group together (a clean exit, no 'process group was not destroyed' warning).

    The barrier first: a rank that tears its gloo connections down while another is still on them can
    make that one abort ('terminate called without an active exception', seen once in CI at the end of
    a resumed run). Bounded, so that a rank whose peer died still exits."""
    if dist.is_initialized():
        try:
            if dist.get_backend() == "gloo":
                dist.monitored_barrier(timeout=datetime.timedelta(seconds=30))
            else:
                dist.barrier()
        except Exception as e:  # noqa: BLE001 - a peer is gone: leave anyway
            log.debug("leaving the process group without the others: %s", e)
        dist.destroy_process_group()


def on_cpu(module: nn.Module) -> nn.Module:
    """``module`` itself when it lives on the CPU, else a CPU copy (evaluation and checkpoints read numpy)."""
    if all(p.device.type == "cpu" for p in module.parameters()):
        return module
    import copy

    return copy.deepcopy(module).cpu()
