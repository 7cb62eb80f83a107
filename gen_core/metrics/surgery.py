"""ELBO surgery (lecture notes 002; Hoffman & Johnson 2016): the average ELBO of a VAE split into three terms.

With the aggregate posterior ``q_agg(z) = (1/N) sum_n q(z|x_n)`` over N images (lecture notes 002, MODELS.md),

    mean_n KL(q(z|x_n) || p(z)) = KL(q_agg(z) || p(z)) + I_q[x, z],

so the average ELBO is

    mean_n ELBO(x_n) = E log p(x|z)  -  I_q[x, z]  -  KL(q_agg || p)
                       reconstruction   mutual information   marginal KL

(the notes' underbrace groups the last two with the wrong sign; MODELS.md). ``I_q[x, z]`` is the mutual information
between the image index n (uniform over the N images) and z under ``q(n, z) = q(z|x_n) / N``; it lies in
``[0, log N]``. ``KL(q_agg || p)`` is what the prior can still win: it is 0 exactly when ``p = q_agg``, the optimal
prior. A flow prior lowers it; ``I_q`` is what the code carries about the image and the reconstruction pays for.

Estimator (the one stated in the UI). ``q_agg`` is the *finite* mixture of the N held-out encoder Gaussians, so its
log-density is exact: ``log q_agg(z) = logsumexp_n log N(z; mu_n, sigma_n^2) - log N``. For every image n we draw K
reparameterised samples ``z_nk ~ q(z|x_n)``; pooled over n they are exact draws from ``q_agg``. With the *same*
draws, per image

    recon_n    = mean_k log p(x_n | z_nk)
    kl_n       = mean_k [log q(z_nk|x_n) - log p(z_nk)]           (Monte Carlo KL, any prior)
    mi_n       = mean_k [log q(z_nk|x_n) - log q_agg(z_nk)]       (-> I_q[x, z])
    marginal_n = mean_k [log q_agg(z_nk) - log p(z_nk)]           (-> KL(q_agg || p))
    elbo_n     = recon_n - kl_n = recon_n - mi_n - marginal_n

so the identity holds exactly for every image and for the averages, not just in expectation. Each reported value
is the mean over the N images; its standard error is the standard deviation of the N per-image values over
sqrt(N). For a standard normal prior ``kl_closed_form`` also gives the exact average KL as a check on the Monte
Carlo one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from gen_core import losses
from gen_core.models.vae import VAE, preprocess_images

EVAL_SEED = 1234  # fixes the binarisation of the held-out images and the posterior draws (as metrics.likelihood)

__all__ = ["EVAL_SEED", "SurgeryTerms", "log_q_agg", "split_kl", "summarise", "prior_log_prob_of",
           "encode_all", "elbo_surgery", "density_grid", "gaussian_kl_between"]


@dataclass
class SurgeryTerms:
    """Averages over N held-out images (nats per image) and their standard errors; see the module docstring."""

    recon: float           # E_q log p(x|z): higher is better
    kl: float              # mean_n KL(q(z|x_n) || p(z)), Monte Carlo
    mutual_info: float     # I_q[x, z]
    marginal_kl: float     # KL(q_agg || p)
    elbo: float            # recon - kl = recon - mutual_info - marginal_kl
    recon_se: float
    kl_se: float
    mutual_info_se: float
    marginal_kl_se: float
    elbo_se: float
    n_images: int
    n_samples: int         # posterior draws K per image
    kl_closed_form: float | None = None  # exact mean KL for a standard normal prior (None for a learned prior)

    def as_dict(self) -> dict[str, float]:
        """Plain floats (``kl_closed_form`` left out when there is none), for JSON and model cards."""
        return {k: float(v) for k, v in asdict(self).items() if v is not None}


def log_q_agg(z: Tensor, mu: Tensor, logvar: Tensor, chunk: int = 512) -> Tensor:
    """``log q_agg(z) = log (1/N) sum_n N(z; mu_n, diag exp(logvar_n))``: z (M, D), mu/logvar (N, D) -> (M,).

    The exact log-density of the finite mixture of the N encoder Gaussians (log-mean-exp over n), computed ``chunk``
    rows of z at a time to bound memory at ``chunk * N * D`` floats.
    """
    if z.ndim != 2 or mu.ndim != 2 or mu.shape != logvar.shape or z.shape[1] != mu.shape[1]:
        raise ValueError(f"expected z (M, D) and mu, logvar (N, D); got {tuple(z.shape)}, {tuple(mu.shape)}, "
                         f"{tuple(logvar.shape)}")
    out = []
    for start in range(0, z.shape[0], chunk):
        zc = z[start:start + chunk, None, :]                                      # (m, 1, D)
        log_comp = losses.normal_log_prob(zc, mu[None], logvar[None])             # (m, N)
        out.append(torch.logsumexp(log_comp, dim=1) - math.log(mu.shape[0]))
    return torch.cat(out) if out else z.new_zeros(0)


def split_kl(z: Tensor, mu: Tensor, logvar: Tensor, log_prior: Callable[[Tensor], Tensor]) -> dict[str, Tensor]:
    """Per-image Monte Carlo KL and its split into ``I_q`` and ``KL(q_agg || p)`` from shared draws.

    ``z``: (K, N, D) draws with ``z[k, n] ~ q(z|x_n)``; ``mu``, ``logvar``: (N, D) the encoder Gaussians (they also
    define q_agg); ``log_prior``: (M, D) -> (M,). Returns ``kl``, ``mutual_info``, ``marginal_kl``, each (N,) and
    averaged over the K draws, with ``kl == mutual_info + marginal_kl`` up to rounding.
    """
    k, n, d = z.shape
    if mu.shape != (n, d):
        raise ValueError(f"z has {n} images of dim {d} but mu has shape {tuple(mu.shape)}")
    flat = z.reshape(k * n, d)
    log_q = losses.normal_log_prob(z, mu[None], logvar[None])                    # (K, N)
    log_p = log_prior(flat).view(k, n)
    log_agg = log_q_agg(flat, mu, logvar).view(k, n)
    return {"kl": (log_q - log_p).mean(0), "mutual_info": (log_q - log_agg).mean(0),
            "marginal_kl": (log_agg - log_p).mean(0)}


def _mean_se(v: Tensor) -> tuple[float, float]:
    """Mean of per-image values and its standard error std / sqrt(N) (0 for a single value)."""
    v = v.double()
    se = float(v.std(unbiased=True) / math.sqrt(v.numel())) if v.numel() > 1 else 0.0
    return float(v.mean()), se


def summarise(recon: Tensor, parts: dict[str, Tensor], n_samples: int,
              kl_closed_form: float | None = None) -> SurgeryTerms:
    """Means and standard errors of the per-image terms: ``recon`` (N,) log p(x|z) and :func:`split_kl`'s output."""
    elbo = recon - parts["kl"]
    stats = {name: _mean_se(v) for name, v in
             {"recon": recon, "kl": parts["kl"], "mutual_info": parts["mutual_info"],
              "marginal_kl": parts["marginal_kl"], "elbo": elbo}.items()}
    return SurgeryTerms(**{k: m for k, (m, _) in stats.items()}, **{f"{k}_se": s for k, (_, s) in stats.items()},
                        n_images=int(recon.numel()), n_samples=n_samples, kl_closed_form=kl_closed_form)


def prior_log_prob_of(model: VAE) -> Callable[[Tensor], Tensor]:
    """The model's prior log-density ``log p(z)``: a learned prior's own ``prior_log_prob`` (a flow prior), else
    ``losses.std_normal_log_prob`` itself (so callers can tell that the closed-form KL applies)."""
    if type(model).prior_log_prob is VAE.prior_log_prob:
        return losses.std_normal_log_prob
    return model.prior_log_prob


def gaussian_kl_between(mu: Tensor, logvar: Tensor) -> Tensor:
    """Closed-form ``KL(N(mu, diag exp(logvar)) || N(0, I))`` per row, (N, D) -> (N,) (lecture notes 000 eq. 14)."""
    return losses.kl_normal_std_normal(mu, logvar)


@torch.no_grad()
def encode_all(model: VAE, images: Tensor, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
    """Encoder Gaussians of all images: ``(mu, logvar)``, each (N, latent_dim), on the model's device."""
    device = next(model.parameters()).device
    parts = [model.encode(images[i:i + batch_size].to(device)) for i in range(0, images.shape[0], batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def elbo_surgery(model: VAE, images: Tensor, n_samples: int = 1, seed: int = EVAL_SEED,
                 batch_size: int = 500) -> SurgeryTerms:
    """The ELBO of ``model`` on held-out ``images`` (N, 1, 28, 28) in [0, 1], split into its three surgery terms.

    The images are binarised (Bernoulli decoder) or dequantised (Gaussian decoder) once with ``seed``, as in
    :mod:`gen_core.metrics.likelihood`; ``n_samples`` posterior draws per image. Works for any VAE with ``encode``,
    ``recon_nll`` and a prior (:func:`prior_log_prob_of`). See the module docstring for the estimator.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if images.shape[0] < 2:
        raise ValueError(f"ELBO surgery needs at least 2 held-out images to form q_agg, got {images.shape[0]}")
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    data = preprocess_images(images, model.config.likelihood, gen)
    mu, logvar = encode_all(model, data, batch_size)
    eps = torch.randn((n_samples, *mu.shape), generator=gen).to(device)
    z = mu[None] + torch.exp(0.5 * logvar)[None] * eps                          # (K, N, D)
    recon = torch.zeros(mu.shape[0], device=device)
    for k in range(n_samples):
        for i in range(0, mu.shape[0], batch_size):
            recon[i:i + batch_size] -= model.recon_nll(data[i:i + batch_size].to(device), z[k, i:i + batch_size])
    recon /= n_samples
    log_prior = prior_log_prob_of(model)
    parts = split_kl(z, mu, logvar, log_prior)
    exact = None
    if log_prior is losses.std_normal_log_prob:
        exact = float(gaussian_kl_between(mu, logvar).double().mean())
    return summarise(recon.cpu(), {k: v.cpu() for k, v in parts.items()}, n_samples, exact)


@torch.no_grad()
def density_grid(log_density: Callable[[Tensor], Tensor], extent: float = 4.0, n: int = 101,
                 center: tuple[float, float] = (0.0, 0.0)) -> tuple[Tensor, Tensor, Tensor]:
    """A 2-D log-density on an ``n`` x ``n`` grid: returns axes x (n,), y (n,) and ``log_density`` values (n, n)
    with rows indexed by y, so ``values[j, i]`` is at ``(x[i], y[j])`` (plotly heatmap convention)."""
    if n < 2 or not extent > 0:
        raise ValueError(f"density_grid needs n >= 2 and extent > 0, got n={n}, extent={extent}")
    xs = torch.linspace(center[0] - extent, center[0] + extent, n)
    ys = torch.linspace(center[1] - extent, center[1] + extent, n)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    return xs, ys, log_density(pts).reshape(n, n)
