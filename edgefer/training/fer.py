"""Train the FER network: B0 on sharp faces, B1 with multi-resolution augmentation, or the edge recipe.

The edge recipe (issue #10; every part is an option, so each can be measured on its own):
- ``soft_targets``: cross-entropy on FER+'s vote distribution instead of the majority label;
- ``logit_adjust`` τ: the logit-adjusted loss (train on z + τ·log π, predict with z) against the
  "neutral whenever unsure" bias of an imbalanced training set; ``sampler="balanced"`` is the
  alternative it was compared with;
- ``photometric``: random gain, gamma, contrast, blur, noise and JPEG (``edgefer.photometric``);
- ``input_norm="face"``: per-face contrast normalisation inside the graph;
- ``p_sharp`` with ``min_px``..``max_px``: a share of sharp faces, the rest shown at a random size;
- ``teacher``: distillation from a FER model that sees the *sharp* face while the student sees the
  degraded one (the output-level sibling of FSR-FER);
- ``ema_decay``: an exponential moving average of the weights, which is what ships;
- ``init``: start from a trained FER checkpoint's weights (a warm restart: a fresh cosine schedule from
  ``lr``), to train a shipped route longer after its run folder is gone, or to fine-tune on new faces;
- ``holdout``: training faces kept out of training, for the per-epoch check and for fitting the
  temperature (``edgefer.confidence``), so that FER2013Valid is only ever measured, never fitted.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel

from edgefer.checkpoint import build_classifier, make_checkpoint, save_checkpoint
from edgefer.classes import CLASSES
from edgefer.degrade import FACTORS_EVAL, degrade_mixed
from edgefer.errors import CheckpointError
from edgefer.evaluate import evaluate
from edgefer.models.fer import FERNet
from edgefer.photometric import random_photometric
from edgefer.progress import bar
from edgefer.training import distributed
from edgefer.training.augment import random_affine, random_erase
from edgefer.training.common import (final_metrics, fit_calibration, holdout_config, load_fixed_fer, load_splits, probs_fn,
                                     split_holdout)
from edgefer.training.losses import (balanced_indices, distillation_loss, log_prior, logit_adjust,
                                     soft_cross_entropy)
from edgefer.training.run import cosine_lr, set_lr

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
    input_px: int = 48  # the resolution the network reads the face at (FERFeatures): 16 or 12 for the tiniest faces
    seed: int = 0
    limit: int | None = None
    val_factors: list[int] = field(default_factory=lambda: [1, 4, 8])
    # The edge recipe; the defaults reproduce B0 / B1.
    input_norm: str = "fixed"
    soft_targets: bool = False
    logit_adjust: float = 0.0
    sampler: str = "uniform"
    photometric: bool = False
    p_sharp: float | None = None  # None: B1's uniform draw from ``factors``
    min_px: int = 6
    max_px: int = 32
    size_draw: str = "px"  # "px": a face size uniform in [min_px, max_px]; "factor": a factor uniform over factors > 1
    teacher: str | None = None
    kd_alpha: float = 0.5
    kd_temperature: float = 2.0
    ema_decay: float = 0.0
    holdout: int = 0
    init: str | None = None  # a FER checkpoint whose weights the run starts from (not on --resume)
    sync_bn: bool = True  # under DDP: BatchNorm over the global batch (edgefer.training.sync_bn); no effect on one process


def fer_arch(cfg: FERConfig) -> dict:
    arch = {"widths": list(cfg.widths), "emb_dim": cfg.emb_dim, "n_classes": len(CLASSES), "dropout": cfg.dropout}
    if cfg.input_norm != "fixed":  # old checkpoints have no key: they load as "fixed"
        arch["input_norm"] = cfg.input_norm
    if cfg.input_px != 48:  # likewise: no key reads as 48
        arch["input_px"] = cfg.input_px
    return arch


def draw_factors(cfg: FERConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) down-sample factors for a batch: all 1 (B0), B1's uniform draw, or sharp with p_sharp else a
    face size uniform in [min_px, max_px] (factor 48/px, so the model meets every size, not only 7)."""
    if not cfg.multires:
        return np.ones(n)
    if cfg.p_sharp is None:
        return rng.choice(cfg.factors, size=n).astype(np.float64)
    if cfg.size_draw == "factor":  # as many 6 px faces as 24 px ones (B1's draw, sharp faces apart)
        small = rng.choice([f for f in cfg.factors if f > 1], size=n).astype(np.float64)
    else:
        small = 48.0 / rng.integers(cfg.min_px, cfg.max_px + 1, size=n)
    return np.where(rng.random(n) < cfg.p_sharp, 1.0, small)


def calibration_factors(cfg: dict) -> list[int]:
    """The sizes of ``FACTORS_EVAL`` at which a model's decision rule is fitted: the sizes it was trained
    for. Every recipe but one meets them all; a small-face specialist (``--px-range 6-16``) is fitted at its
    own sizes only, so that sharp faces it never learnt do not set its prior shift and temperature."""
    lo, hi = cfg.get("min_px", 6), cfg.get("max_px", 32)
    if hi >= 32 or cfg.get("p_sharp") is None:
        return list(FACTORS_EVAL)
    return [f for f in FACTORS_EVAL if lo <= 48 / f <= hi]


def ema_avg_fn(decay: float):
    """AveragedModel's avg_fn for an EMA whose decay warms up as min(decay, (1 + n)/(10 + n)): a fixed
    0.999 over a 3,000-step run would still hold 5 % of the first step's (untrained) weights at the end
    (measured: the EMA predicted one class for the first 4 epochs)."""

    def avg(averaged: torch.Tensor, current: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        d = min(decay, (1.0 + float(n)) / (10.0 + float(n)))
        return averaged + (current - averaged) * (1.0 - d)

    return avg


@torch.no_grad()
def teacher_logits(teacher: torch.nn.Module, x_sharp: torch.Tensor) -> torch.Tensor:
    """The teacher's logits on the sharp faces, averaged with their mirror images (a steadier target)."""
    return 0.5 * (teacher(x_sharp) + teacher(torch.flip(x_sharp, dims=[3])))


INIT_KEYS = ("seed", "holdout", "limit")


def init_weights(cfg: FERConfig, arch: dict) -> dict:
    """The raw weights (no decision rule folded in) of ``cfg.init``, after checking that they fit this run's
    network and, with a holdout, that they never trained on this run's held-out faces."""
    from edgefer.checkpoint import load_checkpoint

    ckpt = load_checkpoint(cfg.init)
    if ckpt["kind"] != "fer":
        raise CheckpointError(f"--init {cfg.init}: a plain FER checkpoint is needed (kind 'fer', got {ckpt['kind']!r}; "
                              "a routed model's route: tools/route_as_fer.py)")
    if not isinstance(ckpt["arch"].get("fer"), dict) or not isinstance(ckpt["state"].get("fer"), dict):
        raise CheckpointError(f"--init {cfg.init}: damaged FER checkpoint (no 'fer' network in its arch and state)")
    defaults = {"input_norm": "fixed", "input_px": 48}  # what an arch without the key means
    theirs = {**defaults, **ckpt["arch"]["fer"]}
    ours = {**defaults, **arch}
    if theirs != ours:
        differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise CheckpointError(f"--init {cfg.init}: its network differs from this run's ({', '.join(differ)})")
    if cfg.holdout:
        init_cfg = holdout_config(cfg.init, ckpt)
        differ = [k for k in INIT_KEYS if init_cfg.get(k) != getattr(cfg, k)]
        if differ:
            raise CheckpointError(f"--init {cfg.init}: its {', '.join(differ)} differ from this run's: it may have "
                                  "trained on the faces this run holds out")
    return {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state"]["fer"].items()}


def train_fer(cfg: FERConfig, out: str, resume: bool = False) -> str:
    # Under torchrun each rank trains on its slice of every global batch; rank 0 alone writes the run
    # folder (edgefer.training.distributed). On one process ddp changes nothing.
    ddp, run = distributed.start(out, cfg, resume)
    dev = ddp.device
    train, val = load_splits(cfg.data, cfg.limit, cfg.seed)
    train, hold = split_holdout(train, cfg.holdout, cfg.seed)
    check = hold if hold is not None else val  # the per-epoch check (B0/B1 used val; the recipe a holdout)
    soft = cfg.soft_targets and train.soft is not None
    if cfg.soft_targets and not soft:
        log.warning("%s has no vote distributions: training on majority labels", cfg.data)
    teacher = load_fixed_fer(cfg.teacher, "--teacher")[1].requires_grad_(False).to(dev) if cfg.teacher else None
    arch = {"fer": fer_arch(cfg)}
    model = FERNet(**arch["fer"])
    if cfg.init and not resume:  # on --resume, last.pt holds the weights
        try:
            model.load_state_dict(init_weights(cfg, arch["fer"]))
        except RuntimeError as e:  # the arch matched, the tensors do not
            raise CheckpointError(f"--init {cfg.init}: its weights do not fit its network "
                                  f"({str(e).strip().splitlines()[0][:120]})") from None
    model = model.to(dev, memory_format=torch.channels_last)
    ema = AveragedModel(model, avg_fn=ema_avg_fn(cfg.ema_decay), use_buffers=True) if cfg.ema_decay else None
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = 0
    if resume:
        ck = ddp.resume_from(run)  # rank 0 reads it; the others receive it
        model.load_state_dict(ck["state"]["fer"])
        if ema is not None:
            ema.load_state_dict(ck["state"]["ema"])
        opt.load_state_dict(ck["optim"]["fer"])
        start = ck["epoch"]
        log.info("resuming %s after epoch %d", run.path, start)
    # DDP: gradients averaged over ranks (rank 0's weights broadcast first); with sync_bn, BatchNorm over the
    # global batch in a view of ``model`` that shares its tensors (``model`` keeps plain BatchNorm: what is saved)
    net = ddp.wrap(model, cfg.sync_bn)
    images = torch.from_numpy(train.images)
    labels = torch.from_numpy(train.labels)
    k = len(CLASSES)
    targets = torch.from_numpy(train.soft) if soft else F.one_hot(labels, k).float()
    log_pi = log_prior(train.labels, k)
    # Smoothing spreads its mass uniformly, and the logit-adjusted loss reads targets relative to the
    # prior: uniform mass there would become a strong pull towards the rarest classes (measured: 8 %
    # accuracy after 3 epochs). With the adjustment on, smooth towards the prior instead.
    floor = log_pi.exp() if cfg.logit_adjust else torch.full((k,), 1.0 / k)
    targets = targets * (1 - cfg.label_smoothing) + cfg.label_smoothing * floor
    targets, labels_dev, log_pi_dev = targets.to(dev), labels.to(dev), log_pi.to(dev)
    steps = len(train) // cfg.batch_size
    total = steps * cfg.epochs
    ddp.announce(cfg.batch_size, cfg.lr, steps)
    lr = cfg.lr  # logged by end_epoch even if an epoch ran no step
    for epoch in range(start, cfg.epochs):
        net.train()  # the module trained through (under DDP its synchronised BatchNorm layers are its own)
        # per-epoch seeds (dropout too): resume is deterministic; dropout masks differ between ranks
        torch.manual_seed(cfg.seed * 1000 + epoch + 7919 * ddp.rank)
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        if cfg.sampler == "balanced":
            perm = torch.from_numpy(balanced_indices(train.labels, steps * cfg.batch_size, rng))
        else:
            perm = torch.randperm(len(train), generator=gen)
        losses = []
        t_epoch = time.perf_counter()
        with bar(steps, f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", disable=not ddp.main) as pb:
            for i in range(steps):
                idx = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
                sharp = random_affine(images[idx].float()[:, None], gen)
                x = sharp[:, 0].numpy()
                if cfg.photometric:
                    x = random_photometric(x, rng)
                x = degrade_mixed(x, draw_factors(cfg, len(idx), rng)) if cfg.multires else x
                x = random_erase(torch.from_numpy(np.ascontiguousarray(x))[:, None], gen)
                # Every rank augmented the whole global batch with the same draws; each trains on its rows.
                mine = ddp.shard(len(idx))
                idx, sharp, x = idx[mine], sharp[mine], x[mine]
                x = x.contiguous(memory_format=torch.channels_last).to(dev)
                lr = cosine_lr(epoch * steps + i, total, cfg.lr, warmup=steps)
                set_lr(opt, lr)
                z = logit_adjust(net(x), log_pi_dev, cfg.logit_adjust)
                if soft or cfg.logit_adjust or teacher is not None:
                    loss = soft_cross_entropy(z, targets[idx])
                else:  # B0 / B1 exactly as they were trained
                    loss = F.cross_entropy(z, labels_dev[idx], label_smoothing=cfg.label_smoothing)
                if teacher is not None:
                    kd = distillation_loss(z, teacher_logits(teacher, sharp.contiguous(memory_format=torch.channels_last).to(dev)),
                                           cfg.kd_temperature)
                    loss = (1 - cfg.kd_alpha) * loss + cfg.kd_alpha * kd
                where = f"epoch {epoch + 1} step {i + 1}"
                losses.append(ddp.step(opt, loss, run, where))  # the rank mean; a NaN on any rank stops all
                if ema is not None:
                    ema.update_parameters(model)
                pb.update()
                pb.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        faces_per_s = steps * cfg.batch_size / (time.perf_counter() - t_epoch)  # all ranks together

        def end_epoch() -> None:  # rank 0 alone checks, logs and checkpoints; the other ranks wait for it
            shipped = distributed.on_cpu((ema.module if ema is not None else model).eval())
            res = evaluate(probs_fn(shipped), check.images, check.labels, cfg.val_factors,
                           description="checking on the holdout" if hold is not None else "validating")
            key = "holdout" if hold is not None else "val"
            run.log_metrics({"epoch": epoch + 1, "loss": float(np.mean(losses)), f"{key}_accuracy": res["accuracy"],
                             f"{key}_balanced_accuracy": res["balanced_accuracy"], "lr": lr,
                             **ddp.record(cfg.batch_size, faces_per_s)})
            log.info("epoch %d: loss %.4f, %s accuracy %s, balanced %s", epoch + 1, np.mean(losses), key,
                     {f: round(v, 4) for f, v in res["accuracy"].items()},
                     {f: round(v, 4) for f, v in res["balanced_accuracy"].items()})
            modules = {"fer": model} if ema is None else {"fer": model, "ema": ema}
            run.save_last(make_checkpoint("fer", arch, modules, dataclasses.asdict(cfg),
                                          extra={"epoch": epoch + 1, "optim": {"fer": opt.state_dict()}}))

        ddp.on_main(end_epoch)

    def finish() -> None:  # rank 0 alone
        shipped = distributed.on_cpu((ema.module if ema is not None else model).eval()).to(memory_format=torch.contiguous_format)
        extra = (fit_calibration(shipped, hold, calibration_factors(dataclasses.asdict(cfg)),
                                 log_pi.numpy() if cfg.logit_adjust else None) if hold is not None else {})
        ckpt = make_checkpoint("fer", arch, {"fer": shipped}, dataclasses.asdict(cfg), extra=extra)
        ckpt["metrics"] = metrics = final_metrics(build_classifier(ckpt), val, "final evaluation")  # the decision rule as shipped
        save_checkpoint(ckpt, run.model)
        run.log_metrics({"final": {m: metrics[m] for m in ("accuracy", "balanced_accuracy", "macro_f1")}})

    ddp.on_main(finish)
    return str(run.model)


def refit_calibration(model_path: str, data: str) -> dict:
    """Fit a trained edge-recipe checkpoint's decision rule again on its own holdout (rebuilt from its
    config: same seed, same faces) and rewrite it in place; for checkpoints made before a change to
    ``fit_calibration``. Returns the new checkpoint."""
    from edgefer.checkpoint import load_checkpoint

    ckpt = load_checkpoint(model_path)
    cfg = ckpt.get("config", {})
    shift = ckpt["kind"] == "fer"
    cfg = holdout_config(model_path, ckpt)  # FSR-FER: its backbone's holdout; its shift is folded in already
    if ckpt["kind"] not in ("fer", "fsrfer") or not cfg.get("holdout"):
        raise CheckpointError(f"{model_path}: only a FER checkpoint trained with a holdout (--recipe edge), or FSR-FER on "
                              "one, can be refitted")
    train, val = load_splits(data, cfg.get("limit"), cfg["seed"])
    train, hold = split_holdout(train, cfg["holdout"], cfg["seed"])
    raw = {**ckpt, "calibration": None}
    log_pi = log_prior(train.labels, len(CLASSES)).numpy() if shift and cfg.get("logit_adjust") else None
    factors = calibration_factors(ckpt.get("config", {})) if ckpt["kind"] == "fer" else FACTORS_EVAL
    ckpt.update(fit_calibration(build_classifier(raw), hold, factors, log_pi))
    ckpt["metrics"] = final_metrics(build_classifier(ckpt), val, "final evaluation")
    save_checkpoint(ckpt, model_path)
    return ckpt
