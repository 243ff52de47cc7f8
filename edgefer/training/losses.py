"""Losses and samplers of the FER recipe, each small enough to check on known numbers.

- ``soft_cross_entropy``: cross-entropy against a target distribution (FER+'s vote distribution;
  Barsoum et al. 2016 found it beats majority labels).
- ``logit_adjust``: Menon et al. 2021's logit-adjusted loss: train on ``z + τ·log π`` (π the class
  prior), predict with ``z``. The raw logits then estimate the class-balanced posterior, so the model
  stops saying "neutral" whenever it is unsure.
- ``distillation_loss``: Hinton's KL(teacher_T ‖ student_T)·T², the teacher seeing the sharp face and
  the student the degraded one: the output-level sibling of FSR-FER's feature-level idea.
- ``balanced_indices``: class-balanced sampling with probability ∝ count^(−power).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(N, K) logits, (N, K) target distributions (rows sum to 1) -> mean −Σ t·log softmax(z)."""
    return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()


def log_prior(labels: np.ndarray, n_classes: int, smoothing: float = 1.0) -> torch.Tensor:
    """(K,) log class frequencies of ``labels``, with ``smoothing`` pseudo-counts per class."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64) + smoothing
    return torch.tensor(np.log(counts / counts.sum()), dtype=torch.float32)


def logit_adjust(logits: torch.Tensor, log_pi: torch.Tensor, tau: float) -> torch.Tensor:
    """The training-time logits of the logit-adjusted loss: z + τ·log π (τ = 0: the plain loss)."""
    return logits + tau * log_pi.to(logits.dtype) if tau else logits


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T²·KL(softmax(t/T) ‖ softmax(s/T)), averaged over the batch."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, 1), F.log_softmax(teacher_logits / t, 1),
                    reduction="batchmean", log_target=True) * t * t


def balanced_indices(labels: np.ndarray, n: int, rng: np.random.Generator, power: float = 1.0) -> np.ndarray:
    """``n`` indices into ``labels`` drawn with replacement, each face weighted by count(class)^(−power):
    power 1 gives every class the same expected share, power 0 is plain uniform sampling."""
    counts = np.bincount(labels)
    w = counts[labels].astype(np.float64) ** (-power)
    return rng.choice(len(labels), size=n, replace=True, p=w / w.sum())
