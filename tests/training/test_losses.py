import math

import numpy as np
import torch

from edgefer.training.losses import balanced_indices, distillation_loss, log_prior, logit_adjust, soft_cross_entropy


def test_soft_cross_entropy_on_known_numbers():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # softmax = [0.25, 0.75]
    target = torch.tensor([[0.5, 0.5]])
    expected = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    assert abs(soft_cross_entropy(logits, target).item() - expected) < 1e-6
    # a one-hot target is the ordinary cross-entropy
    onehot = torch.tensor([[0.0, 1.0]])
    assert abs(soft_cross_entropy(logits, onehot).item() - torch.nn.functional.cross_entropy(logits, torch.tensor([1])).item()) < 1e-6


def test_logit_adjustment_adds_tau_log_prior():
    labels = np.array([0, 0, 0, 1])
    lp = log_prior(labels, 3, smoothing=0.0 + 1e-9)
    assert abs(lp[0].item() - math.log(0.75)) < 1e-5 and abs(lp[1].item() - math.log(0.25)) < 1e-5
    z = torch.zeros(1, 3)
    torch.testing.assert_close(logit_adjust(z, lp, 0.5), 0.5 * lp[None])
    assert logit_adjust(z, lp, 0.0) is z


def test_distillation_loss_on_known_numbers():
    s = torch.tensor([[0.0, 0.0]])
    t = torch.tensor([[0.0, math.log(3.0) * 2]])  # at T=2: teacher softmax = [0.25, 0.75]
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert abs(distillation_loss(s, t, 2.0).item() - 4 * kl) < 1e-6
    assert distillation_loss(t, t, 2.0).item() < 1e-7


def test_balanced_indices_give_each_class_an_equal_share():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
    idx = balanced_indices(labels, 30000, np.random.default_rng(0))
    shares = np.bincount(labels[idx], minlength=3) / 30000
    assert np.all(np.abs(shares - 1 / 3) < 0.02)
    plain = balanced_indices(labels, 30000, np.random.default_rng(0), power=0.0)
    assert abs(np.mean(labels[plain] == 0) - 0.9) < 0.02
