"""Self-describing checkpoints: what a model is, how it was made, and how well it does.

A checkpoint is a plain dict (tensors, numbers, strings, lists) so that it
loads with ``torch.load(..., weights_only=True)``:

    format, version, kind ("fer" | "sr_fer" | "fsrfer" | "ensemble" | "routed"), classes, input
    {size, channels, range}, arch {part: kwargs}, state {part: state_dict},
    config, command, git_commit, edgefer_version, metrics
    and optionally calibration {temperature, ...} (folded into the classifier when built) and
    abstain {min_confidence} (the camera loop's confidence gate).
    A ``routed`` checkpoint nests two or three: arch {threshold, routes {sharp, small: {kind, arch,
    calibration}}} and state {sharp, small: {part: state_dict}}; with a third route for the tiniest faces,
    arch also has tiny_threshold (and tiny_blend: true where the tiny route is blended with the small one)
    and routes and state a ``tiny`` entry.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgefer import __version__
from edgefer.classes import CLASSES
from edgefer.errors import CheckpointError
from edgefer.fileio import atomic_path
from edgefer.paths import DEFAULT_MODEL, WEIGHTS_DIR  # noqa: F401  (where checkpoints ship)
from edgefer.preprocess import INPUT_CHANNELS, INPUT_RANGE, INPUT_SIZE

FORMAT = "edgefer-checkpoint"
VERSION = 1
KINDS = ("fer", "sr_fer", "fsrfer", "ensemble", "routed")
ROUTES = ("sharp", "small", "tiny")  # a routed checkpoint's classifiers (edgefer.models.gate.RouteBySize)


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def command_line() -> str:
    return " ".join(["edgefer", *sys.argv[1:]])


def make_checkpoint(kind: str, arch: dict[str, dict], modules: dict[str, nn.Module], config: dict,
                    metrics: dict | None = None, extra: dict | None = None) -> dict[str, Any]:
    ckpt = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "classes": list(CLASSES),
        "input": {"size": INPUT_SIZE, "channels": INPUT_CHANNELS, "range": list(INPUT_RANGE), "dtype": "float32"},
        "arch": arch,
        "state": {name: m.state_dict() for name, m in modules.items()},
        "config": config,
        "command": command_line(),
        "git_commit": git_commit(),
        "edgefer_version": __version__,
        "metrics": metrics or {},
    }
    ckpt.update(extra or {})
    return ckpt


def save_checkpoint(ckpt: dict, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate a checkpoint; CheckpointError (one line) if it is not a usable one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file: report them as one
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a loadable PyTorch checkpoint ({reason[:120]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an edgefer checkpoint (no 'format: {FORMAT}' entry)")
    if not isinstance(ckpt.get("version", 0), int) or not isinstance(ckpt.get("state"), dict) \
            or not isinstance(ckpt.get("arch"), dict):
        raise CheckpointError(f"{path}: damaged edgefer checkpoint (version, arch and state must be an int and two tables)")
    if ckpt.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt['version']} is newer than this edgefer ({VERSION})")
    if ckpt.get("kind") not in KINDS:
        raise CheckpointError(f"{path}: unknown model kind {ckpt.get('kind')!r} (expected one of {', '.join(KINDS)})")
    if tuple(ckpt.get("classes", ())) != CLASSES:
        raise CheckpointError(f"{path}: class list {ckpt.get('classes')} differs from edgefer's {list(CLASSES)}")
    return ckpt


def fold_prior_shift(classifier: nn.Linear, shift: float, log_prior: list[float]) -> None:
    """Add ``shift``·log π to a final linear layer's bias: the decision rule of a logit-adjusted model
    (``edgefer.training.common.fit_calibration``), carried by every export like the temperature."""
    with torch.no_grad():
        classifier.bias.add_(shift * torch.tensor(log_prior, dtype=classifier.bias.dtype))


def checked_temperature(temperature: float) -> float:
    if not (temperature > 0 and temperature < float("inf")):
        raise CheckpointError(f"calibration temperature must be a positive number, got {temperature}")
    return float(temperature)


def fold_temperature(classifier: nn.Linear, temperature: float) -> None:
    """Make a final linear layer output logits / T (temperature scaling, ``edgefer.confidence``) by
    scaling its weights, so that every export, engine and runner carries the calibration for free."""
    temperature = checked_temperature(temperature)
    with torch.no_grad():
        classifier.weight.div_(temperature)
        if classifier.bias is not None:
            classifier.bias.div_(temperature)


def final_linears(model: nn.Module) -> list[nn.Linear]:
    """The last linear layer(s) of a built classifier: where its decision rule is folded."""
    from edgefer.models.composed import Ensemble
    from edgefer.models.fer import FERNet
    from edgefer.models.gate import RouteBySize

    if isinstance(model, FERNet):
        return [model.head.classifier]
    if isinstance(model, Ensemble):
        return [m.head.classifier for m in model.members]
    if isinstance(model, RouteBySize):
        return [c for route in (model.sharp, model.small, model.tiny) if route is not None for c in final_linears(route)]
    return [model.fer.head.classifier]  # SRThenFER, FSRFER


def _route(ckpt: dict[str, Any], name: str) -> nn.Module:
    """One route of a routed checkpoint, built (with its own decision rule) as the checkpoint it was."""
    route = ckpt["arch"]["routes"][name]
    if route["kind"] not in KINDS or route["kind"] == "routed":
        raise CheckpointError(f"route {name!r} has kind {route['kind']!r}: a route is one of fer, sr_fer, fsrfer, ensemble")
    return build_classifier({"kind": route["kind"], "arch": route["arch"], "state": ckpt["state"][name],
                             "calibration": route.get("calibration")})


def build_classifier(ckpt: dict[str, Any]) -> nn.Module:
    """The eval-mode classifier a checkpoint describes: (N, 1, 48, 48) grey 0-255 -> (N, K) logits."""
    from edgefer.models.composed import FSRFER, Ensemble, SRThenFER
    from edgefer.models.fer import FERNet
    from edgefer.models.gate import RouteBySize
    from edgefer.models.generator import Generator
    from edgefer.models.sr import SRNet

    arch, state = ckpt["arch"], ckpt["state"]
    try:
        if ckpt["kind"] == "routed":
            routes, temps = set(arch["routes"]), set((ckpt.get("calibration") or {}).get("route_temperature") or {})
            if not {"sharp", "small"} <= routes <= set(ROUTES) or not temps <= routes:
                raise ValueError(f"routes {sorted(routes)}, temperatures for {sorted(temps)}: a routed model has sharp, "
                                 "small and maybe tiny, and temperatures for those only")
            tiny = "tiny" in arch["routes"]
            model: nn.Module = RouteBySize(_route(ckpt, "sharp"), _route(ckpt, "small"), float(arch["threshold"]),
                                           _route(ckpt, "tiny") if tiny else None,
                                           float(arch["tiny_threshold"]) if tiny else None,
                                           bool(arch.get("tiny_blend", False)))
        elif ckpt["kind"] == "ensemble":
            members = []
            for i, member_arch in enumerate(arch["members"]):
                members.append(FERNet(**member_arch))
                members[-1].load_state_dict(state[f"member{i}"])
            model = Ensemble(members, flip=arch.get("flip", False))
        else:
            fer = FERNet(**arch["fer"])
            fer.load_state_dict(state["fer"])
            if ckpt["kind"] == "fer":
                model = fer
            elif ckpt["kind"] == "sr_fer":
                sr = SRNet(**arch["sr"])
                sr.load_state_dict(state["sr"])
                model = SRThenFER(sr, fer)
            else:
                g = Generator(**arch["generator"])
                g.load_state_dict(state["generator"])
                model = FSRFER(fer, g)
        calibration = ckpt.get("calibration") or {}
        temps = calibration.get("route_temperature") or {}
        for name, t in temps.items():  # routed: one T per route
            if name == "tiny" and model.tiny_blend:  # (small + tiny) / 2 / T: the small route's T undone
                t, t_small = checked_temperature(float(t)), checked_temperature(float(temps.get("small", 1.0)))
                model.tiny_weights.copy_(torch.tensor([0.5 * t_small / t, 0.5 / t]))
                continue
            for classifier in final_linears(getattr(model, name)):
                fold_temperature(classifier, float(t))
        for classifier in final_linears(model):
            if calibration.get("prior_shift"):
                fold_prior_shift(classifier, float(calibration["prior_shift"]), calibration["log_prior"])
            if calibration.get("temperature"):
                fold_temperature(classifier, float(calibration["temperature"]))
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        msg = str(e).strip().splitlines()[0][:160]
        raise CheckpointError(f"checkpoint's weights do not fit its architecture ({msg})") from None
    return model.eval()


def load_classifier(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    ckpt = load_checkpoint(path)
    try:
        return build_classifier(ckpt), ckpt
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
