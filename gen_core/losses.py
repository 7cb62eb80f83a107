"""Pure loss functions, one per formula. Each docstring carries its formula and source.

Sources: the lecture notes in ``shared/seeds`` (000 Imperial "VAEs and GANs", 001 Ryu SNU ch. 5, 002 Isachenko
MIPT lecture 7, 003 Xu ShanghaiTech lecture 14, 004 Zhang PKU lecture 18); ``MODELS.md`` settles conventions.
All per-example functions reduce over every non-batch dimension and return shape (B,).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

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


def kl_capacity_penalty(kl: Tensor, capacity: float, gamma: float) -> Tensor:
    """``gamma * |KL - C|``: the KL term of Burgess et al. (2018), "Understanding disentangling in beta-VAE" (eq. 8),
    disentanglement_lib's AnnealedVAE, for the batch-mean KL ``kl`` and a target capacity ``C`` in nats.

    Instead of pushing the KL towards 0 as beta does (seed 000 A.3.2), it holds the code's information near C, and C
    is raised during training so that the factors enter the code one at a time, the one that buys the most
    reconstruction first. Same shape as ``kl``.
    """
    if gamma < 0 or capacity < 0:
        raise ValueError(f"gamma and the capacity must be >= 0, got gamma={gamma}, capacity={capacity}")
    return gamma * (kl - capacity).abs()


def total_correlation(z: Tensor, mu: Tensor, logvar: Tensor, dataset_size: int | None = None) -> Tensor:
    """Minibatch-weighted-sampling estimate of the total correlation of the aggregate posterior (Chen et al. 2018,
    "Isolating Sources of Disentanglement in VAEs", eq. 7 and section 4.1; the beta-TCVAE of seed 000 A.3.2's
    beta-VAE family):

        TC(z) = KL(q(z) || prod_d q(z_d)) = E_q(z)[log q(z) - sum_d log q(z_d)],
        log q(z_i)   ~= logsumexp_j log q(z_i | x_j)          - log(N M),
        log q(z_id)  ~= logsumexp_j log q(z_id | x_j)         - log(N M),

    with z_i ~ q(z | x_i) one sample per image of a batch of M, and N the number of images in the data set.
    ``z``, ``mu``, ``logvar``: (M, D). Returns a scalar (the batch mean over i). ``dataset_size=None`` treats the
    batch as the whole population (N M -> M), so a factorised q scores 0; the N of Chen et al. only shifts the
    value by (D - 1) log N, which leaves the gradient unchanged (disentanglement_lib drops the constants).
    """
    if z.ndim != 2 or z.shape != mu.shape or z.shape != logvar.shape:
        raise ValueError(f"z, mu and logvar must share one shape (M, D), got {tuple(z.shape)}, {tuple(mu.shape)}, "
                         f"{tuple(logvar.shape)}")
    m, d = z.shape
    # log q(z_id | x_j) for every pair (i, j) and dim d: (M, M, D)
    log_q = -0.5 * (LOG_2PI + logvar[None] + (z[:, None] - mu[None]).pow(2) * torch.exp(-logvar[None]))
    log_norm = math.log(m * (dataset_size if dataset_size is not None else 1))
    log_qz = torch.logsumexp(log_q.sum(dim=2), dim=1) - log_norm                       # (M,)
    log_prod_qzd = (torch.logsumexp(log_q, dim=1) - log_norm).sum(dim=1)              # (M,)
    return (log_qz - log_prod_qzd).mean()


def iwae_bound(log_px_z: Tensor, log_pz: Tensor, log_qz_x: Tensor) -> Tensor:
    """IWAE bound ``log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)``, ``z_k ~ q(z|x)`` (seed 001; Burda et al. 2016).

    Inputs have shape (K, B); returns (B,). K = 1 gives the ELBO; the bound is non-decreasing in K in
    expectation and tends to ``log p(x)`` (seed 004: the importance-sampled estimate of the likelihood).
    """
    log_w = log_px_z + log_pz - log_qz_x
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


# --------------------------------------------------------------------------------------------------------------------
# GANs (MODELS.md "GANs"). Inputs are the raw, unbounded outputs of the discriminator / critic network
# ("logits"), one per example, shape (B,) or (B, 1); every function returns the scalar batch mean that its
# player *minimises*. Real and fake batches may differ in size.
# --------------------------------------------------------------------------------------------------------------------

GAN_LOSSES = ("minimax", "non_saturating", "lsgan", "hinge", "wgan_clip", "wgan_gp",
              "fgan_kl", "fgan_reverse_kl", "fgan_pearson", "fgan_hellinger", "fgan_js")
"""Every GAN objective that gen_core trains, by the name used in configs and the UI."""


def _per_example(v: Tensor) -> Tensor:
    """(B,) or (B, 1) critic outputs -> (B,)."""
    if v.ndim == 2 and v.shape[1] == 1:
        return v[:, 0]
    if v.ndim != 1:
        raise ValueError(f"critic outputs must have shape (B,) or (B, 1), got {tuple(v.shape)}")
    return v


def gan_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator of the original GAN: ``max E_data log D(x) + E_z log(1 - D(G(z)))``, D = sigmoid(logit).

    Lecture notes 000 (Imperial) 3.3.1 eq. (3.3.1); 003. As a loss to minimise:
    ``-E log sigmoid(l_real) - E log(1 - sigmoid(l_fake)) = E softplus(-l_real) + E softplus(l_fake)``.
    """
    return F.softplus(-_per_example(real_logits)).mean() + F.softplus(_per_example(fake_logits)).mean()


def gan_generator_loss_minimax(fake_logits: Tensor) -> Tensor:
    """Saturating (minimax) generator loss ``min E_z log(1 - D(G(z)))`` (notes 000 3.3.1 eq. (3.3.2), 3.3.3).

    ``log(1 - sigmoid(l)) = -softplus(l)``. Its gradient with respect to the logit is ``-D(G(z))``, which
    vanishes when the discriminator confidently rejects the fakes (D -> 0): the "saturation" of 000 3.3.3.
    """
    return -F.softplus(_per_example(fake_logits)).mean()


def gan_generator_loss_non_saturating(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss ``max E_z log D(G(z))``, i.e. minimise ``E softplus(-l)`` (notes 000 B.2.1, 003).

    Same fixed point as the minimax form, but its gradient with respect to the logit is ``-(1 - D(G(z)))``,
    strong exactly when the fakes are rejected.
    """
    return F.softplus(-_per_example(fake_logits)).mean()


def lsgan_discriminator_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """Least-squares GAN discriminator ``0.5 E (D(x) - 1)^2 + 0.5 E D(G(z))^2`` (Mao et al. 2017, a=0, b=c=1)."""
    return 0.5 * (_per_example(real_out) - 1.0).pow(2).mean() + 0.5 * _per_example(fake_out).pow(2).mean()


def lsgan_generator_loss(fake_out: Tensor) -> Tensor:
    """Least-squares GAN generator ``0.5 E (D(G(z)) - 1)^2`` (Mao et al. 2017, c = 1)."""
    return 0.5 * (_per_example(fake_out) - 1.0).pow(2).mean()


def hinge_discriminator_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """Hinge discriminator ``E max(0, 1 - D(x)) + E max(0, 1 + D(G(z)))`` (Lim & Ye 2017; Miyato et al. 2018)."""
    return F.relu(1.0 - _per_example(real_out)).mean() + F.relu(1.0 + _per_example(fake_out)).mean()


def hinge_generator_loss(fake_out: Tensor) -> Tensor:
    """Hinge generator ``-E D(G(z))`` (Lim & Ye 2017; Miyato et al. 2018)."""
    return -_per_example(fake_out).mean()


def wasserstein_critic_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """WGAN critic ``max E_data D(x) - E_G D(x)`` over 1-Lipschitz D (notes 000 3.4, 001 "Minimax via KR duality").

    As a loss to minimise: ``E_G D - E_data D``. The Lipschitz constraint is not part of this function: it comes
    from weight clipping (Arjovsky et al. 2017), spectral normalisation (001) or :func:`gradient_penalty`.
    """
    return _per_example(fake_out).mean() - _per_example(real_out).mean()


def wasserstein_generator_loss(fake_out: Tensor) -> Tensor:
    """WGAN generator ``min -E_z D(G(z))`` (notes 000 3.4, 001)."""
    return -_per_example(fake_out).mean()


def per_sample_grad_norm(critic: Callable[[Tensor], Tensor], x: Tensor, create_graph: bool = True) -> Tensor:
    """``||grad_x D(x_i)||_2`` for every sample i, the norm taken over *all* non-batch dims (flattened), shape (B,).

    Because D acts on each sample separately, ``grad_x sum_i D(x_i)`` holds each sample's own gradient in its row.
    (Several public repositories took the norm over the wrong dimension; MODELS.md "GANs".)
    """
    x = x.detach().requires_grad_(True)
    out = critic(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=create_graph)
    return _flat(grad).norm(2, dim=1)


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, lam: float = 10.0,
                     generator: torch.Generator | None = None, alpha: Tensor | None = None) -> Tensor:
    """WGAN-GP penalty ``lambda * E_xhat (||grad_xhat D(xhat)||_2 - 1)^2`` (Gulrajani et al. 2017; MODELS.md).

    ``xhat = a x_data + (1 - a) x_G`` with one ``a ~ U[0, 1]`` per sample (or the given ``alpha``, shape (B,)),
    lambda = 10. The critic loss to minimise is ``E_G D - E_data D + penalty``; the notes print the penalty with
    a + inside a max, which is wrong. The gradient norm is taken per sample over all non-batch dimensions.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if alpha is None:
        alpha = torch.rand(real.shape[0], generator=generator, device=real.device, dtype=real.dtype)
    a = alpha.reshape(-1, *([1] * (real.ndim - 1)))
    xhat = a * real.detach() + (1.0 - a) * fake.detach()
    return lam * (per_sample_grad_norm(critic, xhat) - 1.0).pow(2).mean()


# f-GAN (Nowozin, Cseke & Tomioka 2016, Table 6; notes 001 "f-GAN", 003, 004). The critic network outputs an
# unbounded V(x); the output activation g maps it into the domain of the conjugate f*. The pairs below are
# Nowozin et al.'s; ``FGAN_CONJUGATE_OF_ACTIVATION`` gives f*(g(v)) in a numerically stable closed form.
FGAN_DIVERGENCES = ("kl", "reverse_kl", "pearson", "hellinger", "js", "gan")


def fgan_activation(v: Tensor, divergence: str) -> Tensor:
    """Output activation g_f of Nowozin et al. (2016), Table 6, mapping V(x) into dom f*.

    kl: ``v``; reverse_kl: ``-exp(-v)``; pearson: ``v``; hellinger (squared Hellinger): ``1 - exp(-v)``;
    js: ``log 2 - log(1 + exp(-v))``; gan: ``-log(1 + exp(-v))``.
    """
    if divergence in ("kl", "pearson"):
        return v
    if divergence == "reverse_kl":
        return -torch.exp(-v)
    if divergence == "hellinger":
        return 1.0 - torch.exp(-v)
    if divergence == "js":
        return math.log(2.0) - F.softplus(-v)
    if divergence == "gan":
        return -F.softplus(-v)
    raise ValueError(f"unknown f-divergence {divergence!r}; choose one of {', '.join(FGAN_DIVERGENCES)}")


def fgan_conjugate(t: Tensor, divergence: str) -> Tensor:
    """Fenchel conjugate f*(t) (MODELS.md; Nowozin et al. 2016, Table 6), on its domain.

    kl: ``exp(t - 1)``; reverse_kl: ``-1 - log(-t)`` (t < 0); pearson: ``t^2 / 4 + t``;
    hellinger: ``t / (1 - t)`` (t < 1); js: ``-log(2 - exp(t))`` (t < log 2); gan: ``-log(1 - exp(t))`` (t < 0).
    """
    if divergence == "kl":
        return torch.exp(t - 1.0)
    if divergence == "reverse_kl":
        return -1.0 - torch.log(-t)
    if divergence == "pearson":
        return 0.25 * t * t + t
    if divergence == "hellinger":
        return t / (1.0 - t)
    if divergence == "js":
        return -torch.log(2.0 - torch.exp(t))
    if divergence == "gan":
        return -torch.log(1.0 - torch.exp(t))
    raise ValueError(f"unknown f-divergence {divergence!r}; choose one of {', '.join(FGAN_DIVERGENCES)}")


def fgan_conjugate_of_activation(v: Tensor, divergence: str) -> Tensor:
    """``f*(g_f(v))`` in closed form, stable for any real v (equal to ``fgan_conjugate(fgan_activation(v))``).

    kl: ``exp(v - 1)``; reverse_kl: ``v - 1``; pearson: ``v^2 / 4 + v``; hellinger: ``exp(v) - 1``;
    js: ``softplus(v) - log 2``; gan: ``softplus(v)``.
    """
    if divergence == "kl":
        return torch.exp(v - 1.0)
    if divergence == "reverse_kl":
        return v - 1.0
    if divergence == "pearson":
        return 0.25 * v * v + v
    if divergence == "hellinger":
        return torch.expm1(v)
    if divergence == "js":
        return F.softplus(v) - math.log(2.0)
    if divergence == "gan":
        return F.softplus(v)
    raise ValueError(f"unknown f-divergence {divergence!r}; choose one of {', '.join(FGAN_DIVERGENCES)}")


def fgan_critic_loss(real_v: Tensor, fake_v: Tensor, divergence: str) -> Tensor:
    """f-GAN critic: ``max E_data[g(V(x))] - E_G[f*(g(V(x)))]`` (MODELS.md; notes 001 "f-GAN with output
    activation"; Nowozin et al. 2016 eq. (6)). Returns the negative, to minimise. At the optimal critic the
    maximised value equals the f-divergence ``D_f(p_data || p_G)``.
    """
    real_v, fake_v = _per_example(real_v), _per_example(fake_v)
    value = fgan_activation(real_v, divergence).mean() - fgan_conjugate_of_activation(fake_v, divergence).mean()
    return -value


def fgan_generator_loss(fake_v: Tensor, divergence: str,
                        form: Literal["non_saturating", "minimax"] = "non_saturating") -> Tensor:
    """f-GAN generator. ``minimax``: ``min_G -E_G[f*(g(V(G(z))))]`` (the G-dependent part of the saddle objective);
    ``non_saturating`` (Nowozin et al. 2016, section 3.2, used in their experiments): ``max_G E_z[g(V(G(z)))]``,
    i.e. minimise ``-E_z g(V(G(z)))``.
    """
    fake_v = _per_example(fake_v)
    if form == "minimax":
        return -fgan_conjugate_of_activation(fake_v, divergence).mean()
    if form == "non_saturating":
        return -fgan_activation(fake_v, divergence).mean()
    raise ValueError(f"unknown f-GAN generator form {form!r}; choose 'non_saturating' or 'minimax'")


def discriminator_loss(name: str, real_out: Tensor, fake_out: Tensor) -> Tensor:
    """The discriminator / critic loss (to minimise) of the GAN objective ``name`` (one of ``GAN_LOSSES``).

    ``wgan_gp`` returns only the Wasserstein part; add :func:`gradient_penalty` to it.
    """
    if name == "minimax" or name == "non_saturating":
        return gan_discriminator_loss(real_out, fake_out)
    if name == "lsgan":
        return lsgan_discriminator_loss(real_out, fake_out)
    if name == "hinge":
        return hinge_discriminator_loss(real_out, fake_out)
    if name in ("wgan_clip", "wgan_gp"):
        return wasserstein_critic_loss(real_out, fake_out)
    if name.startswith("fgan_") and name[5:] in FGAN_DIVERGENCES:
        return fgan_critic_loss(real_out, fake_out, name[5:])
    raise ValueError(f"unknown GAN loss {name!r}; choose one of {', '.join(GAN_LOSSES)}")


def generator_loss(name: str, fake_out: Tensor) -> Tensor:
    """The generator loss (to minimise) of the GAN objective ``name`` (one of ``GAN_LOSSES``)."""
    if name == "minimax":
        return gan_generator_loss_minimax(fake_out)
    if name == "non_saturating":
        return gan_generator_loss_non_saturating(fake_out)
    if name == "lsgan":
        return lsgan_generator_loss(fake_out)
    if name == "hinge":
        return hinge_generator_loss(fake_out)
    if name in ("wgan_clip", "wgan_gp"):
        return wasserstein_generator_loss(fake_out)
    if name.startswith("fgan_") and name[5:] in FGAN_DIVERGENCES:
        return fgan_generator_loss(fake_out, name[5:])
    raise ValueError(f"unknown GAN loss {name!r}; choose one of {', '.join(GAN_LOSSES)}")


def optimal_discriminator(log_p_data: Tensor, log_p_g: Tensor) -> Tensor:
    """``D*(x) = p_data(x) / (p_data(x) + p_g(x)) = sigmoid(log p_data - log p_g)`` (notes 000, 002, 003)."""
    return torch.sigmoid(log_p_data - log_p_g)
