"""``edgefer train fer|sr|fsr``: one subcommand per model of the results table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgefer.cli.common import DataOpt, LimitOpt, OutRunOpt, ResumeOpt, SeedOpt, handle_errors
from edgefer.degrade import parse_factors

app = typer.Typer(help="Train the FER model (B0/B1), the SR baseline (B2) or FSR-FER's G and D.", no_args_is_help=True)

EpochsOpt = Annotated[int, typer.Option("--epochs", help="Passes over the training split.")]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Faces per step.")]
LrOpt = Annotated[float, typer.Option("--lr", help="Peak learning rate (cosine schedule).")]


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
) -> None:
    """Train the FER network on sharp faces (B0) or with multi-resolution augmentation (B1)."""
    from edgefer.training.fer import FERConfig, train_fer

    cfg = FERConfig(data=str(data), multires=multires, factors=list(parse_factors(factors)), epochs=epochs,
                    batch_size=batch_size, lr=lr, seed=seed, limit=limit,
                    val_factors=[1, 4, 8] if multires else [1, 4])
    typer.echo(f"model: {train_fer(cfg, str(out), resume)}")


FerCkptOpt = Annotated[Path, typer.Option("--fer", help="The fixed FER checkpoint (kind 'fer').")]


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
) -> None:
    """B2: train a small image-SR network; the checkpoint runs SR, then the sharp FER model."""
    from edgefer.training.sr import SRConfig, train_sr

    cfg = SRConfig(data=str(data), fer=str(fer), factors=list(parse_factors(factors)), epochs=epochs,
                   batch_size=batch_size, lr=lr, seed=seed, limit=limit)
    typer.echo(f"model: {train_sr(cfg, str(out), resume)}")


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
) -> None:
    """FSR-FER: pre-train G on feature MSE, then train G and D adversarially on a fixed FER model."""
    from edgefer.training.fsr import FSRConfig, train_fsr

    cfg = FSRConfig(data=str(data), fer=str(fer), factors=list(parse_factors(factors)), pretrain_epochs=pretrain_epochs,
                    epochs=epochs, batch_size=batch_size, lr=lr, w_adv=w_adv, w_feat=w_feat, w_emb=w_emb, w_ce=w_ce,
                    reweight=reweight, seed=seed, limit=limit)
    typer.echo(f"model: {train_fsr(cfg, str(out), resume)}")
