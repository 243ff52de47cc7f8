"""The shipped checkpoints: small, self-describing, loadable with weights_only, and as good as they claim."""

import pytest
import torch

from edgefer.checkpoint import DEFAULT_MODEL, WEIGHTS_DIR, load_classifier
from edgefer.data import load_dataset
from edgefer.evaluate import evaluate
from edgefer.training.common import probs_fn

SHIPPED = {"fsrfer.pt": "routed", "fsrfer_hr.pt": "fsrfer", "fer_hr.pt": "fer", "fer_multires.pt": "fer", "sr_fer.pt": "sr_fer"}


@pytest.mark.parametrize("name,kind", SHIPPED.items())
def test_shipped_checkpoint_is_self_describing(name, kind):
    path = WEIGHTS_DIR / name
    assert path.stat().st_size <= 10_000_000
    torch.load(path, weights_only=True)
    model, ckpt = load_classifier(path)
    assert ckpt["kind"] == kind
    assert ckpt["command"].startswith("edgefer train ")
    assert ckpt["git_commit"] and ckpt["config"]["data"]
    assert set(ckpt["metrics"]["accuracy"]) == {"1", "2", "3", "4", "6", "8"}
    assert ckpt["metrics"]["split"] == "ferplus:val" and ckpt["metrics"]["n"] == 3191
    assert model(torch.zeros(1, 1, 48, 48)).shape == (1, 8)


def test_default_model_is_fsrfer():
    assert DEFAULT_MODEL.name == "fsrfer.pt" and DEFAULT_MODEL.is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fsrfer.pt", "fer_hr.pt"])
def test_recorded_accuracy_reproduces_on_real_data(name, ferplus_real):
    """Re-measure on FER2013Valid: the numbers a checkpoint carries are the numbers it gets."""
    model, ckpt = load_classifier(WEIGHTS_DIR / name)
    val = load_dataset(ferplus_real, "val")
    res = evaluate(probs_fn(model), val.images, val.labels, (1, 8))
    for f in ("1", "8"):
        assert abs(res["accuracy"][f] - ckpt["metrics"]["accuracy"][f]) < 1e-3
