"""``edgefer train route``: a sharp-face model and a small-face model -> one routed checkpoint.

Nothing is trained. Both models read every face; ``edgefer.models.gate.DetailScore`` measures how much
detail the face carries, and the face takes the sharp model's logits above a threshold, the small-face
model's below it (``RouteBySize``). The threshold is fitted on the two models' shared holdout, never on
the validation split: the holdout faces are shown at every size of ``PX_FIT`` (the camera's faces are not
only 48, 24 and 12 px) and the threshold with the best mean of accuracy and balanced accuracy, averaged
over the sizes, is kept. Then the routed model's temperature and abstention threshold are fitted there
as for any edge model (``fit_calibration``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from edgefer.checkpoint import ROUTES, build_classifier, load_checkpoint, make_checkpoint, save_checkpoint
from edgefer.classes import CLASSES
from edgefer.degrade import FACTORS_EVAL, degrade
from edgefer.errors import CheckpointError
from edgefer.fileio import sha256_file
from edgefer.metrics import accuracy, balanced_accuracy, confusion_matrix
from edgefer.training.common import (final_metrics, fit_calibration, holdout_config, holdout_keys, load_splits, logits_at,
                                     split_holdout)

log = logging.getLogger("edgefer.train")

PX_FIT: tuple[int, ...] = (48, 40, 32, 28, 24, 20, 16, 12, 8, 6)
SHARED_KEYS = ("holdout", "seed", "limit")


@torch.inference_mode()
def detail_scores(images: np.ndarray, factors: list[float], batch: int = 512) -> np.ndarray:
    """The gate's score of every face at every factor, stacked like ``logits_at``: (len(factors)·N,)."""
    from edgefer.models.gate import DetailScore

    score = DetailScore()
    return np.concatenate([score(torch.from_numpy(degrade(images[s : s + batch], f)[:, None])).numpy()[:, 0]
                           for f in factors for s in range(0, len(images), batch)])


def fit_threshold(scores: np.ndarray, sharp_pred: np.ndarray, small_pred: np.ndarray, labels: np.ndarray,
                  n_sizes: int, grid: int = 200) -> tuple[float, dict]:
    """The threshold maximising mean (accuracy + balanced accuracy) / 2 over ``n_sizes`` equal blocks
    (one per face size) of the stacked arrays; returns it and that objective for each candidate's best."""
    k = len(CLASSES)
    candidates = np.unique(np.concatenate([np.quantile(scores, np.linspace(0, 1, grid + 1)), [-np.inf, np.inf]]))

    def objective(t: float) -> float:
        pred = np.where(scores > t, sharp_pred, small_pred)
        per_size = []
        for p, y in zip(np.split(pred, n_sizes), np.split(labels, n_sizes)):
            cm = confusion_matrix(y, p, k)
            per_size.append((accuracy(cm) + balanced_accuracy(cm)) / 2)
        return float(np.mean(per_size))

    values = {float(t): objective(t) for t in candidates}
    best = max(values, key=lambda t: values[t])
    fit = {"all_small": values[float(np.inf)], "all_sharp": values[float(-np.inf)], "routed": values[best]}
    above = scores[scores > best]
    if np.isfinite(best) and len(above):  # midway to the next face's score, not on a face's own score
        best = (best + float(above.min())) / 2
    return best, fit


def route_source(path: str, name: str) -> tuple[dict, dict]:
    """(checkpoint, holdout config) of one route. A routed checkpoint gives its own route of that name, so
    one route of a shipped model can be replaced while the other is kept (its training run folder may be
    long gone: the routed file carries the route's weights and the holdout they share)."""
    ck = load_checkpoint(path)
    if ck["kind"] != "routed":
        return ck, holdout_config(path, ck)
    route = ck["arch"]["routes"][name]
    taken = {"kind": route["kind"], "arch": route["arch"], "calibration": route.get("calibration"),
             "state": ck["state"][name], "taken_from_routed": True}
    return taken, holdout_keys(ck.get("config", {}))


def build_routed(sharp: str, small: str, data: str, out: str) -> str:
    paths = {"sharp": sharp, "small": small}
    ckpts, cfgs = {}, {}
    for name, path in paths.items():
        ckpts[name], cfgs[name] = route_source(path, name)
        if not cfgs[name].get("holdout"):
            raise CheckpointError(f"{paths[name]}: --{name} must be trained with a holdout (--recipe edge), or be FSR-FER "
                                  "or an ensemble built on one: the threshold is fitted there")
    differ = [k for k in SHARED_KEYS if cfgs["sharp"].get(k) != cfgs["small"].get(k)]
    if differ:
        raise CheckpointError(f"{small}: its {', '.join(differ)} differ from {sharp}'s: the holdout would not be shared")
    cfg = cfgs["sharp"]
    train, val = load_splits(data, cfg.get("limit"), cfg["seed"])
    train, hold = split_holdout(train, cfg["holdout"], cfg["seed"])

    factors = [48 / px for px in PX_FIT]
    models = {name: build_classifier(ck) for name, ck in ckpts.items()}
    preds = {name: logits_at(m, hold.images, factors).argmax(1) for name, m in models.items()}
    scores = detail_scores(hold.images, factors)
    labels = np.tile(hold.labels, len(factors))
    threshold, fit = fit_threshold(scores, preds["sharp"], preds["small"], labels, len(factors))
    share = {str(px): float((s > threshold).mean()) for px, s in zip(PX_FIT, np.split(scores, len(factors)))}
    log.info("route threshold %.3f: holdout objective %.4f (all small-face model %.4f, all sharp %.4f); sharp share "
             "by px %s", threshold, fit["routed"], fit["all_small"], fit["all_sharp"], share)

    arch = {"threshold": threshold,
            "routes": {name: {"kind": ck["kind"], "arch": ck["arch"], "calibration": ck.get("calibration")}
                       for name, ck in ckpts.items()}}
    config = {"routes": {name: {"path": str(paths[name]), "sha256": sha256_file(paths[name]),
                                **({"route": name} if ckpts[name].get("taken_from_routed") else {})}
                         for name in ROUTES},
              "data": data, **{k: cfg.get(k) for k in SHARED_KEYS},
              "gate": {"score": "log(mean Laplacian^2 / mean gradient^2) (edgefer.models.gate.DetailScore)",
                       "fitted_on": f"{len(hold)} held-out training faces at {list(PX_FIT)} px",
                       "objective": "mean over sizes of (accuracy + balanced accuracy) / 2", **fit,
                       "sharp_share_by_px": share}}
    ckpt = make_checkpoint("routed", arch, {}, config)
    ckpt["state"] = {name: ckpts[name]["state"] for name in ROUTES}
    ckpt.update(fit_calibration(build_classifier(ckpt), hold, FACTORS_EVAL))
    ckpt["metrics"] = final_metrics(build_classifier(ckpt), val, "final evaluation")
    save_checkpoint(ckpt, Path(out))
    return out
