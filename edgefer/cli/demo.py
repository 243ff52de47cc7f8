"""``edgefer demo``: the main job on an embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edgefer.cli.common import FactorsOpt
from edgefer.degrade import parse_factors
from edgefer.errors import EdgeferError


def demo_command(
    model: Annotated[Path | None, typer.Option("--model", help="Model file; default: the bundled FSR-FER model.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for contact_sheet.png and summary.json.")] = Path("runs/demo"),
    factors: FactorsOpt = "1,2,3,4,6,8",
    faces: Annotated[int, typer.Option("--faces", help="How many LFW faces to classify (at most 100).")] = 100,
    sheet_faces: Annotated[int, typer.Option("--sheet-faces", help="Faces shown on the contact sheet.")] = 8,
) -> None:
    """Run the bundled model on real faces at several sizes; write a contact sheet and a summary."""
    from edgefer.checkpoint import DEFAULT_MODEL
    from edgefer.demo import run_demo

    try:
        parsed = parse_factors(factors)
    except ValueError as e:
        raise EdgeferError(f"--factors: {e}") from None
    s = run_demo(model or DEFAULT_MODEL, out, parsed, faces, sheet_faces)
    table = Table(title=f"{Path(s['model']).name} ({s['backend']}) on {s['faces']} LFW faces in {s['seconds']} s")
    for col in ("factor", "face px", "same label as ×1", "mean confidence", "top labels"):
        table.add_column(col)
    for f, r in s["per_factor"].items():
        top = ", ".join(f"{k} {v}" for k, v in list(r["labels"].items())[:3])
        table.add_row(f"×{f}", str(r["face_px"]), f"{100 * r['agreement_with_sharp']:.0f}%", f"{r['mean_confidence']:.2f}", top)
    Console().print(table)
    typer.echo(f"contact sheet: {s['contact_sheet']}\nsummary: {out / 'summary.json'}")
