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
