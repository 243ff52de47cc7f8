"""Atomic writes: an artifact is either whole or absent, never half-written."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgefer.errors import EdgeferError


# Our own temporary names (and only these are ever cleaned up):
#   .<name>.<pid>-<random>.tmp        atomic_path's file beside the artifact
#   .export-<pid>-<random>/           edgefer export's staging folder
#   edgefer-quant-<pid>-<random>/     (system temp) quantization scratch; also edgefer-bench-
# A kill leaves them behind; the next run that writes into the same folder removes those whose process is
# gone. Names from older versions carry no pid: they are removed once older than STALE_AGE_S.
STALE_AGE_S = 6 * 3600
_STALE = re.compile(r"^(?:\..+\.(?:(?P<pid1>\d+)-)?[^.]+\.tmp|\.export-(?:(?P<pid2>\d+)-)?[^/]+|"
                    r"edgefer-(?:quant|bench)-(?:(?P<pid3>\d+)-)?[^/]+|\.[^/]+\.partial\.mp4)$")
_cleaned: set[Path] = set()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale(folder: str | Path, now: float | None = None) -> list[Path]:
    """Remove our own leftovers in ``folder`` (see the names above) whose writer is gone; returns them.

    Never touches a name we do not make, nor a leftover whose process still runs."""
    import shutil
    import time

    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time() if now is None else now
    for entry in entries:
        m = _STALE.match(entry.name)
        if m is None:
            continue
        pid = next((int(g) for g in m.group("pid1", "pid2", "pid3") if g), None)
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if (pid is not None and _alive(pid)) or (pid is None and age < STALE_AGE_S):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def clean_stale_once(folder: str | Path) -> None:
    """``clean_stale`` at most once per folder and process (atomic_path calls it on every write)."""
    key = Path(folder).resolve()
    if key not in _cleaned:
        _cleaned.add(key)
        clean_stale(key)


def clean_scratch(prefix: str) -> None:
    """Remove the system temp folder's ``<prefix><pid>-*`` folders whose process is gone (a killed
    quantization, say). Only that prefix with a pid: the system temp folder is everyone's."""
    import shutil

    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)-")
    try:
        entries = list(os.scandir(tempfile.gettempdir()))
    except OSError:
        return
    for entry in entries:
        m = pattern.match(entry.name)
        if m and entry.is_dir(follow_symlinks=False) and not _alive(int(m.group(1))):
            shutil.rmtree(entry.path, ignore_errors=True)


def temp_prefix(name: str) -> str:
    """The prefix of one of our temporary names, with this process's id (for ``clean_stale``)."""
    return f"{name}{os.getpid()}-"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_once(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(f".{path.name}."), suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise EdgeferError(f"{path}: cannot write here ({e.strerror or e})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except OSError as e:
            if e.errno in DISK_FULL:
                raise DiskFullError(f"{path}: disk full ({e.strerror or e}); the previous file, if any, is kept",
                                    e.errno) from None
            raise
        except RuntimeError as e:  # torch.save reports a failed write as RuntimeError ("unexpected pos ...")
            if disk_full(tmp_path):
                raise DiskFullError(f"{path}: disk full or file-size limit reached; the previous file, if any, is kept",
                                    errno.EFBIG) from None
            raise
        # mkstemp makes 0600 files; artifacts are shared (Docker volumes), so use the umask's default.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_pair(artifact: str | Path, companion: str | Path) -> Iterator[tuple[Path, Path]]:
    """Temporary paths for an artifact and the file that describes it (INT8 graph + report, engine +
    sidecar), written as a set. On success the old companion goes first, then the artifact and the new
    companion are renamed in: a kill in between leaves the new artifact without a description (visibly
    incomplete), never with the previous artifact's. On failure neither file changes."""
    with atomic_path(companion) as tmp_companion, atomic_path(artifact) as tmp_artifact:
        yield tmp_artifact, tmp_companion
        Path(companion).unlink(missing_ok=True)
    # atomic_path renames the inner (artifact) first, then the companion


DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class DiskFullError(EdgeferError, OSError):
    """A write that failed for want of space: one ``error:`` line for the CLI, and still an OSError (with
    its errno) for callers that handle OSError."""

    def __init__(self, message: str, code: int = errno.ENOSPC) -> None:
        super().__init__(message)
        self.errno = code


def disk_full(path: Path) -> bool:
    """Whether a failed write of ``path`` is most likely the disk (< 1 MiB free) or ulimit -f (within 1 MiB)."""
    import resource

    try:
        st = os.statvfs(path.parent)
        if st.f_bavail * st.f_frsize < (1 << 20):
            return True
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        return limit != resource.RLIM_INFINITY and path.stat().st_size + (1 << 20) >= limit
    except OSError:
        return False


def write_json(path: str | Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def sha256_file(path: str | Path) -> str:
    """sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
