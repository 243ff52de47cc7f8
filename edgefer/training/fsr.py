"""Train FSR-FER: G (and the critic D) on the features of a fixed FER model.

Per step, for a batch of faces each degraded by a random factor:
    f_LR = Φ(x_LR), f_HR = Φ(x_HR), ĝ = G(f_LR)
    w    = (1.5 - softmax(head(ĝ))[y])²                      (classification-aware weight)
    L_D  = mean(w·D(f_HR)) - mean(w·D(ĝ)) + k·mean(‖∇D(x̂)‖^p)  (WGAN-div, x̂ between f_HR and ĝ)
    L_G  = a·mean(w·D(ĝ)) + b·mean(w·‖ĝ - f_HR‖²) + c·mean(w·‖φ(ĝ) - φ(f_HR)‖²) [+ d·CE]
G is first pre-trained on the plain feature MSE. Φ and the head never change,
so their outputs for every training face and factor are computed once and cached.

G's optimizer depends on the phase (pre-training: Adam; adversarial: Adam with betas (0, 0.9)) and is
built in one place, ``g_optimizer``. Checkpoints store the phase the optimizer state belongs to, so a run
resumed at the boundary gets the adversarial optimizer, as a straight run does.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgefer.checkpoint import make_checkpoint, save_checkpoint
from edgefer.fileio import sha256_file
from edgefer.degrade import FACTORS_EVAL, degrade
from edgefer.metrics import accuracy, confusion_matrix
from edgefer.models.composed import FSRFER
from edgefer.models.discriminator import Discriminator
from edgefer.models.fer import FERNet
from edgefer.models.generator import Generator
from edgefer.progress import bar
from edgefer.training import distributed
from edgefer.training.common import final_metrics, holdout_keys, load_fixed_fer, load_splits, split_holdout
from edgefer.training.run import RunDir, cosine_lr, set_lr

log = logging.getLogger("edgefer.train")


@dataclass
class FSRConfig:
    data: str
    fer: str
    factors: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7, 8])
    pretrain_epochs: int = 2
    epochs: int = 6
    batch_size: int = 64
    lr_pretrain: float = 2e-4
    lr: float = 1e-4
    w_adv: float = 1.0
    w_feat: float = 0.01
    w_emb: float = 10.0
    w_ce: float = 0.0
    reweight: bool = True
    gp_k: float = 2.0
    gp_p: float = 6.0
    g_width: int = 64
    g_rrdb: int = 2
    g_growth: int = 16
    g_convs: int = 3
    d_width: int = 64
    seed: int = 0
    limit: int | None = None


@torch.inference_mode()
def feature_cache(fer: FERNet, images: np.ndarray, factors: list[int], batch: int = 512,
                  description: str = "caching features") -> torch.Tensor:
    """Φ of every face at every factor: (len(factors), N, C, 6, 6) float16."""
    n = len(images)
    out = None
    with bar(n * len(factors), description, unit="face") as pb:
        for fi, f in enumerate(factors):
            for s in range(0, n, batch):
                x = torch.from_numpy(degrade(images[s : s + batch], f)[:, None]).contiguous(memory_format=torch.channels_last)
                feats = fer.features(x)
                if out is None:
                    out = torch.empty((len(factors), n, *feats.shape[1:]), dtype=torch.float16)
                out[fi, s : s + len(x)] = feats.to(torch.float16)
                pb.update(len(x))
    return out


def gradient_penalty(d: nn.Module, real: torch.Tensor, fake: torch.Tensor, p: float, gen: torch.Generator | None = None,
                     alpha: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-div's k-less penalty mean(‖∇D(x̂)‖^p), x̂ = α·real + (1 − α)·fake with α (N, 1, 1, 1) drawn from
    ``gen`` unless given (under DDP: drawn for the global batch, then each rank's rows)."""
    if alpha is None:
        alpha = torch.rand(real.shape[0], 1, 1, 1, generator=gen)
    alpha = alpha.to(real.device)
    x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).pow(p / 2).mean()


PRETRAIN, ADVERSARIAL = "pre-train G", "adversarial"


def phase_of(epoch: int, cfg: FSRConfig) -> str:
    """The phase of 0-based ``epoch``."""
    return PRETRAIN if epoch < cfg.pretrain_epochs else ADVERSARIAL


def g_optimizer(g: nn.Module, cfg: FSRConfig, phase: str) -> torch.optim.Optimizer:
    """G's optimizer for ``phase``: the only place it is built (the recipe's adversarial Adam has betas (0, 0.9))."""
    if phase == PRETRAIN:
        return torch.optim.Adam(g.parameters(), lr=cfg.lr_pretrain)
    return torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=(0.0, 0.9))


def generator_arch(cfg: FSRConfig, channels: int) -> dict:
    return {"channels": channels, "width": cfg.g_width, "n_rrdb": cfg.g_rrdb, "growth": cfg.g_growth, "n_convs": cfg.g_convs}


def train_fsr(cfg: FSRConfig, out: str, resume: bool = False) -> str:
    # Under torchrun G and D are trained with DDP on each rank's rows of every global batch, the fixed FER
    # model stays out of DDP (never trained), and rank 0 alone writes, through the calls train_fer makes
    # (edgefer.training.distributed). On one process ddp changes nothing.
    ddp, run = distributed.start(out, cfg, resume)
    dev = ddp.device
    fer_ckpt, fer = ddp.on_main(lambda: load_fixed_fer(cfg.fer, "FSR-FER"), share=True)  # rank 0 reads and checks it
    fer.requires_grad_(False)
    head = fer.head if dev.type == "cpu" else copy.deepcopy(fer.head).to(dev)  # the fixed head on the training device
    channels = fer.head.stage3.conv1.in_channels
    arch = {"fer": fer_ckpt["arch"]["fer"], "generator": generator_arch(cfg, channels)}
    g = Generator(**arch["generator"]).to(dev)
    with torch.no_grad():  # the feature image's side: 6, or less for a backbone that reads the face smaller (input_px)
        spatial = fer.features(torch.zeros(1, 1, 48, 48)).shape[-1]
    d = Discriminator(channels=channels, width=cfg.d_width, spatial=spatial).to(dev)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=(0.0, 0.9))
    start = 0
    opt_phase = phase_of(0, cfg)  # the phase opt_g was built for
    if resume:
        ck = ddp.resume_from(run)  # rank 0 reads it; the others receive it
        g.load_state_dict(ck["state"]["generator"])
        d.load_state_dict(ck["state"]["discriminator"])
        start = ck["epoch"]
        # older checkpoints have no phase: their optimizer state is that of the last finished epoch
        opt_phase = ck.get("phase") or phase_of(start - 1, cfg)
    opt_g = g_optimizer(g, cfg, opt_phase)
    if resume:
        opt_g.load_state_dict(ck["optim"]["generator"])
        opt_d.load_state_dict(ck["optim"]["discriminator"])
        log.info("resuming %s after epoch %d", run.path, start)
    g_net, d_net = ddp.wrap(g), ddp.wrap(d)  # no BatchNorm in G or D: plain DDP

    train, val = load_splits(cfg.data, cfg.limit, cfg.seed)
    held = holdout_keys(fer_ckpt.get("config", {}))
    if held.get("holdout"):  # G never sees the faces its backbone held out: routes and thresholds are fitted there
        if held.get("limit") == cfg.limit and (not cfg.limit or held.get("seed") == cfg.seed):
            train, _ = split_holdout(train, held["holdout"], held["seed"])
        else:
            log.warning("--limit/--seed differ from the backbone's: its holdout cannot be rebuilt, and G trains on it")
    # Every rank caches every training face (its rows change with each epoch's permutation); rank 0 alone
    # validates, so only it caches the val split.
    lr_feats = feature_cache(fer, train.images, cfg.factors, description="caching train features")
    hr_index = cfg.factors.index(1) if 1 in cfg.factors else None
    hr_feats = lr_feats[hr_index] if hr_index is not None else feature_cache(fer, train.images, [1])[0]
    with torch.inference_mode():
        hr_emb = torch.cat([fer.head.embed(hr_feats[s : s + 1024].float()) for s in range(0, len(train), 1024)])
    val_factors = list(FACTORS_EVAL)
    val_feats = ddp.on_main(lambda: feature_cache(fer, val.images, val_factors, description="caching val features"))
    labels = torch.from_numpy(train.labels)

    steps = len(train) // cfg.batch_size
    n_epochs = cfg.pretrain_epochs + cfg.epochs
    ddp.announce(cfg.batch_size, cfg.lr_pretrain if start < cfg.pretrain_epochs else cfg.lr, steps)
    lr = cfg.lr_pretrain
    for epoch in range(start, n_epochs):
        phase = phase_of(epoch, cfg)
        pretrain = phase == PRETRAIN
        if phase != opt_phase:  # entering the adversarial phase, straight or resumed: a fresh optimizer
            opt_g, opt_phase = g_optimizer(g, cfg, phase), phase
            if not pretrain:
                log.info("adversarial phase: peak lr %g for G and D, global batch %d", cfg.lr, cfg.batch_size)
        torch.manual_seed(cfg.seed * 1000 + epoch)  # per-epoch seeds: resume is deterministic
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        perm = torch.randperm(len(train), generator=gen)
        g_net.train()
        d_net.train()
        sums: dict[str, float] = {}
        t_epoch = time.perf_counter()
        with bar(steps, f"{phase} {epoch + 1}/{n_epochs}", unit="step", disable=not ddp.main) as pb:
            for i in range(steps):
                where = f"epoch {epoch + 1} step {i + 1}"
                idx = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
                fac = torch.randint(len(cfg.factors), (len(idx),), generator=gen)
                # The one process's draws for the whole global batch (α after the factors, as it draws them);
                # each rank then takes its rows.
                alpha = None if pretrain else torch.rand(len(idx), 1, 1, 1, generator=gen)
                mine = ddp.shard(len(idx))
                idx, fac = idx[mine], fac[mine]
                f_lr = lr_feats[fac, idx].float().to(dev)
                f_hr = hr_feats[idx].float().to(dev)
                if pretrain:
                    lr = cosine_lr(epoch * steps + i, cfg.pretrain_epochs * steps, cfg.lr_pretrain)
                    set_lr(opt_g, lr)
                    parts = {"mse": ddp.step(opt_g, F.mse_loss(g_net(f_lr), f_hr), run, where)}
                else:
                    adv_step = (epoch - cfg.pretrain_epochs) * steps + i
                    lr = cosine_lr(adv_step, cfg.epochs * steps, cfg.lr, floor=cfg.lr * 0.1)
                    set_lr(opt_g, lr)
                    set_lr(opt_d, lr)
                    parts = _adversarial_step(cfg, (g, g_net), (d, d_net), head, opt_g, opt_d, f_lr, f_hr,
                                              hr_emb[idx].to(dev), labels[idx].to(dev), alpha[mine], ddp, run, where)
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v
                pb.update()
                pb.set_postfix({k: f"{v / (i + 1):.3g}" for k, v in sums.items()})
        faces_per_s = steps * cfg.batch_size / (time.perf_counter() - t_epoch)  # all ranks together

        def end_epoch() -> None:  # rank 0 alone checks, logs and checkpoints; the other ranks wait for it
            acc = _val_accuracy(fer, distributed.on_cpu(g).eval(), val_feats, val.labels, val_factors)
            record = {"epoch": epoch + 1, "phase": phase, **{k: v / steps for k, v in sums.items()}, "val_accuracy": acc,
                      "lr": lr, **ddp.record(cfg.batch_size, faces_per_s)}
            run.log_metrics(record)
            log.info("epoch %d (%s): %s", epoch + 1, phase, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()})
            run.save_last(make_checkpoint(
                "fsrfer", arch, {"fer": fer, "generator": g, "discriminator": d}, dataclasses.asdict(cfg),
                extra={"epoch": epoch + 1, "phase": opt_phase,
                       "optim": {"generator": opt_g.state_dict(), "discriminator": opt_d.state_dict()}},
            ))

        ddp.on_main(end_epoch)

    def finish() -> None:  # rank 0 alone
        model = FSRFER(fer, distributed.on_cpu(g)).eval()
        metrics = final_metrics(model, val, "final evaluation")
        ckpt = make_checkpoint("fsrfer", arch, {"fer": fer, "generator": model.generator}, dataclasses.asdict(cfg), metrics,
                               extra={"fer_source": {"path": str(cfg.fer), "sha256": sha256_file(cfg.fer),
                                                     "holdout_config": held},
                                      "train_faces": len(train)})
        save_checkpoint(ckpt, run.model)
        run.log_metrics({"final": {k: metrics[k] for k in ("accuracy", "macro_f1")}})

    ddp.on_main(finish)
    return str(run.model)


def _adversarial_step(cfg: FSRConfig, g: tuple[nn.Module, nn.Module], d: tuple[nn.Module, nn.Module], head: nn.Module,
                      opt_g, opt_d, f_lr, f_hr, e_hr, y, alpha: torch.Tensor, ddp: distributed.Dist, run: RunDir,
                      where: str) -> dict[str, float]:
    """One critic step, then one generator step, on this rank's rows. ``g`` and ``d`` are (module, the module
    trained through: itself or its DDP wrapper); the passes that train nothing use the module itself."""
    (g, g_net), (d, d_net) = g, d
    # The weight comes from the fixed model on G's current output; it is a weight, not a path for gradients.
    with torch.no_grad():
        fake = g(f_lr)
        if cfg.reweight:
            p = torch.softmax(head(fake), 1).gather(1, y[:, None]).squeeze(1)
            w = (1.5 - p) ** 2
        else:
            w = torch.ones(len(y), device=y.device)
    # Critic step.
    d.requires_grad_(True)
    loss_d = (w * d_net(f_hr)).mean() - (w * d_net(fake)).mean() + cfg.gp_k * gradient_penalty(d_net, f_hr, fake, cfg.gp_p, alpha=alpha)
    loss_d_mean = ddp.step(opt_d, loss_d, run, where + " (D)")
    # Generator step (D fixed: its plain module, no gradient for DDP to average).
    d.requires_grad_(False)
    fake = g_net(f_lr)
    emb = head.embed(fake)
    adv = (w * d(fake)).mean()
    feat = (w * (fake - f_hr).pow(2).flatten(1).sum(1)).mean()
    embd = (w * (emb - e_hr).pow(2).sum(1)).mean()
    loss_g = cfg.w_adv * adv + cfg.w_feat * feat + cfg.w_emb * embd
    if cfg.w_ce:
        loss_g = loss_g + cfg.w_ce * F.cross_entropy(head.logits_from_embedding(emb), y)
    loss_g_mean = ddp.step(opt_g, loss_g, run, where + " (G)")
    feat_m, emb_m, w_m = ddp.mean(torch.stack([feat.detach(), embd.detach(), w.mean()])).tolist()  # every rank's rows
    return {"loss_d": loss_d_mean, "loss_g": loss_g_mean, "feat": feat_m, "emb": emb_m, "w": w_m}


@torch.inference_mode()
def _val_accuracy(fer: FERNet, g: nn.Module, feats: torch.Tensor, labels: np.ndarray, factors: list[int]) -> dict[str, float]:
    out = {}
    for fi, f in enumerate(factors):
        pred = torch.cat([fer.head(g(feats[fi, s : s + 512].float())).argmax(1) for s in range(0, feats.shape[1], 512)])
        out[str(f)] = round(accuracy(confusion_matrix(labels, pred.numpy(), fer.head.classifier.out_features)), 4)
    return out
