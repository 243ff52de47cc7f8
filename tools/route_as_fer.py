"""Write one route of a routed checkpoint as a plain FER checkpoint (kind ``fer``), for ``--teacher``:

    .venv/bin/python tools/route_as_fer.py edgefer/weights/fsrfer.pt sharp runs/teacher_sharp.pt

The route must be a single FER network (kind ``fer``, or an ensemble of one member; its mirrored view is
dropped: ``edgefer train fer --teacher`` mirrors the teacher itself). Its calibration (prior shift and
temperature) and the routed model's config (seed, holdout: the teacher never saw the shared holdout) are
kept, so the teacher's logits are its calibrated decision rule.

A routed file does not carry its routes' own training settings. ``--set KEY=VALUE`` (a JSON value,
repeatable) records those that a later step reads, for example to make the route a member of
``edgefer train ensemble`` (which checks ``logit_adjust`` and fits at the sizes ``min_px``-``max_px``):

    .venv/bin/python tools/route_as_fer.py edgefer/weights/fsrfer.pt tiny runs/tiny.pt \
        --set logit_adjust=1.0 --set p_sharp=0.1 --set min_px=5 --set max_px=10
"""

from __future__ import annotations

import argparse
import json
import sys

from edgefer.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint


def settings(pairs: list[str]) -> dict:
    """['logit_adjust=1.0', ...] -> {'logit_adjust': 1.0, ...}; raises ValueError naming the bad pair."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            if not sep or not key.isidentifier():
                raise ValueError
            out[key] = json.loads(value)
        except ValueError:
            raise ValueError(f"--set {pair!r}: KEY=VALUE with a JSON value, for example logit_adjust=1.0") from None
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("route")
    ap.add_argument("out")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:  # argparse printed its usage line
        return int(e.code or 0)
    try:
        extra = settings(args.set)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    src, name, out = args.src, args.route, args.out
    ckpt = load_checkpoint(src)
    routes = ckpt["arch"].get("routes", {}) if ckpt["kind"] == "routed" else {}
    if name not in routes:
        print(f"error: {src}: no route {name!r} (a routed checkpoint with routes {sorted(routes)} is needed)", file=sys.stderr)
        return 1
    route, state = routes[name], ckpt["state"][name]
    if route["kind"] == "ensemble" and len(route["arch"]["members"]) == 1:
        arch, weights = route["arch"]["members"][0], state["member0"]
    elif route["kind"] == "fer":
        arch, weights = route["arch"]["fer"], state["fer"]
    else:
        print(f"error: {src}: route {name!r} is not one FER network (kind {route['kind']})", file=sys.stderr)
        return 1
    weights = {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}
    fer = make_checkpoint("fer", {"fer": arch}, {}, {**ckpt["config"], **extra, "taken_from": f"{src}:{name}"},
                          extra={"calibration": route.get("calibration")})
    fer["state"] = {"fer": weights}
    save_checkpoint(fer, out)
    print(f"wrote {out}: route {name!r} of {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
