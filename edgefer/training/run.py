"""A training run's folder: config.json, metrics.jsonl, last.pt (resumable) and model.pt (shippable)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgefer.checkpoint import load_checkpoint, save_checkpoint
from edgefer.errors import EdgeferError
from edgefer.fileio import atomic_path, write_json

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
    run.count_step()
    return loss.item()


class RunDir:
    """The run folder. Nothing is written until the first epoch ends (``log_metrics`` / ``save_last``),
    so a run that fails on its data or options leaves no config.json behind.

    metrics.jsonl holds one record per finished epoch and at most one ``final`` record: on resume, records
    of epochs after last.pt (a kill between the metrics line and the save), a cut-off last line and an
    earlier ``final`` record are dropped before training continues, so the file never repeats an epoch.
    """

    def __init__(self, path: str | Path, config: Any, resume: bool) -> None:
        self.path = Path(path)
        self.last = self.path / "last.pt"
        self.model = self.path / "model.pt"
        self.metrics = self.path / "metrics.jsonl"
        self.config = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
        self.resume = resume
        self._begun = resume
        self._steps = 0  # optimizer steps since the last epoch record
        if self.path.exists() and not self.path.is_dir():
            raise EdgeferError(f"{self.path}: --out is a file, not a run folder")
        if resume:
            if not self.last.is_file():
                raise EdgeferError(f"{self.last}: nothing to resume (no last.pt in the run folder)")
            saved = self._saved_config()
            # A setting added after the run began (absent from its config.json) is unchanged at its default.
            defaults = _defaults(config)
            changed = {k for k in self.config if k not in ("epochs", "resume")
                       and saved.get(k, defaults.get(k)) != self.config[k]}
            if changed:
                raise EdgeferError(f"{self.path}/config.json: --resume with changed settings: {', '.join(sorted(changed))}")
        elif self.last.exists():
            raise EdgeferError(f"{self.path}: run folder already holds a run; pass --resume or choose another --out")
        self.t0 = time.time()

    def _saved_config(self) -> dict[str, Any]:
        path = self.path / "config.json"
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EdgeferError(f"{path}: missing; cannot check that --resume continues the same run") from None
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise EdgeferError(f"{path}: not a readable run config ({' '.join(str(e).split())[:120]})") from None
        if not isinstance(saved, dict):
            raise EdgeferError(f"{path}: not a run config (expected a JSON object, got {type(saved).__name__})")
        return saved

    def _begin(self) -> None:
        """Create the folder and config.json on the first write of a fresh run."""
        if self._begun:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EdgeferError(f"{self.path}: cannot create the run folder ({e.strerror or e})") from None
        write_json(self.path / "config.json", self.config)
        self.metrics.unlink(missing_ok=True)
        self._begun = True

    def count_step(self) -> None:
        self._steps += 1

    def log_metrics(self, record: dict[str, Any]) -> None:
        if "epoch" in record and self._steps == 0:  # e.g. --batch-size larger than the training split
            raise EdgeferError(f"epoch {record['epoch']} ran no training step: --batch-size "
                               f"{self.config.get('batch_size')} is larger than the training split; nothing saved")
        self._steps = 0
        self._begin()
        record = {"time": round(time.time() - self.t0, 1), **record}
        append_line(self.metrics, json.dumps(record))

    def save_last(self, ckpt: dict) -> None:
        self._begin()
        save_checkpoint(ckpt, self.last)

    def load_last(self) -> dict:
        ckpt = load_checkpoint(self.last)
        epoch = ckpt.get("epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise EdgeferError(f"{self.last}: no epoch number in the checkpoint; cannot resume from it")
        self.trim_metrics(epoch)
        return ckpt

    def trim_metrics(self, epoch: int) -> int:
        """Keep the records of epochs 1..epoch (the ones last.pt holds); returns how many were dropped."""
        if not self.metrics.is_file():
            return 0
        keep, dropped = [], 0
        for line in self.metrics.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:  # a line cut by a kill or a full disk
                dropped += 1
                continue
            if not isinstance(rec, dict) or "final" in rec or not isinstance(rec.get("epoch"), int) or rec["epoch"] > epoch:
                dropped += 1
                continue
            keep.append(line)
        if dropped:
            log.info("%s: dropped %d record(s) past epoch %d (or cut off) before resuming", self.metrics, dropped, epoch)
            with atomic_path(self.metrics) as tmp:
                tmp.write_text("".join(f"{line}\n" for line in keep), encoding="utf-8")
        return dropped


def _defaults(config: Any) -> dict[str, Any]:
    """The default of each field of a dataclass config ({} for a plain dict)."""
    if not dataclasses.is_dataclass(config):
        return {}
    return {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}


def append_line(path: Path, line: str) -> None:
    """Append one line with a single write(2) on an O_APPEND file: a kill leaves the line whole or absent
    (a full disk can still cut it; ``RunDir.trim_metrics`` drops such a line on resume)."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as e:
        raise EdgeferError(f"{path}: cannot write ({e.strerror or e})") from None
    if written != len(data):
        raise EdgeferError(f"{path}: short write ({written} of {len(data)} bytes; is the disk full?)")


def cosine_lr(step: int, total: int, base: float, warmup: int = 0, floor: float = 0.0) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
