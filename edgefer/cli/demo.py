"""``edgefer demo``: the main job on an embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edgefer.cli.common import FactorsOpt, factor_list, in_file, out_dir, positive_int


def demo_command(
    model: Annotated[Path | None, typer.Option("--model", help="Model file; default: the bundled default model (edgefer/weights/fsrfer.pt).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for contact_sheet.png and summary.json.")] = Path("runs/demo"),
    factors: FactorsOpt = "1,2,3,4,6,8",
    faces: Annotated[int, typer.Option("--faces", help="How many LFW faces to classify (at most 100).")] = 100,
    sheet_faces: Annotated[int, typer.Option("--sheet-faces", help="Faces shown on the contact sheet.")] = 8,
    chain: Annotated[bool, typer.Option("--chain/--no-chain", help="Also export, calibrate INT8, build an engine "
                                        "(where TensorRT exists) and run `infer` on a composed crowd clip.")] = True,
    clip_faces: Annotated[int, typer.Option("--clip-faces", help="Faces in the crowd clip (at most 100).")] = 12,
    clip_frames: Annotated[int, typer.Option("--clip-frames", help="Frames in the crowd clip.")] = 45,
) -> None:
    """The main job on an embedded default: the bundled model on real faces at several sizes, then the deploy chain."""
    from edgefer.checkpoint import DEFAULT_MODEL
    from edgefer.demo import run_demo

    # every option before any work: --clip-frames 0 used to fail after 25 s, --faces 0 quietly used 1 (#11)
    parsed = tuple(factor_list("--factors", factors))
    positive_int("--faces", faces, maximum=100)
    positive_int("--sheet-faces", sheet_faces, maximum=faces)
    if chain:
        positive_int("--clip-faces", clip_faces, maximum=100)
        positive_int("--clip-frames", clip_frames, maximum=100_000)
    in_file("--model", model, "model file")
    out_dir("--out", out)
    s = run_demo(model or DEFAULT_MODEL, out, parsed, faces, sheet_faces)
    table = Table(title=f"{Path(s['model']).name} ({s['backend']}) on {s['faces']} LFW faces in {s['seconds']} s")
    for col in ("factor", "face px", "same label as ×1", "mean confidence", "top labels"):
        table.add_column(col)
    for f, r in s["per_factor"].items():
        top = ", ".join(f"{k} {v}" for k, v in list(r["labels"].items())[:3])
        table.add_row(f"×{f}", str(r["face_px"]), f"{100 * r['agreement_with_sharp']:.0f}%", f"{r['mean_confidence']:.2f}", top)
    Console(width=max(Console().width, 120)).print(table)
    typer.echo(f"contact sheet: {s['contact_sheet']}\nsummary: {out / 'summary.json'}")
    if not chain:
        return
    from edgefer.demo_chain import run_chain
    from edgefer.fileio import write_json

    c = run_chain(model or DEFAULT_MODEL, out, clip_faces, clip_frames)
    write_json(out / "chain.json", c)
    i = c["infer"]
    typer.echo(f"deploy chain ({', '.join(f'{k} {v:.1f} s' for k, v in c['seconds'].items())}):")
    typer.echo(f"  exported graphs: {c['export']}  (INT8: {c['int8_onnx']})")
    typer.echo(f"  runtime: {c['engine']}")
    typer.echo(f"  crowd clip: {c['clip']} ({c['clip_faces']} faces, {c['clip_frames']} frames): "
               f"{i['faces']} faces classified at {i['fps']:.1f} frames/s ({i['backend']}, {i['detector']['name']})")
    for name in ("annotated_video", "faces_jsonl", "crowd_png", "summary"):
        if name in i["files"]:
            typer.echo(f"  {name}: {i['files'][name]}")
    from edgefer.camera.defaults import choose_model

    nxt = choose_model()  # the demo's graphs stay in its own folder; say what a plain `infer` will run
    typer.echo(f"next: edgefer infer --source VIDEO|PHOTO|DIR runs {nxt.path.name} ({nxt.why}); "
               "for your own INT8 graph on an x86 CPU: edgefer export && edgefer calibrate --data DIR --target cpu")
