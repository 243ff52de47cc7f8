"""Where things live: the shipped weights, and the default artifact folders export/ and calibration/."""

from __future__ import annotations

from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = WEIGHTS_DIR / "fsrfer.pt"  # the shipped default: the best model of the results table


def artifact_dir(name: str) -> Path:
    """``<repo>/<name>`` in a source checkout (it has a README there), else ``./<name>``."""
    in_repo = _REPO / name
    return in_repo if (in_repo / "README.md").is_file() else Path.cwd() / name


def export_dir() -> Path:
    return artifact_dir("export")


def calibration_dir() -> Path:
    return artifact_dir("calibration")
