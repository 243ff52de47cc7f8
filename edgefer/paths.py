"""Default folders for artifacts: the repository's top-level export/ and calibration/."""

from __future__ import annotations

from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def artifact_dir(name: str) -> Path:
    """``<repo>/<name>`` in a source checkout (it has a README there), else ``./<name>``."""
    in_repo = _REPO / name
    return in_repo if (in_repo / "README.md").is_file() else Path.cwd() / name


def export_dir() -> Path:
    return artifact_dir("export")


def calibration_dir() -> Path:
    return artifact_dir("calibration")
