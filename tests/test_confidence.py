import numpy as np
import torch

from edgefer.checkpoint import fold_temperature
from edgefer.confidence import (abstain_threshold, coverage_curve, expected_calibration_error, fit_temperature,
                                softmax)


def test_ece_by_hand():
    # two bins: conf 0.9 (3 faces, 2 right) and conf 0.6 (1 face, right)
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.6, 0.4]])
    labels = np.array([0, 0, 1, 1])
    # bin 0.9: accuracy 1.0 (all three right), bin 0.6: accuracy 0
    assert abs(expected_calibration_error(probs, labels) - (0.75 * abs(1 - 0.9) + 0.25 * abs(0 - 0.6))) < 1e-12


def synthetic_overconfident(n=4000, k=8, seed=0):
    """A model whose logits are 4x too sharp: the true posterior is softmax(z/4)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, k))
    p_true = softmax(z, 1.0)
    labels = np.array([rng.choice(k, p=p) for p in p_true])
    return 4.0 * z, labels


def test_temperature_scaling_finds_the_overconfidence_and_lowers_ece():
    logits, labels = synthetic_overconfident()
    t = fit_temperature(logits, labels)
    assert 3.2 < t < 4.8
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(softmax(logits, t), labels)
    assert before > 0.15 and after < 0.04 and after < before / 4
    assert (softmax(logits, t).argmax(1) == logits.argmax(1)).all()  # no prediction changes


def test_folding_the_temperature_into_the_classifier_divides_the_logits():
    lin = torch.nn.Linear(5, 3)
    x = torch.randn(7, 5)
    ref = lin(x) / 2.5
    fold_temperature(lin, 2.5)
    torch.testing.assert_close(lin(x), ref)


def test_abstain_threshold_catches_the_guesses_and_respects_the_cap():
    conf = np.linspace(0.55, 1.0, 100)
    probs = np.stack([conf, 1 - conf], 1)
    labels = np.where(np.arange(100) < 20, 1, 0)  # the 20 least confident are all wrong
    thr = abstain_threshold(probs, labels, max_abstain=0.5)
    curve = coverage_curve(probs, labels, np.array([thr]))[0]
    # the 20 wrong ones go, and a few right ones with them while the abstained stay <= 30 % right
    assert 0.7 <= curve["coverage"] <= 0.8 and curve["accuracy_abstained"] <= 0.3 + 1e-9
    capped = coverage_curve(probs, labels, np.array([abstain_threshold(probs, labels, max_abstain=0.1)]))[0]
    assert capped["coverage"] == 0.9  # capped at 10 % of the faces
    assert abstain_threshold(probs, np.zeros(100, int)) == 0.0  # nothing is a guess: no gate
