"""Pure loss functions, one per formula. Each docstring carries its formula and source.

Sources: the lecture notes in ``shared/seeds`` (000 Imperial "VAEs and GANs", 001 Ryu SNU ch. 5, 002 Isachenko
MIPT lecture 7, 003 Xu ShanghaiTech lecture 14, 004 Zhang PKU lecture 18); ``MODELS.md`` settles conventions.
All per-example functions reduce over every non-batch dimension and return shape (B,).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)


def _flat(x: Tensor) -> Tensor:
    return x.reshape(x.shape[0], -1)


def squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Autoencoder reconstruction loss ``||x - D(E(x))||^2`` per example (seed 001, "Autoencoder").

    It is also the anomaly score ``s(x)`` of seed 001. Returns shape (B,).
    """
    return _flat(x - x_hat).pow(2).sum(dim=1)


def kl_normal_std_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, diag sigma^2) || N(0, I)) = 0.5 * sum(mu^2 + sigma^2 - log sigma^2 - 1)`` per example.

    Seed 000 eq. 14; seed 003 "1D Gaussian case". ``logvar = log sigma^2``. Returns shape (B,).
    """
    return 0.5 * _flat(mu.pow(2) + logvar.exp() - logvar - 1.0).sum(dim=1)


def kl_normal_std_normal_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """The same KL per latent dimension, shape (B, D): tells which dims carry information."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


def bernoulli_nll(logits: Tensor, x: Tensor) -> Tensor:
    """Bernoulli decoder ``-log p(x|z) = -sum [x log p + (1 - x) log(1 - p)]``, ``p = sigmoid(logits)`` (seed 000 2.5).

    Binary cross-entropy summed over pixels, computed stably from logits. Returns shape (B,), nats.
    """
    return _flat(F.binary_cross_entropy_with_logits(logits, x, reduction="none")).sum(dim=1)


def gaussian_nll(mean: Tensor, logvar: Tensor, x: Tensor) -> Tensor:
    """Gaussian decoder ``-log N(x; mean, sigma^2) = sum 0.5 log(2 pi sigma^2) + (x - mean)^2 / (2 sigma^2)``.

    MODELS.md "VAE family" (it drops the constant ``0.5 log 2 pi``; here it is kept so the value is a true
    negative log-density). ``logvar`` broadcasts against ``x``. Returns shape (B,), nats.
    """
    logvar = logvar.expand_as(x)
    per = 0.5 * (LOG_2PI + logvar + (x - mean).pow(2) * torch.exp(-logvar))
    return _flat(per).sum(dim=1)


def normal_log_prob(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """``log N(z; mu, diag exp(logvar))`` summed over the last dimension. Shapes broadcast; returns z.shape[:-1]."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def std_normal_log_prob(z: Tensor) -> Tensor:
    """``log N(z; 0, I)`` summed over the last dimension; returns z.shape[:-1]."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(dim=-1)


def negative_elbo(recon_nll: Tensor, kl: Tensor, beta: float = 1.0) -> Tensor:
    """``-(E_q log p(x|z) - beta * KL(q(z|x) || p(z)))`` per example (seed 000 eq. 14; beta-VAE: 000 A.3.2, 001).

    beta = 1 is the plain VAE, beta > 1 the beta-VAE, beta ramping from 0 is KL annealing.
    """
    return recon_nll + beta * kl


def iwae_bound(log_px_z: Tensor, log_pz: Tensor, log_qz_x: Tensor) -> Tensor:
    """IWAE bound ``log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)``, ``z_k ~ q(z|x)`` (seed 001; Burda et al. 2016).

    Inputs have shape (K, B); returns (B,). K = 1 gives the ELBO; the bound is non-decreasing in K in
    expectation and tends to ``log p(x)`` (seed 004: the importance-sampled estimate of the likelihood).
    """
    log_w = log_px_z + log_pz - log_qz_x
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])
