"""Every command's --help renders (rich markup in a help text once crashed `edgefer bench --help`)."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from edgefer.cli.main import app


def command_paths(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix + (c.name or c.callback.__name__.replace("_", "-"),) for c in group.registered_commands]
    for sub in group.registered_groups:
        paths += command_paths(sub.typer_instance, prefix + (sub.name,))
    return paths


@pytest.mark.parametrize("path", command_paths(app), ids=" ".join)
def test_help_renders(path):
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output[-2000:]
    assert "Usage:" in result.output
