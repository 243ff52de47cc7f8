"""``edgefer train route``: a sharp-face model and a small-face model -> one routed checkpoint.

Nothing is trained. Both models read every face; ``edgefer.models.gate.DetailScore`` measures how much
detail the face carries, and the face takes the sharp model's logits above a threshold, the small-face
model's below it (``RouteBySize``). The threshold is fitted on the two models' shared holdout, never on
the validation split: the holdout faces are shown at every size of ``PX_FIT`` (the camera's faces are not
only 48, 24 and 12 px) and the threshold with the best mean of accuracy and balanced accuracy, averaged
over the sizes, is kept. A third, ``tiny`` route (``--tiny``: a model for the tiniest faces) takes the
faces at or below a second threshold, fitted the same way with the first one fixed; with ``--tiny-blend``
those faces get the mean of the small and tiny models' logits (an ensemble of the two). Then each route's
temperature is fitted there on the faces routed to it, and the routed model's abstention threshold
(``fit_route_calibration``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from edgefer.checkpoint import build_classifier, load_checkpoint, make_checkpoint, save_checkpoint
from edgefer.classes import CLASSES
from edgefer.degrade import degrade
from edgefer.errors import CheckpointError, EdgeferError
from edgefer.fileio import sha256_file
from edgefer.metrics import accuracy, balanced_accuracy, confusion_matrix
from edgefer.training.common import (final_metrics, holdout_config, holdout_keys, load_splits, logits_at,
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


def fit_threshold(scores: np.ndarray, above_pred: np.ndarray, below_pred: np.ndarray, labels: np.ndarray,
                  n_sizes: int, grid: int = 200, ceiling: float = np.inf) -> tuple[float, dict]:
    """The threshold (at most ``ceiling``) maximising mean (accuracy + balanced accuracy) / 2 over
    ``n_sizes`` equal blocks (one per face size) of the stacked arrays, faces above it taking
    ``above_pred`` and the rest ``below_pred``. Returns it and the objective of the best candidate
    (``routed``), of none below (``all_above``) and of all below the ceiling (``all_below``)."""
    k = len(CLASSES)
    candidates = np.concatenate([np.quantile(scores, np.linspace(0, 1, grid + 1)), [-np.inf, ceiling]])
    candidates = np.unique(candidates[candidates <= ceiling])

    def objective(t: float) -> float:
        pred = np.where(scores > t, above_pred, below_pred)
        per_size = []
        for p, y in zip(np.split(pred, n_sizes), np.split(labels, n_sizes)):
            cm = confusion_matrix(y, p, k)
            per_size.append((accuracy(cm) + balanced_accuracy(cm)) / 2)
        return float(np.mean(per_size))

    values = {float(t): objective(t) for t in candidates}
    best = max(values, key=lambda t: values[t])
    fit = {"all_below": values[float(ceiling)], "all_above": values[float(-np.inf)], "routed": values[best]}
    above = scores[scores > best]
    if np.isfinite(best) and best < ceiling and len(above):  # midway to the next face's score, not on a face's own
        best = min((best + float(above.min())) / 2, ceiling)
    return best, fit


def fit_route_calibration(logits: dict[str, np.ndarray], route: np.ndarray, labels: np.ndarray, n_faces: int) -> dict:
    """One temperature per route, each fitted on the holdout faces (at every size of ``PX_FIT``) that the
    router sends it, then the abstention threshold on the routed probabilities. One pooled temperature
    left the tiny faces over-confident (the small route's 6 px faces: ECE 7.5 % on FER2013Valid), because
    the sharp route's many faces set it. ``logits``: route name -> (len(PX_FIT)·n_faces, K), each route with
    its own decision rule already applied; ``route``: the route name the router picks per row."""
    from edgefer.confidence import abstain_threshold, expected_calibration_error, fit_temperature, softmax

    temps = {name: fit_temperature(z[route == name], labels[route == name]) if (route == name).any() else 1.0
             for name, z in logits.items()}
    before, after = np.zeros_like(logits["sharp"]), np.zeros_like(logits["sharp"])
    for name, z in logits.items():
        before[route == name], after[route == name] = z[route == name], z[route == name] / temps[name]
    ece = {}
    for px, z0, z1, y in zip(PX_FIT, np.split(before, len(PX_FIT)), np.split(after, len(PX_FIT)),
                             np.split(labels, len(PX_FIT))):
        ece[str(px)] = {"before": expected_calibration_error(softmax(z0), y), "after": expected_calibration_error(softmax(z1), y)}
    probs = softmax(after)
    cal = {"fitted_on": f"{n_faces} held-out training faces at {list(PX_FIT)} px, each route on the faces routed to it",
           "route_temperature": temps, "holdout_ece_before": expected_calibration_error(softmax(before), labels),
           "holdout_ece_after": expected_calibration_error(probs, labels), "holdout_ece_by_px": ece}
    thr = abstain_threshold(probs, labels)
    log.info("route temperatures %s: holdout ECE %.4f -> %.4f (worst size %.4f -> %.4f); abstain below confidence %.3f",
             ", ".join(f"{k} {v:.3f}" for k, v in temps.items()), cal["holdout_ece_before"], cal["holdout_ece_after"],
             max(v["before"] for v in ece.values()), max(v["after"] for v in ece.values()), thr)
    return {"calibration": cal, "abstain": {"min_confidence": thr}}


def route_source(path: str, name: str) -> tuple[dict, dict]:
    """(checkpoint, holdout config) of one route. A routed checkpoint gives its own route of that name, so
    one route of a shipped model can be replaced while the other is kept (its training run folder may be
    long gone: the routed file carries the route's weights and the holdout they share)."""
    ck = load_checkpoint(path)
    if ck["kind"] != "routed":
        return ck, holdout_config(path, ck)
    if name not in ck["arch"]["routes"]:
        raise CheckpointError(f"{path}: a routed checkpoint with no {name!r} route (it has {', '.join(ck['arch']['routes'])})")
    route = ck["arch"]["routes"][name]
    taken = {"kind": route["kind"], "arch": route["arch"], "calibration": route.get("calibration"),
             "state": ck["state"][name], "taken_from_routed": True}
    return taken, holdout_keys(ck.get("config", {}))


def build_routed(sharp: str, small: str, data: str, out: str, tiny: str | None = None, tiny_blend: bool = False) -> str:
    if tiny_blend and not tiny:
        raise EdgeferError("--tiny-blend needs --tiny: the model to blend with the small-face route")
    paths = {"sharp": sharp, "small": small, **({"tiny": tiny} if tiny else {})}
    ckpts, cfgs = {}, {}
    for name, path in paths.items():
        ckpts[name], cfgs[name] = route_source(path, name)
        if not cfgs[name].get("holdout"):
            raise CheckpointError(f"{paths[name]}: --{name} must be trained with a holdout (--recipe edge), or be FSR-FER "
                                  "or an ensemble built on one: the threshold is fitted there")
    for name in paths:
        differ = [k for k in SHARED_KEYS if cfgs["sharp"].get(k) != cfgs[name].get(k)]
        if differ:
            raise CheckpointError(f"{paths[name]}: its {', '.join(differ)} differ from {sharp}'s: the holdout would not be shared")
    cfg = cfgs["sharp"]
    train, val = load_splits(data, cfg.get("limit"), cfg["seed"])
    train, hold = split_holdout(train, cfg["holdout"], cfg["seed"])

    factors = [48 / px for px in PX_FIT]
    models = {name: build_classifier(ck) for name, ck in ckpts.items()}
    logits = {name: logits_at(m, hold.images, factors) for name, m in models.items()}
    if tiny_blend:  # the tiny route's logits as the graph makes them (RouteBySize), before its temperature
        logits["tiny"] = 0.5 * (logits["small"] + logits["tiny"])
    preds = {name: z.argmax(1) for name, z in logits.items()}
    scores = detail_scores(hold.images, factors)
    labels = np.tile(hold.labels, len(factors))
    threshold, fit = fit_threshold(scores, preds["sharp"], preds["small"], labels, len(factors))
    fit = {"all_small": fit["all_below"], "all_sharp": fit["all_above"], "routed": fit["routed"]}
    share = {str(px): float((s > threshold).mean()) for px, s in zip(PX_FIT, np.split(scores, len(factors)))}
    log.info("route threshold %.3f: holdout objective %.4f (all small-face model %.4f, all sharp %.4f); sharp share "
             "by px %s", threshold, fit["routed"], fit["all_small"], fit["all_sharp"], share)
    route = np.where(scores > threshold, "sharp", "small")
    arch: dict = {"threshold": threshold}
    if tiny:  # the tiniest faces: a second threshold below the first, fitted with the first one fixed
        two = np.where(scores > threshold, preds["sharp"], preds["small"])
        tiny_threshold, tfit = fit_threshold(scores, two, preds["tiny"], labels, len(factors), ceiling=threshold)
        if not np.isfinite(tiny_threshold):
            raise CheckpointError(f"{tiny}: the tiny route is better for no face size on the holdout than the two routes "
                                  "without it; leave --tiny out")
        tshare = {str(px): float((s <= tiny_threshold).mean()) for px, s in zip(PX_FIT, np.split(scores, len(factors)))}
        log.info("tiny-route threshold %.3f: holdout objective %.4f (no tiny route %.4f, every small-route face tiny "
                 "%.4f); tiny share by px %s", tiny_threshold, tfit["routed"], tfit["all_above"], tfit["all_below"], tshare)
        fit["tiny"] = {"threshold": tiny_threshold, "routed": tfit["routed"], "without_tiny": tfit["all_above"],
                       "all_small_to_tiny": tfit["all_below"], "tiny_share_by_px": tshare}
        arch["tiny_threshold"] = tiny_threshold
        if tiny_blend:
            arch["tiny_blend"] = True
        route = np.where(scores > tiny_threshold, route, "tiny")

    arch["routes"] = {name: {"kind": ck["kind"], "arch": ck["arch"], "calibration": ck.get("calibration")}
                      for name, ck in ckpts.items()}
    config = {"routes": {name: {"path": str(paths[name]), "sha256": sha256_file(paths[name]),
                                **({"route": name} if ckpts[name].get("taken_from_routed") else {})}
                         for name in paths},
              "data": data, **{k: cfg.get(k) for k in SHARED_KEYS},
              "gate": {"score": "log(mean Laplacian^2 / mean gradient^2) (edgefer.models.gate.DetailScore)",
                       "fitted_on": f"{len(hold)} held-out training faces at {list(PX_FIT)} px",
                       "objective": "mean over sizes of (accuracy + balanced accuracy) / 2", **fit,
                       "sharp_share_by_px": share}}
    ckpt = make_checkpoint("routed", arch, {}, config)
    ckpt["state"] = {name: ckpts[name]["state"] for name in paths}
    ckpt.update(fit_route_calibration(logits, route, labels, len(hold)))
    ckpt["metrics"] = final_metrics(build_classifier(ckpt), val, "final evaluation")
    save_checkpoint(ckpt, Path(out))
    return out
