"""The ``edgefer`` command line (Typer)."""
