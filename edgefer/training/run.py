"""A training run's folder: config.json, metrics.jsonl, last.pt (resumable) and model.pt (shippable)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgefer.checkpoint import load_checkpoint, save_checkpoint
from edgefer.errors import EdgeferError
from edgefer.fileio import write_json

log = logging.getLogger("edgefer.train")


class TrainingDiverged(EdgeferError):
    """The loss stopped being finite; the last good checkpoint is kept."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_finite(loss: torch.Tensor, where: str, run: RunDir) -> None:
    if not torch.isfinite(loss):
        last = run.last if run.last.exists() else "none yet"
        raise TrainingDiverged(f"loss became {loss.item()} at {where}; stopped, last good checkpoint: {last}")


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, run: RunDir, where: str) -> float:
    """Guard against a non-finite loss, then one backward pass and one optimizer step; returns the loss."""
    check_finite(loss, where, run)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


class RunDir:
    def __init__(self, path: str | Path, config: Any, resume: bool) -> None:
        self.path = Path(path)
        self.last = self.path / "last.pt"
        self.model = self.path / "model.pt"
        self.metrics = self.path / "metrics.jsonl"
        self.config = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
        if resume:
            if not self.last.is_file():
                raise EdgeferError(f"{self.last}: nothing to resume (no last.pt in the run folder)")
            saved = json.loads((self.path / "config.json").read_text())
            changed = {k for k in self.config if k not in ("epochs", "resume") and saved.get(k) != self.config[k]}
            if changed:
                raise EdgeferError(f"{self.path}/config.json: --resume with changed settings: {', '.join(sorted(changed))}")
        else:
            if self.last.exists():
                raise EdgeferError(f"{self.path}: run folder already holds a run; pass --resume or choose another --out")
            self.path.mkdir(parents=True, exist_ok=True)
            write_json(self.path / "config.json", self.config)
            self.metrics.unlink(missing_ok=True)
        self.t0 = time.time()

    def log_metrics(self, record: dict[str, Any]) -> None:
        record = {"time": round(time.time() - self.t0, 1), **record}
        with open(self.metrics, "a") as fh:  # one line per record, flushed: a crash loses nothing written
            fh.write(json.dumps(record) + "\n")

    def save_last(self, ckpt: dict) -> None:
        save_checkpoint(ckpt, self.last)

    def load_last(self) -> dict:
        return load_checkpoint(self.last)


def cosine_lr(step: int, total: int, base: float, warmup: int = 0, floor: float = 0.0) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
