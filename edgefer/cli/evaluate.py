"""``edgefer eval`` and ``edgefer compare``: accuracy, balanced accuracy and macro-F1 per face size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edgefer.cli.common import DataOpt, FactorsOpt
from edgefer.degrade import parse_factors
from edgefer.errors import EdgeferError

ModelOpt = Annotated[Path | None, typer.Option("--model", help="Model file (.pt, .onnx, .engine); default: the graph `edgefer infer` runs "
                                                             "(a TensorRT engine in export/, else the shipped INT8 or FP32 ONNX).")]


def _cell(r: dict, k: str) -> str:
    bal = r.get("balanced_accuracy", {}).get(k)  # results written before balanced accuracy have none
    return f"{100 * r['accuracy'][k]:.1f} / {100 * bal:.1f}" if bal is not None else f"{100 * r['accuracy'][k]:.1f} / –"


def _mean_low(r: dict, keys: list[str], metric: str) -> str:
    low = [r.get(metric, {}).get(k) for k in keys if k != "1"]
    low = [v for v in low if v is not None]
    return f"{100 * sum(low) / len(low):.1f}" if low else "–"


def _label(name: str, r: dict) -> str:
    return f"{name} [{r['corruption']}]" if r.get("corruption") else name


def result_table(results: dict[str, dict], title: str) -> Table:
    keys = sorted({k for r in results.values() for k in r["accuracy"]}, key=int)
    first = next(iter(results.values()))
    table = Table(title=title)
    table.add_column("model")
    for k in keys:
        table.add_column(f"×{k} ({first.get('face_px', {}).get(k, '?')} px)", justify="right")
    table.add_column("mean ×2–8", justify="right")
    for name, r in results.items():
        table.add_row(_label(name, r), *(_cell(r, k) for k in keys),
                      f"{_mean_low(r, keys, 'accuracy')} / {_mean_low(r, keys, 'balanced_accuracy')}")
    table.caption = "accuracy / balanced accuracy (mean per-class recall), %"
    return table


def recall_table(r: dict, title: str) -> Table:
    """Per-class recall (%) at each factor, plus macro-F1 and the expected calibration error."""
    from edgefer.classes import CLASSES

    keys = sorted(r["accuracy"], key=int)
    table = Table(title=title)
    table.add_column("")
    for k in keys:
        table.add_column(f"×{k}", justify="right")
    for i, c in enumerate(r.get("classes", CLASSES)):
        table.add_row(c, *(("–" if (v := r["per_class_recall"][k][i]) is None else f"{100 * v:.1f}") for k in keys))
    table.add_row("macro-F1", *(f"{100 * r['macro_f1'][k]:.1f}" for k in keys))
    table.add_row("ECE", *(f"{100 * r['ece'][k]:.1f}" for k in keys))
    table.caption = "recall per class (%), macro-F1 over the classes in the truth, expected calibration error (%)"
    return table


def evaluate_model(model: Path, data: Path, split: str, factors: tuple[int, ...], batch_size: int, fp16: bool = False,
                   reference: Path | None = None, corruption: str | None = None, seed: int = 0) -> dict:
    from edgefer.backends import load_runner
    from edgefer.data import load_dataset
    from edgefer.evaluate import evaluate

    if fp16 and not str(model).endswith((".pt", ".pth")):
        raise EdgeferError(f"{model}: --fp16 runs a PyTorch checkpoint in half precision; build an FP16 engine for other files")
    with load_runner(model, **({"half": True} if fp16 else {})) as runner:  # a bad model fails before the data is read
        faces = load_dataset(data, split)
        res = evaluate(runner.infer, faces.images, faces.labels, factors, batch_size, description=f"evaluating {model.name}",
                       corruption=corruption, seed=seed)
        out = {"model": str(model), "backend": runner.backend, "data": str(data), "split": split,
               "kind": runner.meta.get("kind"), **res}
        if reference:
            from edgefer.evaluate import agreement

            with load_runner(reference) as ref:
                out["reference"] = {"model": str(reference), "backend": ref.backend,
                                    **agreement(runner.infer, ref.infer, faces.images, factors, batch_size)}
        return out


def eval_command(
    data: DataOpt,
    model: ModelOpt = None,
    split: Annotated[str, typer.Option("--split", help="train | val | test | all.")] = "test",
    factors: FactorsOpt = "1,2,3,4,6,8",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Folder for accuracy-vs-size and confusion PNGs.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Faces per inference batch.")] = 256,
    fp16: Annotated[bool, typer.Option("--fp16", help="Run a .pt model in float16 (PyTorch, CPU): FP16 accuracy.")] = False,
    reference: Annotated[Path | None, typer.Option("--reference", help="Also report argmax agreement and max |Δp| "
                                                   "against this model (e.g. the FP32 original).")] = None,
    corrupt: Annotated[str | None, typer.Option("--corrupt", help="Apply a seeded photometric corruption to the sharp faces "
                                                "before the degradation: dim | low-contrast | blur | noise | jpeg.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of --corrupt (noise).")] = 0,
) -> None:
    """Accuracy, balanced accuracy, macro-F1, per-class recall and calibration error of a model (.pt, .onnx,
    .engine/.plan) at each down-sample factor."""
    from edgefer.fileio import write_json

    try:
        parsed = parse_factors(factors)
    except ValueError as e:
        raise EdgeferError(f"--factors: {e}") from None
    from edgefer.cli.common import in_file, out_dir, out_file, positive_int
    from edgefer.photometric import CORRUPTIONS

    positive_int("--batch-size", batch_size, maximum=65536)
    in_file("--model", model, "model file")
    in_file("--reference", reference, "model file")
    if json_out is not None:
        out_file("--json", json_out)
    if plot is not None:
        out_dir("--plot", plot)
    if corrupt is not None and corrupt not in CORRUPTIONS:
        raise EdgeferError(f"--corrupt {corrupt!r}: choose one of {', '.join(CORRUPTIONS)}")
    if model is None:  # the graph infer and bench would run (edgefer.camera.defaults), said with its reason
        from edgefer.camera.defaults import choose_model

        choice = choose_model()
        model = choice.path
        typer.echo(f"model: {model.name} ({choice.why})")
    res = evaluate_model(model, data, split, parsed, batch_size, fp16, reference, corrupt, seed)
    console = Console(width=max(Console().width, 120))  # tables are wider than 80 columns
    console.print(result_table({model.name: res}, f"{model.name} on {data.name} ({split}, n={res['n']})"))
    console.print(recall_table(res, f"{model.name}: per class"))
    if reference:
        r = res["reference"]
        typer.echo(f"against {reference.name}: argmax agreement "
                   + ", ".join(f"×{k} {100 * v:.2f}%" for k, v in r["argmax_agreement"].items())
                   + f"; max |Δp| {max(r['max_abs_diff_probs'].values()):.2e}")
    if json_out:
        write_json(json_out, res)
        typer.echo(f"wrote {json_out}")
    if plot:
        from edgefer.plots import plot_accuracy_vs_size, plot_confusions

        stem = model.stem
        a = plot_accuracy_vs_size({stem: res}, plot / f"{stem}_accuracy_vs_size.png")
        c = plot_confusions(res, plot / f"{stem}_confusion.png", f"{stem}: confusion (rows: truth)")
        typer.echo(f"wrote {a} and {c}")


def _check_result(res: dict) -> None:
    """The keys and types compare reads; raises KeyError / TypeError / ValueError naming what is wrong."""
    for key in ("accuracy", "macro_f1"):
        table = res[key]
        if not isinstance(table, dict) or not table:
            raise TypeError(f"{key!r} is not a table of factors")
        for f, v in table.items():
            int(f)
            if not isinstance(v, (int, float)):
                raise TypeError(f"{key}[{f!r}] is not a number")
    if not isinstance(res.get("model", ""), str):
        raise TypeError("'model' is not a string")


def compare_command(
    results: Annotated[list[Path], typer.Argument(help="JSON files written by `edgefer eval --json`.")],
    names: Annotated[str | None, typer.Option("--names", help="Comma-separated row names (default: model file names).")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table (accuracy %) instead.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write an accuracy-vs-size PNG of all models here.")] = None,
) -> None:
    """One table (and plot) of several evaluation results."""
    loaded = {}
    labels = names.split(",") if names else None
    if labels and len(labels) != len(results):
        raise EdgeferError(f"--names has {len(labels)} names for {len(results)} result files")
    for i, path in enumerate(results):
        try:
            res = json.loads(path.read_text())
            _check_result(res)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise EdgeferError(f"{path}: not an `edgefer eval --json` result ({type(e).__name__}: {str(e)[:80]})") from None
        name = labels[i] if labels else Path(res["model"]).stem
        if name in loaded and not labels:  # two results of one model file (retrained, another path): name by result
            name = path.stem
        if name in loaded:
            raise EdgeferError(f"{path}: a second result named {name!r}; give each a name with --names")
        loaded[name] = res
    if markdown:
        keys = sorted({k for r in loaded.values() for k in r["accuracy"]}, key=int)
        px = next(iter(loaded.values())).get("face_px", {})
        typer.echo("| model | " + " | ".join(f"{px.get(k, '?')} px (×{k})" for k in keys) + " | mean ×2–8 |")
        typer.echo("|---" * (len(keys) + 2) + "|")
        for name, r in loaded.items():
            cells = " | ".join(_cell(r, k) for k in keys)
            typer.echo(f"| {_label(name, r)} | {cells} | {_mean_low(r, keys, 'accuracy')} / "
                       f"{_mean_low(r, keys, 'balanced_accuracy')} |")
        typer.echo("\naccuracy / balanced accuracy (mean per-class recall), %")
    else:
        Console(width=max(Console().width, 120)).print(result_table(loaded, "comparison"))
    if plot:
        from edgefer.plots import plot_accuracy_vs_size

        typer.echo(f"wrote {plot_accuracy_vs_size(loaded, plot)}")
