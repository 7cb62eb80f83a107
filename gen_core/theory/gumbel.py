"""The Gumbel-max trick, the Gumbel-softmax (Concrete) relaxation and its straight-through hard sample.

Lecture notes 002 (Isachenko, MIPT lecture 7, "Gumbel-softmax trick"), after Maddison, Mnih & Teh (2016) and
Jang, Gu & Poole (2016):

- Gumbel(0, 1) noise: g = -log(-log u), u ~ Uniform(0, 1).
- Gumbel-max: c = argmax_k (log pi_k + g_k) is an exact sample of Categorical(pi).
- Gumbel-softmax: c_hat_k = exp((log pi_k + g_k) / tau) / sum_j exp((log pi_j + g_j) / tau), a point of the
  simplex that is differentiable in the logits; as tau -> 0 it tends to the one-hot Gumbel-max sample, as
  tau -> infinity to the uniform point (1/K, ..., 1/K). Its argmax is the Gumbel-max sample for every tau, so
  argmax frequencies match pi at any temperature.
- Straight-through: the forward pass uses the hard one-hot of the argmax, the backward pass the gradient of the
  relaxed sample: y = one_hot - sg(c_hat) + c_hat.

``logits`` may be any unnormalised log-probabilities (log pi up to a constant): the softmax and the argmax do not
see the constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

TINY = torch.finfo(torch.float32).tiny


def _check_logits(logits: Tensor) -> None:
    if logits.ndim < 1 or logits.shape[-1] < 2:
        raise ValueError(f"logits must have a last dimension of at least 2 categories; got shape {tuple(logits.shape)}.")
    if not torch.isfinite(logits).all():
        raise ValueError("logits must be finite (use a large negative number, not -inf, for a tiny probability).")


def _check_tau(tau: float) -> None:
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau (the temperature) must be a positive finite number; got {tau!r}.")


def sample_gumbel(shape: tuple[int, ...], generator: torch.Generator | None = None,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """Gumbel(0, 1) noise g = -log(-log u), u ~ U(0, 1) (u clamped away from 0 and 1 so g is finite)."""
    u = torch.rand(shape, generator=generator, dtype=dtype).clamp(TINY, 1.0 - torch.finfo(dtype).eps)
    return -torch.log(-torch.log(u))


def gumbel_max(logits: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
    """n exact samples of Categorical(softmax(logits)) by the Gumbel-max trick: argmax_k (logits_k + g_k).

    ``logits`` (K,) -> indices (n,).

    >>> idx = gumbel_max(torch.log(torch.tensor([0.2, 0.8])), 10_000, torch.Generator().manual_seed(0))
    >>> round(idx.float().mean().item(), 1)
    0.8
    """
    _check_logits(logits)
    g = sample_gumbel((n, logits.shape[-1]), generator, logits.dtype)
    return (logits + g).argmax(dim=-1)


def gumbel_softmax(logits: Tensor, tau: float, n: int | None = None, generator: torch.Generator | None = None,
                   gumbel: Tensor | None = None) -> Tensor:
    """Relaxed samples softmax((logits + g) / tau) on the simplex, differentiable in ``logits``.

    ``logits`` (..., K); with ``n`` the samples are stacked in front: (n, ..., K). ``gumbel`` passes the noise in
    (same shape as the output), e.g. to compare temperatures on the same draw.
    """
    _check_logits(logits)
    _check_tau(tau)
    shape = ((n,) if n is not None else ()) + tuple(logits.shape)
    g = sample_gumbel(shape, generator, logits.dtype) if gumbel is None else gumbel
    return F.softmax((logits + g) / tau, dim=-1)


def straight_through(logits: Tensor, tau: float, n: int | None = None, generator: torch.Generator | None = None,
                     gumbel: Tensor | None = None) -> Tensor:
    """Hard one-hot samples in the forward pass, Gumbel-softmax gradients in the backward pass:
    y = one_hot(argmax c_hat) - sg(c_hat) + c_hat (Jang et al. 2016, "Straight-Through Gumbel-Softmax")."""
    soft = gumbel_softmax(logits, tau, n, generator, gumbel)
    hard = F.one_hot(soft.argmax(dim=-1), soft.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


def mean_max_weight(logits: Tensor, taus: list[float] | Tensor, n: int = 2000, seed: int = 0) -> Tensor:
    """E max_k c_hat_k for each temperature (same noise for every tau): 1 at tau -> 0 (one-hot), 1/K at tau -> inf.

    Returns (len(taus),), float64.
    """
    _check_logits(logits)
    g = sample_gumbel((n, logits.shape[-1]), torch.Generator().manual_seed(seed), torch.float64)
    lg = logits.to(torch.float64)
    out = []
    for tau in taus:
        out.append(gumbel_softmax(lg, float(tau), gumbel=g).max(dim=-1).values.mean())
    return torch.stack(out)


def probabilities(weights: list[float] | Tensor) -> Tensor:
    """Normalise non-negative category weights to probabilities pi = w / sum w (float64)."""
    w = torch.as_tensor(weights, dtype=torch.float64)
    if w.ndim != 1 or len(w) < 2 or not torch.isfinite(w).all() or (w <= 0).any():
        raise ValueError(f"weights must be at least two positive finite numbers; got {w.tolist()}.")
    return w / w.sum()


@dataclass(frozen=True)
class GumbelPanel:
    """What the Theory tab shows for one temperature: pi, relaxed samples (n, K), their hard (argmax) and
    Gumbel-max frequencies, and E max_k c_hat_k over a range of temperatures."""

    probs: np.ndarray
    tau: float
    relaxed: np.ndarray
    argmax_freq: np.ndarray
    gumbel_max_freq: np.ndarray
    taus: np.ndarray
    mean_max: np.ndarray


def gumbel_panel(weights: list[float], tau: float, n: int = 600, n_freq: int = 20_000, seed: int = 0) -> GumbelPanel:
    """Relaxed samples at temperature ``tau`` for pi = normalised ``weights``, on a fixed seed."""
    _check_tau(tau)
    pi = probabilities(weights)
    logits = torch.log(pi)
    gen = torch.Generator().manual_seed(seed)
    relaxed = gumbel_softmax(logits, tau, n, gen)
    k = len(pi)
    freq = torch.bincount(gumbel_max(logits, n_freq, gen), minlength=k).double() / n_freq
    taus = torch.logspace(-2, 2, 41, dtype=torch.float64)
    return GumbelPanel(pi.numpy(), float(tau), relaxed.numpy(),
                       (torch.bincount(relaxed.argmax(-1), minlength=k).double() / n).numpy(), freq.numpy(),
                       taus.numpy(), mean_max_weight(logits, taus, seed=seed).numpy())
