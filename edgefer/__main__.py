"""``python -m edgefer``: the CLI, so that ``torchrun --nproc-per-node N -m edgefer train fer …`` works."""

from edgefer.cli.main import app

if __name__ == "__main__":
    app(prog_name="edgefer")
