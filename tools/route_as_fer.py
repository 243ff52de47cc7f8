"""Write one route of a routed checkpoint as a plain FER checkpoint (kind ``fer``), for ``--teacher``:

    .venv/bin/python tools/route_as_fer.py edgefer/weights/fsrfer.pt sharp runs/teacher_sharp.pt

The route must be a single FER network (kind ``fer``, or an ensemble of one member; its mirrored view is
dropped: ``edgefer train fer --teacher`` mirrors the teacher itself). Its calibration (prior shift and
temperature) and the routed model's config (seed, holdout: the teacher never saw the shared holdout) are
kept, so the teacher's logits are its calibrated decision rule.
"""

from __future__ import annotations

import sys

from edgefer.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, name, out = argv
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
    fer = make_checkpoint("fer", {"fer": arch}, {}, {**ckpt["config"], "taken_from": f"{src}:{name}"},
                          extra={"calibration": route.get("calibration")})
    fer["state"] = {"fer": weights}
    save_checkpoint(fer, out)
    print(f"wrote {out}: route {name!r} of {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
