"""``edgefer export``: a checkpoint -> ONNX graphs, checked against PyTorch, plus manifest.json.

Files (input "faces": (N, 1, 48, 48) float32 grey 0-255, normalisation inside the graph;
output "logits": (N, 8), softmax left to the runtime):
- ``<kind>.onnx``: the whole classifier in one graph (``fsrfer.onnx`` for FSR-FER, and for the routed
  default whatever its routes are: the name the guides and the camera loop use);
- ``backbone.onnx`` faces -> "features" (N, 128, 6, 6), ``g.onnx`` features -> "features_sr",
  ``head.onnx`` features -> logits, so that G can be swapped or served apart.
Everything is written to a temporary folder inside ``out`` and moved in only after every check passed.
Graphs that output logits carry the class names in their metadata (``edgefer.classes``, a JSON list).
Refused before any write: non-finite weights, an ``out`` that cannot be a folder.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any


from edgefer import __version__
from edgefer.backends.contract import CLASSES_KEY, check_finite
from edgefer.checkpoint import load_classifier
from edgefer.errors import EdgeferError
from edgefer.fileio import clean_stale_once, sha256_file, temp_prefix, write_json
from edgefer.preprocess import INPUT_CHANNELS, INPUT_RANGE, INPUT_SIZE

log = logging.getLogger("edgefer.export")

CHECK_FACTORS = (1, 2, 4, 8)
CHECK_BATCHES = (1, 7, 64)


def _export(module, example, path: Path, in_name: str, out_name: str, opset: int) -> None:
    import torch

    torch.onnx.export(
        module, (example,), str(path), dynamo=False, opset_version=opset, input_names=[in_name],
        output_names=[out_name], dynamic_axes={in_name: {0: "batch"}, out_name: {0: "batch"}}, do_constant_folding=True,
    )


def main_graph(kind: str) -> str:
    """The whole classifier's file name: ``<kind>.onnx``, but ``fsrfer.onnx`` for the routed default too."""
    return "fsrfer.onnx" if kind == "routed" else f"{kind}.onnx"


def _graph_parts(model, kind: str) -> dict[str, tuple[Any, str, str, tuple[int, ...]]]:
    """name -> (module, input name, output name, input shape without batch)."""
    import torch

    face = (INPUT_CHANNELS, INPUT_SIZE, INPUT_SIZE)
    parts: dict[str, tuple[Any, str, str, tuple[int, ...]]] = {main_graph(kind): (model, "faces", "logits", face)}
    if kind in ("ensemble", "routed"):  # one graph: no shared backbone to serve apart
        return parts
    fer = model.fer if kind != "fer" else model
    with torch.inference_mode():
        feat_shape = tuple(fer.features(torch.zeros(1, *face)).shape[1:])
    if kind in ("fer", "fsrfer"):
        parts["backbone.onnx"] = (fer.features, "faces", "features", face)
        parts["head.onnx"] = (fer.head, "features", "logits", feat_shape)
    if kind == "fsrfer":
        parts["g.onnx"] = (model.generator, "features", "features_sr", feat_shape)
    return parts


def export_model(model_path: Path, out: Path, opset: int = 17, max_batch: int = 64) -> dict[str, Any]:
    """Export, check and write the graphs and manifest.json into ``out``; returns the manifest."""
    import onnx
    import torch

    if not 1 <= max_batch <= 4096:
        raise EdgeferError(f"--max-batch must be between 1 and 4096, got {max_batch}")
    if not 13 <= opset <= 20:
        raise EdgeferError(f"--opset {opset}: TensorRT 10's ONNX parser documents opsets 9-20; use 13-20")
    model, ckpt = load_classifier(model_path)
    kind = ckpt["kind"]
    # NaN weights exported "max |Δp| = 0, agreement 100 %" (NaN against NaN): refuse them before any write
    check_finite(model_path, ((k, v.detach().float().numpy()) for k, v in model.state_dict().items() if v.is_floating_point()))
    from edgefer.cli.common import out_dir

    out_dir("--out", out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        clean_stale_once(out)  # .export-<pid>-* folders of killed exports
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(".export-"), dir=out))
    except OSError as e:
        raise EdgeferError(f"{out}: cannot write the export folder ({e.strerror or e})") from None
    try:
        files = {}
        for name, (module, in_name, out_name, shape) in _graph_parts(model, kind).items():
            path = tmp / name
            with torch.inference_mode():
                _export(module.eval(), torch.rand(2, *shape) * 255, path, in_name, out_name, opset)
            if out_name == "logits":  # the class names travel with the graph (edgefer.backends.contract)
                graph = onnx.load(str(path))
                onnx.helper.set_model_props(graph, {CLASSES_KEY: json.dumps(list(ckpt["classes"]))})
                onnx.save(graph, str(path))
            try:
                onnx.checker.check_model(str(path), full_check=True)
            except onnx.checker.ValidationError as e:
                raise EdgeferError(f"{name}: onnx.checker rejected the exported graph ({str(e).splitlines()[0]})") from None
            files[name] = path
        from edgefer.deploy.verify import check_against_torch, check_parts_compose

        check = check_against_torch(model, files[main_graph(kind)], CHECK_FACTORS, tuple(b for b in CHECK_BATCHES if b <= max_batch) or (max_batch,))
        if kind == "fsrfer":
            check["parts_max_abs_diff"] = check_parts_compose(files)
        manifest = {
            "format": "edgefer-export",
            "kind": kind,
            "main": main_graph(kind),
            "classes": ckpt["classes"],
            "input": {"name": "faces", "shape": ["batch", INPUT_CHANNELS, INPUT_SIZE, INPUT_SIZE], "dtype": "float32",
                      "range": list(INPUT_RANGE), "channels": INPUT_CHANNELS, "size": INPUT_SIZE,
                      "preprocess": "grey, antialiased bicubic resize to 48x48 (edgefer.preprocess); no normalisation"},
            "output": {"name": "logits", "shape": ["batch", len(ckpt["classes"])], "apply": "softmax"},
            "opset": opset,
            "max_batch": max_batch,
            "files": {name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for name, p in files.items()},
            "source": {"checkpoint": str(model_path), "sha256": sha256_file(model_path), "command": ckpt.get("command")},
            "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "edgefer": __version__},
            "validation": {k: ckpt.get("metrics", {}).get(k) for k in ("split", "n", "accuracy", "macro_f1")},
            "check": check,
        }
        write_json(tmp / "manifest.json", manifest)
        for p in sorted(tmp.iterdir()):  # every check passed: move the set in
            p.replace(out / p.name)
        return manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
