"""Held-out likelihood metrics for VAEs and autoencoders (EVALUATION.md, "Likelihood").

Protocol: the test images are mapped once onto the likelihood's support with a fixed seed (binarised for a
Bernoulli decoder, dequantised for a Gaussian one), so every model is scored on the same data. Reported per
image in nats: the ELBO (one posterior sample per image, averaged), its two terms, and the IWAE bound with K
importance samples, which tends to ``log p(x)`` as K grows (lecture notes 001, 004; Burda et al. 2016).
Reconstruction error is the squared error ``||x - D(mu(x))||^2`` on the grey-level images (seed 001).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gen_core import losses
from gen_core.models.vae import VAE, Autoencoder, preprocess_images
from gen_core.threads import seeded

EVAL_SEED = 1234  # fixes the test-set binarisation / dequantisation and the posterior samples


def _batches(n: int, batch_size: int) -> list[slice]:
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


@torch.no_grad()
def kl_per_dim(model: VAE, images: Tensor, batch_size: int = 1000) -> Tensor:
    """Mean over images of ``KL(q(z_d|x) || N(0,1))`` for each latent dim d, shape (D,), nats.

    A dim with mean KL near 0 is unused (posterior collapse); the larger the KL, the more information the dim
    carries about x. The Latent Explorer orders its sliders by this.
    """
    device = next(model.parameters()).device
    total = torch.zeros(model.latent_dim, device=device)
    for sl in _batches(images.shape[0], batch_size):
        mu, logvar = model.encode(images[sl].to(device))
        total += losses.kl_normal_std_normal_per_dim(mu, logvar).sum(dim=0)
    return (total / images.shape[0]).cpu()


def evaluate_vae(model: VAE, images: Tensor, iwae_k: int = 1000, iwae_n: int | None = None,
                 batch_size: int = 500) -> dict[str, float]:
    """Test-set ELBO, KL, reconstruction NLL, IWAE bound (K = ``iwae_k`` on the first ``iwae_n`` images) and
    grey-level reconstruction error, all per image. ``images``: (N, 1, 28, 28) in [0, 1].

    Also ``bits_per_dim`` of the IWAE bound for a Gaussian decoder (continuous density of dequantised data,
    converted to the discrete 256-level data: ``(NLL + D log 256) / (D ln 2)``).
    """
    if not images.is_floating_point():
        raise TypeError(f"evaluate_vae needs float images in [0, 1], got {images.dtype}; convert them first "
                        "(FashionMNIST.float_images() does)")
    with torch.no_grad(), seeded(EVAL_SEED, restore=True):  # seeded posterior samples; the caller's RNG untouched
        return _evaluate_vae(model, images, iwae_k, iwae_n, batch_size)


def _evaluate_vae(model: VAE, images: Tensor, iwae_k: int, iwae_n: int | None, batch_size: int) -> dict[str, float]:
    model.eval()
    device = next(model.parameters()).device
    data = preprocess_images(images, model.config.likelihood, torch.Generator().manual_seed(EVAL_SEED))
    sums = {"elbo": 0.0, "kl": 0.0, "recon_nll": 0.0, "recon_mse": 0.0}
    for sl in _batches(images.shape[0], batch_size):
        x = data[sl].to(device)
        terms = model.elbo_terms(x)
        sums["elbo"] += terms["elbo"].sum().item()
        sums["kl"] += terms["kl"].sum().item()
        sums["recon_nll"] += terms["recon"].sum().item()
        grey = images[sl].to(device)
        mu, _ = model.encode(grey)
        sums["recon_mse"] += losses.squared_error(grey, model.decode(mu)).sum().item()
    n = images.shape[0]
    out = {k: v / n for k, v in sums.items()}
    n_iwae = n if iwae_n is None else min(iwae_n, n)
    if iwae_k > 0 and n_iwae > 0:
        total = 0.0
        for sl in _batches(n_iwae, max(1, min(batch_size, 100_000 // iwae_k))):
            total += model.iwae_log_likelihood(data[sl].to(device), k=iwae_k).sum().item()
        out["iwae_log_likelihood"] = total / n_iwae
        out["iwae_k"] = float(iwae_k)
        out["iwae_n"] = float(n_iwae)
        if model.config.likelihood == "gaussian":
            d = images[0].numel()
            out["bits_per_dim"] = (-out["iwae_log_likelihood"] + d * math.log(256)) / (d * math.log(2))
    out["n_images"] = float(n)
    return out


@torch.no_grad()
def evaluate_autoencoder(model: Autoencoder, images: Tensor, batch_size: int = 1000) -> dict[str, float]:
    """Test-set mean squared reconstruction error per image ``||x - D(E(x))||^2`` (on clean inputs)."""
    model.eval()
    device = next(model.parameters()).device
    total = sum(model.anomaly_score(images[sl].to(device)).sum().item() for sl in _batches(images.shape[0], batch_size))
    return {"recon_mse": total / images.shape[0], "n_images": float(images.shape[0])}
