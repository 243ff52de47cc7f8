"""Leftovers of killed runs (our own temporary names only) are removed by the next run in that folder."""

import os
import subprocess
import sys
import time

from edgefer import fileio
from edgefer.fileio import atomic_path, clean_stale, temp_prefix


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid  # reaped: no such process now (pids are not reused this fast)


def test_leftovers_of_dead_processes_go_and_nothing_else(tmp_path):
    dead, live = dead_pid(), os.getpid()
    gone = [tmp_path / f".last.pt.{dead}-ab12.tmp", tmp_path / f".model.pt.{dead}-x_y.tmp",
            tmp_path / f".fsrfer.int8.onnx.{dead}-q1.tmp"]
    kept = [tmp_path / f".last.pt.{live}-cd34.tmp", tmp_path / "model.pt", tmp_path / "notes.tmp", tmp_path / ".hidden",
            tmp_path / ".young.pt.k2j3.tmp"]  # no pid and young: may belong to a running older version
    for p in gone + kept:
        p.write_bytes(b"x")
    (tmp_path / f".export-{dead}-abc").mkdir()
    (tmp_path / f".export-{dead}-abc" / "fsrfer.onnx").write_bytes(b"x")
    old = tmp_path / ".old.pt.k2j3.tmp"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 2 * fileio.STALE_AGE_S,) * 2)
    removed = set(clean_stale(tmp_path))
    assert removed == {*gone, tmp_path / f".export-{dead}-abc", old}
    assert all(p.exists() for p in kept)


def test_atomic_path_cleans_its_folder_once(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio, "_cleaned", set())
    stale = tmp_path / f".model.pt.{dead_pid()}-zz.tmp"
    stale.write_bytes(b"x")
    with atomic_path(tmp_path / "model.pt") as tmp:
        assert tmp.name.startswith(temp_prefix(".model.pt."))
        tmp.write_bytes(b"new")
    assert not stale.exists() and (tmp_path / "model.pt").read_bytes() == b"new"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_killed_write_is_cleaned_by_the_next_one(tmp_path):
    """A real kill: a child process dies inside atomic_path; the next write in the folder removes its file."""
    code = ("import os, signal, sys\nfrom edgefer.fileio import atomic_path\n"
            "with atomic_path(sys.argv[1]) as t:\n    t.write_bytes(b'half')\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "last.pt")])
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".last.pt.")]
    assert len(left) == 1 and not (tmp_path / "last.pt").exists()
    fileio._cleaned.discard(tmp_path.resolve())
    with atomic_path(tmp_path / "last.pt") as t:
        t.write_bytes(b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
