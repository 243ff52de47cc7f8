"""Train the FER network: B0 on sharp faces, or B1 with multi-resolution augmentation."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from edgefer.checkpoint import make_checkpoint, save_checkpoint
from edgefer.degrade import degrade_mixed
from edgefer.evaluate import evaluate
from edgefer.models.fer import FERNet
from edgefer.progress import bar
from edgefer.training.augment import random_affine, random_erase
from edgefer.training.common import final_metrics, load_splits, probs_fn
from edgefer.training.run import RunDir, cosine_lr, optimizer_step, seed_everything, set_lr

log = logging.getLogger("edgefer.train")


@dataclass
class FERConfig:
    data: str
    multires: bool = False
    factors: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7, 8])
    epochs: int = 15
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    emb_dim: int = 128
    dropout: float = 0.3
    seed: int = 0
    limit: int | None = None
    val_factors: list[int] = field(default_factory=lambda: [1, 4, 8])


def fer_arch(cfg: FERConfig) -> dict:
    return {"widths": list(cfg.widths), "emb_dim": cfg.emb_dim, "n_classes": 8, "dropout": cfg.dropout}


def train_fer(cfg: FERConfig, out: str, resume: bool = False) -> str:
    seed_everything(cfg.seed)
    run = RunDir(out, cfg, resume)
    train, val = load_splits(cfg.data, cfg.limit, cfg.seed)
    arch = {"fer": fer_arch(cfg)}
    model = FERNet(**arch["fer"]).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = 0
    if resume:
        ck = run.load_last()
        model.load_state_dict(ck["state"]["fer"])
        opt.load_state_dict(ck["optim"]["fer"])
        start = ck["epoch"]
        log.info("resuming %s after epoch %d", run.path, start)
    images = torch.from_numpy(train.images)
    labels = torch.from_numpy(train.labels)
    steps = len(train) // cfg.batch_size
    total = steps * cfg.epochs
    for epoch in range(start, cfg.epochs):
        model.train()
        torch.manual_seed(cfg.seed * 1000 + epoch)  # per-epoch seeds (dropout too): resume is deterministic
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        perm = torch.randperm(len(train), generator=gen)
        losses = []
        with bar(steps, f"epoch {epoch + 1}/{cfg.epochs}", unit="batch") as pb:
            for i in range(steps):
                idx = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
                x = random_affine(images[idx].float()[:, None], gen)
                if cfg.multires:
                    factors = rng.choice(cfg.factors, size=len(idx))
                    x = torch.from_numpy(degrade_mixed(x[:, 0].numpy(), factors))[:, None]
                x = random_erase(x, gen).contiguous(memory_format=torch.channels_last)
                set_lr(opt, cosine_lr(epoch * steps + i, total, cfg.lr, warmup=steps))
                loss = F.cross_entropy(model(x), labels[idx], label_smoothing=cfg.label_smoothing)
                losses.append(optimizer_step(opt, loss, run, f"epoch {epoch + 1} step {i + 1}"))
                pb.update()
                pb.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        model.eval()
        res = evaluate(probs_fn(model), val.images, val.labels, cfg.val_factors, description="validating")
        run.log_metrics({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_accuracy": res["accuracy"]})
        log.info("epoch %d: loss %.4f, val accuracy %s", epoch + 1, np.mean(losses),
                 {k: round(v, 4) for k, v in res["accuracy"].items()})
        run.save_last(make_checkpoint("fer", arch, {"fer": model}, dataclasses.asdict(cfg),
                                      extra={"epoch": epoch + 1, "optim": {"fer": opt.state_dict()}}))
    metrics = final_metrics(model, val, "final evaluation")
    save_checkpoint(make_checkpoint("fer", arch, {"fer": model.to(memory_format=torch.contiguous_format)},
                                    dataclasses.asdict(cfg), metrics), run.model)
    run.log_metrics({"final": {k: metrics[k] for k in ("accuracy", "macro_f1")}})
    return str(run.model)
