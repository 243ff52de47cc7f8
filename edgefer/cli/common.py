"""Shared CLI pieces: argument groups used by several commands, and one-line error handling."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from edgefer.errors import EdgeferError

F = TypeVar("F", bound=Callable)

DataOpt = Annotated[Path, typer.Option("--data", help="Dataset folder (FER+, fer2013.csv, RAF-DB or class folders).")]
SplitOpt = Annotated[str, typer.Option("--split", help="train | val | test | all.")]
FactorsOpt = Annotated[str, typer.Option("--factors", help="Down-sample factors, comma-separated (1 = sharp).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (runs are deterministic for a seed).")]
OutRunOpt = Annotated[Path, typer.Option("--out", help="Run folder: config.json, metrics.jsonl, last.pt, model.pt.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last.pt.")]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="Use a random subset of N faces per split (smoke runs).")]


def handle_errors(fn: F) -> F:
    """Turn EdgeferError (and Ctrl-C) into one line on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EdgeferError as e:
            typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.secho("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def setup(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
