"""tools/tiny_blend_check.py --weights: its baseline row is what the routed graph itself decides."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch

from edgefer.checkpoint import build_classifier, save_checkpoint
from edgefer.classes import CLASSES
from edgefer.degrade import degrade
from edgefer.metrics import accuracy, balanced_accuracy, confusion_matrix
from edgefer.training.common import load_splits, split_holdout
from tests.test_checkpoint import routed_ckpt

TOOL = Path(__file__).resolve().parents[2] / "tools" / "tiny_blend_check.py"


def run_tool(argv, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("tiny_blend_check", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["tiny_blend_check.py", *argv])
    module.main()
    return capsys.readouterr().out.splitlines()


def test_the_default_setting_reproduces_the_graphs_decisions(ferplus_tiny, tmp_path, monkeypatch, capsys):
    torch.manual_seed(0)
    ck = routed_ckpt(tiny_threshold=-1.5, tiny_blend=True)  # no route temperatures: the graph's blend is the plain mean
    ck["config"] = {"seed": 0, "holdout": 16, "limit": None}
    # Each route answers one class whatever the face (sharp 0, small 1, tiny 2; the blend's mean: 1), so a
    # tool that blended otherwise than the graph would count other answers.
    for name, cls, logit in (("sharp", 0, 3.0), ("small", 1, 3.0), ("tiny", 2, 2.0)):
        state = ck["state"][name]["fer"]
        state["head.classifier.weight"] = torch.zeros_like(state["head.classifier.weight"])
        state["head.classifier.bias"] = torch.zeros(len(CLASSES)).index_fill_(0, torch.tensor([cls]), logit)
    path = save_checkpoint(ck, tmp_path / "routed.pt")
    lines = run_tool(["--weights", "--data", str(ferplus_tiny), str(path)], monkeypatch, capsys)
    assert len(lines) == 12 and lines[0].startswith("tiny share 0.5, shift 0.0:")
    train, _ = load_splits(str(ferplus_tiny), None, 0)
    _, hold = split_holdout(train, 16, 0)
    graph = build_classifier(ck)
    expected = []
    for px in (12, 8, 6):
        with torch.inference_mode():
            pred = graph(torch.from_numpy(degrade(hold.images, 48 / px)[:, None])).argmax(1).numpy()
        assert set(pred) >= {1} and 2 not in set(pred)  # small-route and blended faces say 1, never the tiny route's 2
        cm = confusion_matrix(hold.labels, pred, len(CLASSES))
        expected.append(f"{px} px {100 * accuracy(cm):.1f} / {100 * balanced_accuracy(cm):.1f}")
    assert lines[0] == "tiny share 0.5, shift 0.0: " + ", ".join(expected)
