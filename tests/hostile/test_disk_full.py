"""A full disk while writing an artifact: one error line naming it, the previous file kept, no temp left."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from edgefer.cli.common import handle_errors
from edgefer.errors import EdgeferError
from edgefer.fileio import atomic_path


def test_enospc_inside_atomic_path(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with pytest.raises(EdgeferError, match="model.pt: disk full"):
        with atomic_path(target):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_other_os_errors_are_not_called_a_full_disk(tmp_path):
    with pytest.raises(PermissionError):
        with atomic_path(tmp_path / "x"):
            raise PermissionError(errno.EACCES, "denied")


def test_torch_save_under_a_file_size_limit(tmp_path):
    """torch.save reports the cut file as RuntimeError ("unexpected pos"); atomic_path names it."""
    code = ("import resource, sys, torch\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
            "from edgefer.errors import EdgeferError\nfrom edgefer.fileio import atomic_path\n"
            "try:\n    with atomic_path(sys.argv[1]) as t:\n        torch.save({'w': torch.zeros(100_000)}, t)\n"
            "except EdgeferError as e:\n    print(e)\n    sys.exit(3)\n")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "last.pt")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 3 and "last.pt: disk full" in p.stdout, p.stderr
    assert list(tmp_path.iterdir()) == []


def test_handle_errors_turns_a_stray_enospc_into_one_line():
    import typer

    app = typer.Typer()

    @app.command()
    @handle_errors
    def run() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/x/out.json")

    r = CliRunner().invoke(app, [])
    assert r.exit_code == 2 and r.output.strip() == "error: /x/out.json: disk full (No space left on device)"


def test_the_disk_full_error_is_still_an_oserror(tmp_path):
    with pytest.raises(OSError) as info:
        with atomic_path(tmp_path / "a.json"):
            raise OSError(errno.EFBIG, "File too large")
    assert isinstance(info.value, EdgeferError) and info.value.errno == errno.EFBIG
