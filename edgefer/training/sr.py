"""Train B2's image super-resolution network; the checkpoint bundles it with the sharp FER model."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from edgefer.checkpoint import make_checkpoint, save_checkpoint
from edgefer.fileio import sha256_file
from edgefer.degrade import degrade, degrade_mixed
from edgefer.models.composed import SRThenFER
from edgefer.models.sr import SRNet
from edgefer.progress import bar
from edgefer.training.common import final_metrics, load_fixed_fer, load_splits
from edgefer.training.run import RunDir, cosine_lr, optimizer_step, seed_everything, set_lr

log = logging.getLogger("edgefer.train")


@dataclass
class SRConfig:
    data: str
    fer: str
    factors: list[int] = field(default_factory=lambda: [2, 3, 4, 5, 6, 7, 8])
    epochs: int = 4
    batch_size: int = 64
    patch: int = 24
    lr: float = 1e-3
    width: int = 32
    depth: int = 5
    seed: int = 0
    limit: int | None = None


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def train_sr(cfg: SRConfig, out: str, resume: bool = False) -> str:
    seed_everything(cfg.seed)
    run = RunDir(out, cfg, resume)
    fer_ckpt, fer = load_fixed_fer(cfg.fer, "B2")
    arch = {"fer": fer_ckpt["arch"]["fer"], "sr": {"width": cfg.width, "depth": cfg.depth}}
    sr = SRNet(**arch["sr"])
    opt = torch.optim.Adam(sr.parameters(), lr=cfg.lr)
    start = 0
    if resume:
        ck = run.load_last()
        sr.load_state_dict(ck["state"]["sr"])
        opt.load_state_dict(ck["optim"]["sr"])
        start = ck["epoch"]
    train, val = load_splits(cfg.data, cfg.limit, cfg.seed)
    images = train.images.astype(np.float32)
    steps = len(train) // cfg.batch_size
    side = images.shape[-1]
    for epoch in range(start, cfg.epochs):
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        perm = rng.permutation(len(train))
        sr.train()
        losses = []
        with bar(steps, f"SR epoch {epoch + 1}/{cfg.epochs}", unit="batch") as pb:
            for i in range(steps):
                hr = images[perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]]
                hr = np.where(rng.random(len(hr))[:, None, None] < 0.5, hr[:, :, ::-1], hr)
                lr_img = degrade_mixed(hr, rng.choice(cfg.factors, size=len(hr)))
                y0, x0 = rng.integers(0, side - cfg.patch + 1, size=2)  # degrade whole faces, then crop
                crop = np.s_[:, None, y0 : y0 + cfg.patch, x0 : x0 + cfg.patch]
                set_lr(opt, cosine_lr(epoch * steps + i, cfg.epochs * steps, cfg.lr))
                loss = F.l1_loss(sr(torch.from_numpy(lr_img[crop].copy())), torch.from_numpy(hr[crop].copy()))
                losses.append(optimizer_step(opt, loss, run, f"epoch {epoch + 1} step {i + 1}"))
                pb.update()
                pb.set_postfix(l1=f"{np.mean(losses[-50:]):.2f}")
        sr.eval()
        record = {"epoch": epoch + 1, "l1": float(np.mean(losses)), "val_psnr": {}, "val_psnr_bicubic": {}}
        hr_val = val.images[:512].astype(np.float32)
        with torch.inference_mode():
            for f in (2, 4, 8):
                lr_val = degrade(hr_val, f)
                record["val_psnr"][str(f)] = round(psnr(sr(torch.from_numpy(lr_val[:, None])).numpy()[:, 0], hr_val), 2)
                record["val_psnr_bicubic"][str(f)] = round(psnr(lr_val, hr_val), 2)
        run.log_metrics(record)
        log.info("epoch %d: %s", epoch + 1, record)
        run.save_last(make_checkpoint("sr_fer", arch, {"fer": fer, "sr": sr}, dataclasses.asdict(cfg),
                                      extra={"epoch": epoch + 1, "optim": {"sr": opt.state_dict()}}))
    model = SRThenFER(sr, fer).eval()
    metrics = final_metrics(model, val, "final evaluation")
    save_checkpoint(make_checkpoint("sr_fer", arch, {"fer": fer, "sr": sr}, dataclasses.asdict(cfg), metrics,
                                    extra={"fer_source": {"path": str(cfg.fer), "sha256": sha256_file(cfg.fer)}}),
                    run.model)
    run.log_metrics({"final": {k: metrics[k] for k in ("accuracy", "macro_f1")}})
    return str(run.model)
