"""The ``edgefer`` entry point."""

from __future__ import annotations

import typer

from edgefer import __version__
from edgefer.cli import demo, deploy, evaluate, fleet, infer, info, train
from edgefer.cli.common import handle_errors, setup

app = typer.Typer(help="edgefer: facial expressions on small, low-resolution faces (FSR-FER).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(train.app, name="train")
app.command("eval")(handle_errors(evaluate.eval_command))
app.command("demo")(handle_errors(demo.demo_command))
app.command("info")(handle_errors(info.info_command))
app.command("export")(handle_errors(deploy.export_command))
app.command("calibrate")(handle_errors(deploy.calibrate_command))
app.command("build-engine")(handle_errors(deploy.build_engine_command))
app.command("infer")(handle_errors(infer.infer_command))
app.command("bench")(handle_errors(infer.bench_command))
app.command("fleet")(handle_errors(fleet.fleet_command))
app.command("compare")(handle_errors(evaluate.compare_command))


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    setup(verbose)


@app.command()
def version() -> None:
    """Print edgefer's version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()
