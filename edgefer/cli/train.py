"""``edgefer train fer|sr|fsr``: one subcommand per model of the results table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from edgefer.cli.common import (
    DataOpt,
    LimitOpt,
    OutRunOpt,
    ResumeOpt,
    SeedOpt,
    choice,
    factor_list,
    finite_float,
    handle_errors,
    nonneg_int,
    out_dir,
    positive_int,
)
from edgefer.errors import EdgeferError

app = typer.Typer(help="Train the FER model (B0/B1), the SR baseline (B2) or FSR-FER's G and D.", no_args_is_help=True)

EpochsOpt = Annotated[int, typer.Option("--epochs", help="Passes over the training split.")]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Faces per step.")]
LrOpt = Annotated[float, typer.Option("--lr", help="Peak learning rate (cosine schedule).")]
NprocOpt = Annotated[int, typer.Option("--nproc", help="Train with N processes on this machine (DDP: gloo on CPU, NCCL "
                                       "on GPUs); --batch-size stays the global batch. Same as torchrun "
                                       "--standalone --nproc-per-node N -m edgefer train ...")]


def relaunch(nproc: int, batch_size: int) -> None:
    """Run this very command again under torch.distributed.run with ``nproc`` local processes (the
    ``--nproc`` option removed); exits with the workers' status. Rank 0 prints the run's messages."""
    import logging
    import os
    import sys

    if os.environ.get("WORLD_SIZE"):
        raise EdgeferError(f"--nproc {nproc}: already running under torchrun (WORLD_SIZE={os.environ['WORLD_SIZE']}); drop --nproc")
    if batch_size % nproc:
        raise EdgeferError(f"--batch-size {batch_size}: the global batch must split evenly over {nproc} processes")
    argv, rest = [], iter(sys.argv[1:])
    for a in rest:
        if a == "--nproc":
            next(rest, None)
        elif not a.startswith("--nproc="):
            argv.append(a)
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    logging.getLogger("torch.distributed").setLevel(logging.ERROR)  # rank 0 speaks for the run
    try:
        run(parse_args(["--standalone", f"--nproc-per-node={nproc}", "--local-ranks-filter=0", "-m", "edgefer", *argv]))
    except ChildFailedError as e:
        first = min(e.failures.values(), key=lambda f: f.local_rank)
        if first.local_rank == 0 and first.exitcode == 2:  # rank 0 has printed its one error line
            raise typer.Exit(2) from None
        raise EdgeferError(f"--nproc {nproc}: training process {first.local_rank} failed with exit status "
                           f"{first.exitcode}; run torchrun --nproc-per-node {nproc} -m edgefer ... to see every "
                           "process's output") from None


def is_rank_0() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def launch(nproc: int, batch_size: int, train: Callable[[], str]) -> None:
    """Train in this process (one process, or one rank under torchrun; rank 0 prints the model's path), or
    with --nproc N run the command again under torchrun with N processes."""
    if nproc != 1:
        positive_int("--nproc", nproc)
        return relaunch(nproc, batch_size)
    path = train()
    if is_rank_0():
        typer.echo(f"model: {path}")


def check_run(data: Path, out: Path, epochs: int, batch_size: int, lr: float, limit: int | None, *,
              min_epochs: int = 1) -> None:
    """The options every trainer shares, checked before any data is read or anything is written."""
    if not data.exists():
        raise EdgeferError(f"--data {data}: no such file or folder")
    out_dir("--out", out)
    nonneg_int("--epochs", epochs) if min_epochs == 0 else positive_int("--epochs", epochs)
    positive_int("--batch-size", batch_size)
    finite_float("--lr", lr, 0.0, 10.0, lo_open=True)
    positive_int("--limit", limit, allow_none=True)
    if limit is not None and batch_size > limit:  # every epoch would run 0 steps (the rest: RunDir's check)
        raise EdgeferError(f"--batch-size {batch_size} is larger than --limit {limit}: no full batch to train on")


def check_batch_fits(data: Path, batch_size: int, holdout: int = 0) -> None:
    """After the option checks: a batch larger than the training split would run 0 steps per epoch."""
    from edgefer.data.layouts import count_faces

    n = count_faces(data, "train")  # label files only: an upper bound, in well under a second
    if n is not None and holdout and n <= holdout:
        raise EdgeferError(f"--recipe edge holds out {holdout} training faces; {data} has at most {n} (use --limit for a smoke run)")
    if n is not None and batch_size > n - holdout:
        kept = f" ({holdout} held out)" if holdout else ""
        raise EdgeferError(f"--batch-size {batch_size} is larger than the training split of {data} "
                           f"(at most {n - holdout} faces{kept}): no full batch to train on")


@app.command("fer")
@handle_errors
def fer(
    data: DataOpt,
    out: OutRunOpt = Path("runs/fer_hr"),
    multires: Annotated[bool, typer.Option("--multires", help="B1: degrade each face by a random factor.")] = False,
    factors: Annotated[str, typer.Option("--factors", help="Factors drawn from with --multires.")] = "1,2,3,4,5,6,7,8",
    epochs: EpochsOpt = 15,
    batch_size: BatchOpt = 128,
    lr: LrOpt = 3e-3,
    seed: SeedOpt = 0,
    limit: LimitOpt = None,
    resume: ResumeOpt = False,
    recipe: Annotated[str, typer.Option("--recipe", help="plain: B0/B1 as in the paper's table; edge: the shipped recipe "
                                        "(vote targets, logit adjustment, photometric augmentation, per-face contrast "
                                        "normalisation, sharp + every size 6-32 px, EMA, a 2,000-face holdout for the "
                                        "temperature; docs/model-card.md).")] = "plain",
    teacher: Annotated[Path | None, typer.Option("--teacher", help="Distil from this FER checkpoint, which sees the sharp face.")] = None,
    init: Annotated[Path | None, typer.Option("--init", help="Start from this FER checkpoint's weights: a warm restart "
                                              "(a fresh cosine schedule from --lr), to train longer or fine-tune. A "
                                              "routed model's route: tools/route_as_fer.py.")] = None,
    kd_alpha: Annotated[float, typer.Option("--kd-alpha", help="Weight of the distillation term (with --teacher).")] = 0.5,
    logit_adjust: Annotated[float | None, typer.Option("--logit-adjust", help="τ of the logit-adjusted loss (edge: 1).")] = None,
    sampler: Annotated[str, typer.Option("--sampler", help="uniform | balanced (class-balanced sampling).")] = "uniform",
    p_sharp: Annotated[float | None, typer.Option("--p-sharp", help="Share of sharp faces with the edge recipe (0.35).")] = None,
    widths: Annotated[str, typer.Option("--widths", help="Channel widths of the four stages.")] = "32,64,128,256",
    input_px: Annotated[int, typer.Option("--input-px", help="Read each face area-averaged to this size: 48, 16 or "
                                          "12 px (a specialist for the tiniest faces at a fraction of the cost: "
                                          "8.5 MMACs at 12 px against 27.8).")] = 48,
    size_draw: Annotated[str, typer.Option("--size-draw", help="Edge recipe: px (a face size uniform in 6-32 px) or "
                                           "factor (a factor uniform over --factors above 1: more tiny faces).")] = "px",
    px_range: Annotated[str, typer.Option("--px-range", help="Edge recipe with --size-draw px: the face sizes drawn "
                                          "from, MIN-MAX px (a small-face specialist: 6-16).")] = "6-32",
    nproc: NprocOpt = 1,
    sync_bn: Annotated[bool, typer.Option("--sync-bn/--no-sync-bn", help="Under DDP, BatchNorm with the statistics "
                                          "of the whole global batch (SyncBatchNorm on GPUs, an all-reduce on CPUs); "
                                          "no effect on one process.")] = True,
) -> None:
    """Train the FER network on sharp faces (B0), with multi-resolution augmentation (B1), or the edge recipe."""
    check_run(data, out, epochs, batch_size, lr, limit)
    choice("--recipe", recipe, ("plain", "edge"))
    choice("--sampler", sampler, ("uniform", "balanced"))
    choice("--size-draw", size_draw, ("px", "factor"))
    parsed = factor_list("--factors", factors)
    finite_float("--kd-alpha", kd_alpha, 0.0, 1.0)
    finite_float("--logit-adjust", logit_adjust, 0.0, 10.0, allow_none=True)
    finite_float("--p-sharp", p_sharp, 0.0, 1.0, allow_none=True)
    min_px, max_px = px_range_option(px_range)
    from edgefer.models.fer import INPUT_PX

    choice("--input-px", str(input_px), tuple(map(str, INPUT_PX)))
    if teacher is not None and not teacher.is_file():
        raise EdgeferError(f"--teacher {teacher}: no such checkpoint")
    if init is not None and not init.is_file():
        raise EdgeferError(f"--init {init}: no such checkpoint")
    check_batch_fits(data, batch_size, holdout=2000 if recipe == "edge" and not limit else 0)
    from edgefer.training.fer import FERConfig, train_fer

    try:
        width_list = [int(w) for w in widths.split(",")]
        assert len(width_list) == 4 and all(w > 0 for w in width_list)
    except (ValueError, AssertionError):
        raise EdgeferError(f"--widths {widths!r}: four positive integers, comma-separated") from None
    edge = recipe == "edge"
    cfg = FERConfig(data=str(data), multires=multires or edge, factors=parsed, epochs=epochs,
                    batch_size=batch_size, lr=lr, seed=seed, limit=limit, widths=width_list, input_px=input_px,
                    val_factors=[1, 4, 8] if multires or edge else [1, 4],
                    input_norm="face" if edge else "fixed", soft_targets=edge, photometric=edge,
                    logit_adjust=(1.0 if edge else 0.0) if logit_adjust is None else logit_adjust, sampler=sampler,
                    p_sharp=(0.35 if edge else None) if p_sharp is None else p_sharp,
                    teacher=str(teacher) if teacher else None, init=str(init) if init else None, kd_alpha=kd_alpha if teacher else 0.0,
                    ema_decay=0.999 if edge else 0.0, holdout=2000 if edge and not limit else 0, size_draw=size_draw,
                    min_px=min_px, max_px=max_px, sync_bn=sync_bn)
    launch(nproc, batch_size, lambda: train_fer(cfg, str(out), resume))


def px_range_option(text: str) -> tuple[int, int]:
    """'6-16' -> (6, 16): face sizes from 2 to 48 px, the smaller first."""
    try:
        lo, hi = (int(v) for v in text.split("-"))
    except ValueError:
        raise EdgeferError(f"--px-range {text!r}: two integers MIN-MAX, for example 6-16") from None
    if not 2 <= lo <= hi <= 48:
        raise EdgeferError(f"--px-range {text!r}: sizes from 2 to 48 px, the smaller first")
    return lo, hi


FerCkptOpt = Annotated[Path, typer.Option("--fer", help="The fixed FER checkpoint (kind 'fer').")]


def check_fixed_fer(fer: Path) -> None:
    if not fer.is_file():
        raise EdgeferError(f"--fer {fer}: no such checkpoint" + (" (it is a folder)" if fer.is_dir() else ""))


@app.command("sr")
@handle_errors
def sr(
    data: DataOpt,
    fer: FerCkptOpt,
    out: OutRunOpt = Path("runs/sr_fer"),
    factors: Annotated[str, typer.Option("--factors", help="Factors to train the SR network on.")] = "2,3,4,5,6,7,8",
    epochs: EpochsOpt = 4,
    batch_size: BatchOpt = 64,
    lr: LrOpt = 1e-3,
    seed: SeedOpt = 0,
    limit: LimitOpt = None,
    resume: ResumeOpt = False,
    nproc: NprocOpt = 1,
) -> None:
    """B2: train a small image-SR network; the checkpoint runs SR, then the sharp FER model."""
    check_run(data, out, epochs, batch_size, lr, limit)
    parsed = factor_list("--factors", factors)
    check_fixed_fer(fer)
    check_batch_fits(data, batch_size)
    from edgefer.training.sr import SRConfig, train_sr

    cfg = SRConfig(data=str(data), fer=str(fer), factors=parsed, epochs=epochs,
                   batch_size=batch_size, lr=lr, seed=seed, limit=limit)
    launch(nproc, batch_size, lambda: train_sr(cfg, str(out), resume))


@app.command("fsr")
@handle_errors
def fsr(
    data: DataOpt,
    fer: FerCkptOpt,
    out: OutRunOpt = Path("runs/fsrfer"),
    factors: Annotated[str, typer.Option("--factors", help="Factors G learns from (1 keeps sharp faces intact).")] = "1,2,3,4,5,6,7,8",
    pretrain_epochs: Annotated[int, typer.Option("--pretrain-epochs", help="Epochs of G pre-training on feature MSE.")] = 2,
    epochs: Annotated[int, typer.Option("--epochs", help="Adversarial epochs (one D step, then one G step).")] = 6,
    batch_size: BatchOpt = 64,
    lr: LrOpt = 1e-4,
    w_adv: Annotated[float, typer.Option("--w-adv", help="Weight of the adversarial term.")] = 1.0,
    w_feat: Annotated[float, typer.Option("--w-feat", help="Weight of the feature distance.")] = 0.01,
    w_emb: Annotated[float, typer.Option("--w-emb", help="Weight of the embedding distance.")] = 10.0,
    w_ce: Annotated[float, typer.Option("--w-ce", help="Weight of a cross-entropy term (0 = the recipe).")] = 0.0,
    reweight: Annotated[bool, typer.Option("--reweight/--no-reweight", help="Classification-aware weights.")] = True,
    seed: SeedOpt = 0,
    limit: LimitOpt = None,
    resume: ResumeOpt = False,
    nproc: NprocOpt = 1,
) -> None:
    """FSR-FER: pre-train G on feature MSE, then train G and D adversarially on a fixed FER model."""
    check_run(data, out, epochs, batch_size, lr, limit, min_epochs=0)
    nonneg_int("--pretrain-epochs", pretrain_epochs)
    if pretrain_epochs + epochs == 0:
        raise EdgeferError("--pretrain-epochs 0 and --epochs 0: nothing to train")
    for name, w in (("--w-adv", w_adv), ("--w-feat", w_feat), ("--w-emb", w_emb), ("--w-ce", w_ce)):
        finite_float(name, w, 0.0, 1e6)
    parsed = factor_list("--factors", factors)
    check_fixed_fer(fer)
    check_batch_fits(data, batch_size)
    from edgefer.training.fsr import FSRConfig, train_fsr

    cfg = FSRConfig(data=str(data), fer=str(fer), factors=parsed, pretrain_epochs=pretrain_epochs,
                    epochs=epochs, batch_size=batch_size, lr=lr, w_adv=w_adv, w_feat=w_feat, w_emb=w_emb, w_ce=w_ce,
                    reweight=reweight, seed=seed, limit=limit)
    launch(nproc, batch_size, lambda: train_fsr(cfg, str(out), resume))


@app.command("confidence")
@handle_errors
def confidence(
    model: Annotated[Path, typer.Option("--model", help="An edge-recipe FER checkpoint (trained with a holdout).")],
    data: DataOpt,
) -> None:
    """Refit a checkpoint's decision rule (prior shift, temperature, abstention threshold) on its own holdout."""
    from edgefer.training.fer import refit_calibration

    cal = refit_calibration(str(model), str(data))["calibration"]
    typer.echo(f"{model}: prior shift {cal.get('prior_shift', 0):g}, temperature {cal['temperature']:.3f}, "
               f"holdout ECE {100 * cal['holdout_ece_before']:.1f}% -> {100 * cal['holdout_ece_after']:.1f}%")


@app.command("ensemble")
@handle_errors
def ensemble(
    member: Annotated[list[Path], typer.Option("--member", help="An edge-recipe FER checkpoint (repeat for each member).")],
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="The ensemble checkpoint to write.")] = Path("runs/ensemble.pt"),
    flip: Annotated[bool, typer.Option("--flip/--no-flip", help="Each member also reads the mirrored face.")] = True,
    flip_members: Annotated[str | None, typer.Option(
        "--flip-members", help="Only these members (1-based positions in --member order, comma-separated, for "
        "example 1) also read the mirrored face; overrides --flip.")] = None,
) -> None:
    """Average several FER checkpoints (and their mirrored views) into one calibrated model; no training."""
    from edgefer.training.ensemble import build_ensemble

    flips = flip if flip_members is None else flip_members_option(flip_members, len(member))
    typer.echo(f"model: {build_ensemble([str(m) for m in member], str(data), str(out), flips)}")


def flip_members_option(text: str, n: int) -> list[bool]:
    """'1,3' with 3 members -> [True, False, True]."""
    try:
        picked = {int(v) for v in text.split(",")}
    except ValueError:
        raise EdgeferError(f"--flip-members {text!r}: member positions, comma-separated, for example 1") from None
    if not picked or not all(1 <= i <= n for i in picked):
        raise EdgeferError(f"--flip-members {text!r}: positions from 1 to {n} (the number of --member checkpoints)")
    return [i + 1 in picked for i in range(n)]


@app.command("route")
@handle_errors
def route(
    sharp: Annotated[Path, typer.Option("--sharp", help="The model for faces with detail (e.g. an edge-recipe FER checkpoint; a routed "
                                                      "checkpoint gives its own sharp route).")],
    small: Annotated[Path, typer.Option("--small", help="The model for small and blurred faces (e.g. a small-face "
                                                      "specialist or FSR-FER; a routed checkpoint, such as the "
                                                      "shipped default, gives its own small-face route).")],
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="The routed checkpoint to write.")] = Path("runs/routed.pt"),
    tiny: Annotated[Path | None, typer.Option("--tiny", help="A third model, for the tiniest faces (e.g. a 5-10 px "
                                                 "specialist); its threshold is fitted below the first. A routed "
                                                 "checkpoint with a tiny route gives its own.")] = None,
    tiny_blend: Annotated[bool, typer.Option("--tiny-blend", help="On the tiniest faces, blend the --tiny model with "
                                             "the small-face route (the mean of their logits) instead of replacing it.")] = False,
) -> None:
    """Route each face by its detail to one of two (or three) models, in one graph; the thresholds are fitted on their holdout."""
    from edgefer.training.route import build_routed

    typer.echo(f"model: {build_routed(str(sharp), str(small), str(data), str(out), str(tiny) if tiny else None, tiny_blend)}")
