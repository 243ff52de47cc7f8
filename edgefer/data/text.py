"""Label files as text: UTF-8 (a BOM allowed), or one DataError naming the file and where it is not.

Used by every reader of a csv or txt label file, so that a Latin-1 or binary label file is one
``error:`` line instead of a UnicodeDecodeError traceback, and a FIFO or folder is refused before it
is opened (reading a FIFO blocks for ever).
"""

from __future__ import annotations

import io
from pathlib import Path

from edgefer.errors import DataError


def open_text(path: Path) -> io.StringIO:
    """The whole file, decoded, as a StringIO (csv.reader takes it; label files are a few MB at most)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not a regular file" if path.exists() else f"{path}: no such file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
                        "save the file as UTF-8") from None
    return io.StringIO(text, newline=None)
