"""Held-out metrics of the latent-variable models beyond the Gaussian VAE: CVAE, VQ-VAE, dVAE, flow-prior VAE.

Same protocol as :mod:`gen_core.metrics.likelihood`: the Fashion-MNIST test images are binarised once with the fixed
seed ``EVAL_SEED`` (the Bernoulli decoders train on fresh binarisations of the grey levels), posterior draws are
seeded, and every number is per image in nats unless it says otherwise.

- CVAE (lecture notes 000 A.2): conditional ELBO and IWAE bound on ``log p(x|y)`` with the true test label.
- VQ-VAE (002): reconstruction NLL, grey-level squared error, and codebook usage on the test set (share of the K
  codes selected at least once, and the perplexity ``exp H`` of the selection frequencies).
- dVAE (002): the ELBO with exact Gumbel-max samples of the categorical posterior (a true lower bound), KL to the
  uniform prior, and the squared error of the decoded posterior mode.
- Flow-prior VAE (002): :func:`gen_core.metrics.likelihood.evaluate_vae` plus the ELBO surgery terms of
  :func:`gen_core.metrics.surgery.elbo_surgery` (prefixed ``surgery_``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gen_core import losses
from gen_core.metrics.likelihood import EVAL_SEED, evaluate_vae
from gen_core.metrics.surgery import elbo_surgery
from gen_core.models.cvae import CVAE
from gen_core.models.discrete import DVAE, VQVAE, code_counts, codebook_perplexity, codebook_usage
from gen_core.models.vae import VAE, preprocess_images
from gen_core.threads import seeded

SURGERY_N = 2000  # held-out images that form q_agg in the surgery split (its log-density costs N per point)


def _slices(n: int, batch_size: int) -> list[slice]:
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate_cvae(model: CVAE, images: Tensor, labels: Tensor, iwae_k: int = 1000, iwae_n: int | None = 1000,
                  batch_size: int = 500) -> dict[str, float]:
    """Test-set conditional ELBO, KL, reconstruction NLL and IWAE bound on ``log p(x|y)`` (K = ``iwae_k`` on the first
    ``iwae_n`` images), and the grey-level squared error of ``D(mu(x, y), y)``. ``images`` (N, 1, 28, 28) in [0, 1],
    ``labels`` (N,) the true classes."""
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    with seeded(EVAL_SEED, restore=True):
        model.eval()
        dev = _device(model)
        data = preprocess_images(images, "bernoulli", torch.Generator().manual_seed(EVAL_SEED))
        sums = {"elbo": 0.0, "kl": 0.0, "recon_nll": 0.0, "recon_mse": 0.0}
        n = images.shape[0]
        for sl in _slices(n, batch_size):
            x, y = data[sl].to(dev), labels[sl].to(dev)
            t = model.elbo_terms(x, y)
            sums["elbo"] += t["elbo"].sum().item()
            sums["kl"] += t["kl"].sum().item()
            sums["recon_nll"] += t["recon"].sum().item()
            grey = images[sl].to(dev)
            mu, _ = model.encode(grey, y)
            sums["recon_mse"] += losses.squared_error(grey, model.decode(mu, y)).sum().item()
        out = {k: v / n for k, v in sums.items()}
        n_iwae = n if iwae_n is None else min(iwae_n, n)
        if iwae_k > 0 and n_iwae > 0:
            total = 0.0
            for sl in _slices(n_iwae, max(1, min(batch_size, 100_000 // iwae_k))):
                total += model.iwae_log_likelihood(data[sl].to(dev), labels[sl].to(dev), k=iwae_k).sum().item()
            out.update(iwae_log_likelihood=total / n_iwae, iwae_k=float(iwae_k), iwae_n=float(n_iwae))
        out["n_images"] = float(n)
        return out


@torch.no_grad()
def cvae_kl_per_dim(model: CVAE, images: Tensor, labels: Tensor, batch_size: int = 1000) -> Tensor:
    """Mean over images of ``KL(q(z_d|x, y) || N(0, 1))`` for each latent dim d, shape (D,), nats: which dims the
    conditional code uses (lecture notes 000 eq. 14, per dim)."""
    model.eval()
    dev = _device(model)
    total = torch.zeros(model.latent_dim)
    for sl in _slices(images.shape[0], batch_size):
        mu, logvar = model.encode(images[sl].to(dev), labels[sl].to(dev))
        total += losses.kl_normal_std_normal_per_dim(mu, logvar).sum(0).cpu()
    return total / images.shape[0]


@torch.no_grad()
def vqvae_test_usage(model: VQVAE, images: Tensor, batch_size: int = 1000) -> Tensor:
    """How often each of the K codes is selected over all 7 x 7 positions of ``images``: (K,) counts."""
    model.eval()
    dev = _device(model)
    counts = torch.zeros(model.config.codebook_size, dtype=torch.long)
    for sl in _slices(images.shape[0], batch_size):
        counts += code_counts(model.encode(images[sl].to(dev)).cpu(), model.config.codebook_size)
    return counts


@torch.no_grad()
def evaluate_vqvae(model: VQVAE, images: Tensor, batch_size: int = 1000) -> dict[str, float]:
    """Test-set reconstruction NLL (nats per image, binarised test images), the grey-level squared error of
    ``D(z_q(x))``, and codebook usage: ``codebook_usage`` (share of the K codes used at least once over all positions
    of all test images; the issue's target is >= 0.5 of 512), ``codebook_perplexity`` and ``codes_used``."""
    model.eval()
    dev = _device(model)
    data = preprocess_images(images, model.config.likelihood, torch.Generator().manual_seed(EVAL_SEED))
    nll = mse = 0.0
    for sl in _slices(images.shape[0], batch_size):
        x = data[sl].to(dev)
        t = model.loss_terms(x)
        nll += t["recon"].sum().item()
        grey = images[sl].to(dev)
        mse += losses.squared_error(grey, model.reconstruct(grey)).sum().item()
    counts = vqvae_test_usage(model, images, batch_size)
    n = images.shape[0]
    return {"recon_nll": nll / n, "recon_mse": mse / n, "codebook_usage": codebook_usage(counts),
            "codebook_perplexity": codebook_perplexity(counts), "codes_used": float((counts > 0).sum()),
            "codebook_size": float(model.config.codebook_size), "n_images": float(n)}


@torch.no_grad()
def evaluate_dvae(model: DVAE, images: Tensor, batch_size: int = 500) -> dict[str, float]:
    """Test-set ELBO with exact (Gumbel-max) categorical samples, KL to the uniform prior, reconstruction NLL, and
    the grey-level squared error of the decoded posterior mode (argmax of each categorical)."""
    model.eval()
    dev = _device(model)
    gen = torch.Generator().manual_seed(EVAL_SEED)
    data = preprocess_images(images, "bernoulli", gen)
    sums = {"elbo": 0.0, "kl": 0.0, "recon_nll": 0.0, "recon_mse": 0.0}
    for sl in _slices(images.shape[0], batch_size):
        x = data[sl].to(dev)
        t = model.elbo_terms(x, tau=1.0, hard="gumbel_max", generator=gen if dev.type == "cpu" else None)
        sums["elbo"] += t["elbo"].sum().item()
        sums["kl"] += t["kl"].sum().item()
        sums["recon_nll"] += t["recon"].sum().item()
        grey = images[sl].to(dev)
        logits = model.encode(grey)
        mode = F.one_hot(logits.argmax(-1), model.config.n_categories).float()
        sums["recon_mse"] += losses.squared_error(grey, model.decode(mode)).sum().item()
    n = images.shape[0]
    return {**{k: v / n for k, v in sums.items()}, "n_images": float(n)}


def evaluate_prior_vae(model: VAE, images: Tensor, iwae_k: int = 1000, iwae_n: int | None = 1000,
                       surgery_n: int = SURGERY_N) -> dict[str, Any]:
    """:func:`evaluate_vae` (ELBO, KL, IWAE, ...) plus the ELBO surgery split on the first ``surgery_n`` test images,
    with 4 posterior draws each, as ``surgery_*`` keys. Works for the Gaussian-prior VAE and the flow-prior VAE."""
    out: dict[str, Any] = evaluate_vae(model, images, iwae_k=iwae_k, iwae_n=iwae_n)
    terms = elbo_surgery(model, images[:surgery_n], n_samples=4).as_dict()
    out.update({f"surgery_{k}": v for k, v in terms.items()})
    return out
