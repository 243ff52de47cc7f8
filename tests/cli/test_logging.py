"""The CLI's log handler follows sys.stderr: commands run in-process swap and close it."""

from __future__ import annotations

import io
import logging
import sys

from edgefer.cli.common import setup


def test_log_lines_go_to_the_current_stderr_even_after_the_old_one_closed(monkeypatch):
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup()
    try:
        logging.getLogger("edgefer.test").info("one")
        first.close()  # what CliRunner does to its stream when a command returns
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("edgefer.test").info("two")
        assert second.getvalue() == "INFO edgefer.test: two\n"
    finally:
        logging.basicConfig(force=True, handlers=[logging.NullHandler()])
