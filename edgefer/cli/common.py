"""Shared CLI pieces: argument groups used by several commands, and one-line error handling."""

from __future__ import annotations

import errno
import functools
import logging
import math
import os
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
        except OSError as e:  # the last line of defence for a full disk; other OSErrors are bugs: traceback
            if e.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                raise
            typer.secho(f"error: {e.filename or 'output'}: disk full ({e.strerror})", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at emit time, not the stream of the moment `setup` ran: a command run
    in-process (an API caller, Typer's CliRunner) swaps and closes stderr, and a bound handler would then
    print "Logging error: I/O operation on closed file" on every later log line."""

    @property
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup(verbose: bool = False) -> None:
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)


# --- the option layer: typed checks with ranges, run at the top of every command -------------------------
# Typer parses the types; these check the values (0, negative, NaN, huge) before any work or any write, and
# raise EdgeferError, so every bad value ends in one `error:` line naming the option, and exit 2.


def positive_int(name: str, value: int | None, *, maximum: int | None = None, allow_none: bool = False) -> int | None:
    """An int >= 1 (and <= maximum); None only where the option is optional."""
    if value is None:
        if allow_none:
            return None
        raise EdgeferError(f"{name} is required")
    if value < 1:
        raise EdgeferError(f"{name} must be at least 1, got {value}")
    if maximum is not None and value > maximum:
        raise EdgeferError(f"{name} must be at most {maximum}, got {value}")
    return value


def nonneg_int(name: str, value: int, *, maximum: int | None = None) -> int:
    if value < 0:
        raise EdgeferError(f"{name} must be 0 or more, got {value}")
    if maximum is not None and value > maximum:
        raise EdgeferError(f"{name} must be at most {maximum}, got {value}")
    return value


def finite_float(name: str, value: float | None, lo: float | None = None, hi: float | None = None, *,
                 lo_open: bool = False, hi_open: bool = False, allow_none: bool = False, unit: str = "") -> float | None:
    """A finite float in [lo, hi] (open ends with lo_open / hi_open); NaN and ±inf are refused."""
    if value is None:
        if allow_none:
            return None
        raise EdgeferError(f"{name} is required")
    if not math.isfinite(value):
        raise EdgeferError(f"{name} must be a finite number, got {value}")
    low_bad = lo is not None and (value <= lo if lo_open else value < lo)
    high_bad = hi is not None and (value >= hi if hi_open else value > hi)
    if low_bad and hi is None and not lo_open:
        raise EdgeferError(f"{name} must be at least {lo:g}{unit}, got {value:g}")
    if low_bad or high_bad:
        left = "" if lo is None else f"{'(' if lo_open else '['}{lo:g}"
        right = "" if hi is None else f"{hi:g}{')' if hi_open else ']'}"
        span = f"in {left or '(-inf'}, {right or 'inf)'}"
        raise EdgeferError(f"{name} must be {span}, got {value:g}")
    return value


def det_tiles(name: str, value: str | None) -> str | None:
    """``--det-tiles``: auto | none | RxC[@SCALE][/EVERY] (``edgefer.camera.tiles``) -> the checked text, None for none."""
    from edgefer.camera.tiles import parse_det_tiles

    spec = parse_det_tiles(value)  # its errors name --det-tiles
    return None if spec is None else (spec if spec == "auto" else str(spec))


def choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise EdgeferError(f"{name} {value!r}: choose one of {', '.join(choices)}")
    return value


MAX_FACTOR = 48  # a 48 px face down-scaled by more than 48 has no pixel left


def factor_list(name: str, text: str, *, minimum: int = 1) -> list[int]:
    """'1,2,3' -> [1, 2, 3]: integers in [minimum, 48], at least one (issue #7: '1,a' is one error line)."""
    from edgefer.degrade import parse_factors

    try:
        factors = list(parse_factors(text))
    except ValueError as e:
        raise EdgeferError(f"{name}: {e}") from None
    bad = [f for f in factors if not minimum <= f <= MAX_FACTOR]
    if bad:
        raise EdgeferError(f"{name} {text!r}: factors must be integers from {minimum} to {MAX_FACTOR}, got {bad[0]}")
    return factors


def max_threads() -> int:
    """More threads than 4 per core only make the pools spin against each other (2000 looked like a hang)."""
    return 4 * (os.cpu_count() or 1)


def threads_opt(name: str, value: int | None) -> int | None:
    return positive_int(name, value, maximum=max_threads(), allow_none=True)


MAX_NAME = 255  # bytes of one path component on ext4, xfs, btrfs, NTFS


def out_dir(name: str, path: Path) -> Path:
    """An output folder that exists or can be made: not a file, no over-long name, a writable ancestor.

    Checked without writing anything, so that a bad --out fails before any work (and before any thread)."""
    for part in path.parts:
        if len(os.fsencode(part)) > MAX_NAME:
            raise EdgeferError(f"{name} {str(path)[:60]}…: a name in it is longer than {MAX_NAME} bytes")
    if path.exists() and not path.is_dir():
        raise EdgeferError(f"{name} {path}: is a file, not a folder")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise EdgeferError(f"{name} {path}: cannot write here ({probe} is a file, not a folder)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise EdgeferError(f"{name} {path}: cannot write here ({probe} is not writable)")
    return path


def out_file(name: str, path: Path) -> Path:
    """An output file whose folder can be made or written, and which is not a folder itself."""
    if path.is_dir():
        raise EdgeferError(f"{name} {path}: is a folder, not a file")
    if len(os.fsencode(path.name)) > MAX_NAME:
        raise EdgeferError(f"{name} {str(path)[:60]}…: the name is longer than {MAX_NAME} bytes")
    out_dir(name, path.parent if str(path.parent) else Path("."))
    return path


def in_file(name: str, path: Path | None, what: str = "file") -> Path | None:
    """An input file that exists and is a regular file (a folder or a FIFO would fail later or hang)."""
    if path is None:
        return None
    if not path.exists():
        raise EdgeferError(f"{name} {path}: no such {what}")
    if not path.is_file():
        raise EdgeferError(f"{name} {path}: not a regular file")
    return path
