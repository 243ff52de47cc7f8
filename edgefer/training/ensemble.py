"""``edgefer train ensemble``: several edge-recipe FER checkpoints -> one calibrated ensemble checkpoint.

Nothing is trained: the members' logits are averaged (each also on the mirrored face with ``flip``, or only
the members it names), and the decision rule (prior shift, temperature, abstention threshold) is fitted on
the members' shared holdout, exactly as for a single model (``edgefer.training.common.fit_calibration``).
The members must have held out the same faces (same data, seed and holdout size), or the holdout would
not be held out.
"""

from __future__ import annotations

import logging
from pathlib import Path

from edgefer.checkpoint import build_classifier, load_checkpoint, make_checkpoint, save_checkpoint
from edgefer.classes import CLASSES
from edgefer.errors import CheckpointError
from edgefer.fileio import sha256_file
from edgefer.training.common import final_metrics, fit_calibration, load_splits, split_holdout
from edgefer.training.fer import calibration_factors
from edgefer.training.losses import log_prior

log = logging.getLogger("edgefer.train")

SHARED_KEYS = ("holdout", "seed", "limit", "logit_adjust")


def build_ensemble(members: list[str], data: str, out: str, flip: bool | list[bool] = True) -> str:
    """``flip``: every member also reads the mirrored face, or (a list) which of them do."""
    if not members:
        raise CheckpointError("an ensemble needs at least one --member")
    if isinstance(flip, list) and len(flip) != len(members):
        raise CheckpointError(f"--flip-members: {len(flip)} flags for {len(members)} --member checkpoints")
    ckpts = [load_checkpoint(m) for m in members]
    for path, ck in zip(members, ckpts):
        if ck["kind"] != "fer" or not ck.get("config", {}).get("holdout"):
            raise CheckpointError(f"{path}: a member must be a FER checkpoint trained with a holdout (--recipe edge)")
        differ = [k for k in SHARED_KEYS if ck["config"].get(k) != ckpts[0]["config"].get(k)]
        if differ:
            raise CheckpointError(f"{path}: its {', '.join(differ)} differ from {members[0]}'s: the holdout would not be shared")
    cfg0 = ckpts[0]["config"]
    train, val = load_splits(data, cfg0.get("limit"), cfg0["seed"])
    train, hold = split_holdout(train, cfg0["holdout"], cfg0["seed"])
    arch = {"members": [ck["arch"]["fer"] for ck in ckpts], "flip": flip}
    config = {"members": [{"path": str(p), "sha256": sha256_file(p)} for p in members], "flip": flip, "data": data,
              **{k: cfg0.get(k) for k in SHARED_KEYS}}
    ckpt = make_checkpoint("ensemble", arch, {}, config)
    ckpt["state"] = {f"member{i}": ck["state"]["fer"] for i, ck in enumerate(ckpts)}
    log_pi = log_prior(train.labels, len(CLASSES)).numpy() if cfg0.get("logit_adjust") else None
    factors = sorted(set().union(*(calibration_factors(ck["config"]) for ck in ckpts)))  # the members' sizes
    ckpt.update(fit_calibration(build_classifier(ckpt), hold, factors, log_pi))
    ckpt["metrics"] = final_metrics(build_classifier(ckpt), val, "final evaluation")
    save_checkpoint(ckpt, Path(out))
    return out
