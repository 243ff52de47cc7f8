"""Train B2's image super-resolution network; the checkpoint bundles it with the sharp FER model."""

from __future__ import annotations

import dataclasses
import logging
import time
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
from edgefer.training import distributed
from edgefer.training.common import final_metrics, load_fixed_fer, load_splits
from edgefer.training.run import cosine_lr, set_lr

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
    # Under torchrun each rank trains on its rows of every global batch and rank 0 alone writes, through the
    # calls train_fer makes (edgefer.training.distributed). On one process ddp changes nothing.
    ddp, run = distributed.start(out, cfg, resume)
    dev = ddp.device
    fer_ckpt, fer = ddp.on_main(lambda: load_fixed_fer(cfg.fer, "B2"), share=True)  # rank 0 reads and checks it
    arch = {"fer": fer_ckpt["arch"]["fer"], "sr": {"width": cfg.width, "depth": cfg.depth}}
    sr = SRNet(**arch["sr"]).to(dev)
    opt = torch.optim.Adam(sr.parameters(), lr=cfg.lr)
    start = 0
    if resume:
        ck = ddp.resume_from(run)
        sr.load_state_dict(ck["state"]["sr"])
        opt.load_state_dict(ck["optim"]["sr"])
        start = ck["epoch"]
        log.info("resuming %s after epoch %d", run.path, start)
    net = ddp.wrap(sr)  # no BatchNorm in SRNet: plain DDP
    train, val = load_splits(cfg.data, cfg.limit, cfg.seed)
    images = train.images.astype(np.float32)
    steps = len(train) // cfg.batch_size
    side = images.shape[-1]
    ddp.announce(cfg.batch_size, cfg.lr, steps)
    lr = cfg.lr
    for epoch in range(start, cfg.epochs):
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        perm = rng.permutation(len(train))
        net.train()
        losses = []
        t_epoch = time.perf_counter()
        with bar(steps, f"SR epoch {epoch + 1}/{cfg.epochs}", unit="batch", disable=not ddp.main) as pb:
            for i in range(steps):
                hr = images[perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]]
                # Every rank draws the whole global batch's flips, factors and crop (the one process's draws, in
                # its order), then flips and degrades only its own rows.
                flip = rng.random(len(hr)) < 0.5
                factors = rng.choice(cfg.factors, size=len(hr))
                y0, x0 = rng.integers(0, side - cfg.patch + 1, size=2)  # degrade whole faces, then crop
                mine = ddp.shard(len(hr))
                hr = np.where(flip[mine][:, None, None], hr[mine][:, :, ::-1], hr[mine])
                lr_img = degrade_mixed(hr, factors[mine])
                crop = np.s_[:, None, y0 : y0 + cfg.patch, x0 : x0 + cfg.patch]
                lr = cosine_lr(epoch * steps + i, cfg.epochs * steps, cfg.lr)
                set_lr(opt, lr)
                loss = F.l1_loss(net(torch.from_numpy(lr_img[crop].copy()).to(dev)), torch.from_numpy(hr[crop].copy()).to(dev))
                losses.append(ddp.step(opt, loss, run, f"epoch {epoch + 1} step {i + 1}"))  # the rank mean
                pb.update()
                pb.set_postfix(l1=f"{np.mean(losses[-50:]):.2f}")
        faces_per_s = steps * cfg.batch_size / (time.perf_counter() - t_epoch)  # all ranks together

        def end_epoch() -> None:  # rank 0 alone checks, logs and checkpoints; the other ranks wait for it
            model = distributed.on_cpu(sr).eval()
            record = {"epoch": epoch + 1, "l1": float(np.mean(losses)), "val_psnr": {}, "val_psnr_bicubic": {}}
            hr_val = val.images[:512].astype(np.float32)
            with torch.inference_mode():
                for f in (2, 4, 8):
                    lr_val = degrade(hr_val, f)
                    record["val_psnr"][str(f)] = round(psnr(model(torch.from_numpy(lr_val[:, None])).numpy()[:, 0], hr_val), 2)
                    record["val_psnr_bicubic"][str(f)] = round(psnr(lr_val, hr_val), 2)
            record.update(lr=lr, **ddp.record(cfg.batch_size, faces_per_s))
            run.log_metrics(record)
            log.info("epoch %d: %s", epoch + 1, record)
            run.save_last(make_checkpoint("sr_fer", arch, {"fer": fer, "sr": sr}, dataclasses.asdict(cfg),
                                          extra={"epoch": epoch + 1, "optim": {"sr": opt.state_dict()}}))

        ddp.on_main(end_epoch)

    def finish() -> None:  # rank 0 alone
        model = SRThenFER(distributed.on_cpu(sr), fer).eval()
        metrics = final_metrics(model, val, "final evaluation")
        save_checkpoint(make_checkpoint("sr_fer", arch, {"fer": fer, "sr": model.sr}, dataclasses.asdict(cfg), metrics,
                                        extra={"fer_source": {"path": str(cfg.fer), "sha256": sha256_file(cfg.fer)}}),
                        run.model)
        run.log_metrics({"final": {k: metrics[k] for k in ("accuracy", "macro_f1")}})

    ddp.on_main(finish)
    return str(run.model)
