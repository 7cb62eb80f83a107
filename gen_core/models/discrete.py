"""Discrete latent variables, all of the family in one file: the VQ-VAE and the Gumbel-softmax dVAE.

Lecture notes 002 (Isachenko, MIPT lecture 7, "Discrete VAE latent representations", "Vector quantization",
"Gumbel-softmax trick"); MODELS.md "Discrete latents".

- **VQ-VAE** (van den Oord et al. 2017). The encoder maps x to a grid of vectors z_e (here 7 x 7 vectors of
  ``code_dim`` numbers); the posterior is deterministic, the nearest codebook vector
  ``z_q = e_k, k = argmin_j ||z_e - e_j||`` at every grid position. The argmin has no gradient, so the decoder's
  gradient is copied onto z_e (straight-through estimator, ``z_q = z_e + sg[e_k - z_e]``). The notes omit the
  codebook and commitment terms; we use the paper's loss
  ``-log p(x|z_q) + ||sg[z_e] - e||^2 + beta_c ||z_e - sg[e]||^2`` with beta_c = 0.25 (gradient-based codebook
  updates, no EMA). With a uniform prior over the K codes the KL term is the constant ``log K`` per position.
  To keep the 512-entry codebook in use we (a) initialise it from encoder outputs of the first training batch and
  (b) restart dead codes to random encoder outputs of the current batch every ``restart_every`` steps (a code is
  dead when its running usage falls below ``restart_threshold`` selections per batch); both as in e.g.
  Dhariwal et al. 2020 (Jukebox) and Zeghidour et al. 2021 (SoundStream). (c) By default the lookup is on
  l2-normalised vectors (Yu et al. 2021, ViT-VQGAN): z_e and every code are projected onto the unit sphere before
  the nearest-neighbour search, so squared distances lie in [0, 4] and the commitment term cannot run away.
  Measured here: without it, a 512 x 16 codebook collapsed to 14 codes in use within 60 steps while the
  commitment term grew from 2e2 to 5e4.
- **dVAE** (Rolfe 2017; relaxation of Jang, Gu & Poole 2016 and Maddison et al. 2016). N categorical latents of K
  categories with a uniform prior; the encoder gives logits, training uses Gumbel-softmax relaxed one-hot samples
  at a temperature annealed by ``tau_t = max(tau_min, tau_0 exp(-r t))`` (Jang et al. 2016), and the KL to the
  uniform categorical prior in closed form, ``KL = sum_k q_k log q_k + log K`` per latent. The evaluation ELBO
  decodes hard (Gumbel-max) samples, so it is a true lower bound on log p(x) of the discrete model.

Data convention as in :mod:`gen_core.models.vae`: images in [0, 1]; a Bernoulli decoder trains on stochastically
binarised pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_core import losses
from gen_core.hub import HubModule
from gen_core.models.vae import preprocess_images
from gen_core.nn import ConvDecoder28, ConvEncoder28
from gen_core.theory.gumbel import TINY, gumbel_softmax

# ----------------------------------------------------------------------------------------------------------------
# Pure functions: vector quantisation


def nearest_code(z: Tensor, codebook: Tensor) -> Tensor:
    """Index of the nearest codebook row for each vector: ``argmin_j ||z_i - e_j||^2``.

    ``z`` (N, D), ``codebook`` (K, D) -> (N,) long. Uses ``||z||^2 - 2 z.e + ||e||^2`` (one matrix product).
    """
    if z.ndim != 2 or codebook.ndim != 2 or z.shape[1] != codebook.shape[1]:
        raise ValueError(f"nearest_code needs z (N, D) and codebook (K, D); got {tuple(z.shape)}, {tuple(codebook.shape)}")
    d = z.pow(2).sum(1, keepdim=True) - 2 * z @ codebook.t() + codebook.pow(2).sum(1)  # (N, K)
    return d.argmin(dim=1)


def straight_through_quantize(z_e: Tensor, z_q: Tensor) -> Tensor:
    """``z_e + sg[z_q - z_e]``: the value of z_q in the forward pass, the identity gradient onto z_e backwards
    (van den Oord et al. 2017, lecture notes 002)."""
    return z_e + (z_q - z_e).detach()


def vq_loss_terms(z_e: Tensor, z_q: Tensor) -> tuple[Tensor, Tensor]:
    """Codebook and commitment terms per example: ``||sg[z_e] - e||^2`` and ``||z_e - sg[e]||^2``.

    ``z_e``, ``z_q`` (B, ...) -> two (B,) tensors, squared errors summed over all non-batch dimensions (every grid
    position and code dimension). The first moves only the codebook, the second only the encoder; the VQ-VAE loss
    weighs the second by beta_c (MODELS.md: beta_c = 0.25).
    """
    codebook = (z_e.detach() - z_q).pow(2).flatten(1).sum(1)
    commitment = (z_e - z_q.detach()).pow(2).flatten(1).sum(1)
    return codebook, commitment


def code_counts(indices: Tensor, codebook_size: int) -> Tensor:
    """How often each of the K codes is selected among ``indices`` (any shape) -> (K,) long."""
    return torch.bincount(indices.reshape(-1).long(), minlength=codebook_size)


def codebook_usage(counts: Tensor) -> float:
    """Share of codes selected at least once: ``#{k: n_k > 0} / K``."""
    return float((counts > 0).sum()) / counts.numel()


def codebook_perplexity(counts: Tensor) -> float:
    """``exp(H(p))`` with ``p_k = n_k / sum n``: the effective number of codes in use (K when all are equally used,
    1 when one code takes everything)."""
    if counts.sum() <= 0:
        raise ValueError("codebook_perplexity needs at least one selected code")
    p = counts.double() / counts.sum()
    nz = p[p > 0]
    return float(torch.exp(-(nz * nz.log()).sum()))


# ----------------------------------------------------------------------------------------------------------------
# Pure functions: categorical latents


def temperature(step: int, tau0: float, tau_min: float, rate: float) -> float:
    """Annealed Gumbel-softmax temperature ``tau_t = max(tau_min, tau_0 exp(-r t))`` (Jang et al. 2016).

    >>> temperature(0, 1.0, 0.5, 1e-3), round(temperature(10_000, 1.0, 0.5, 1e-3), 3)
    (1.0, 0.5)
    """
    if not (tau0 > 0 and tau_min > 0 and rate >= 0):
        raise ValueError(f"need tau0 > 0, tau_min > 0 and rate >= 0; got {tau0}, {tau_min}, {rate}")
    return max(tau_min, tau0 * math.exp(-rate * step))


def kl_categorical_uniform(logits: Tensor) -> Tensor:
    """``KL(q || Uniform(K)) = sum_k q_k log q_k + log K``, q = softmax(logits) over the last dim; shape (...)
    (the last dimension reduced). 0 when q is uniform, log K when q is one-hot."""
    k = logits.shape[-1]
    log_q = F.log_softmax(logits, dim=-1)
    return (log_q.exp() * log_q).sum(-1) + math.log(k)


def gumbel_noise_like(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Gumbel(0, 1) noise of the shape, dtype and device of ``logits``: ``-log(-log u)``, u ~ U(0, 1)."""
    u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    u = u.clamp(TINY, 1.0 - torch.finfo(logits.dtype).eps)
    return -torch.log(-torch.log(u))


# ----------------------------------------------------------------------------------------------------------------
# VQ-VAE


@dataclass
class VQVAEConfig:
    """VQ-VAE for 28x28 images: a 7 x 7 grid of codes from a codebook of ``codebook_size`` x ``code_dim``."""

    model_type: str = "vqvae"
    codebook_size: int = 512          # K; the target is >= 50% of 512 codes used on the test set
    code_dim: int = 16                # D; low-dimensional codes are easier to keep in use (Yu et al. 2021)
    channels: int = 32                # width of the first conv; the second has twice as many
    beta_c: float = 0.25              # commitment weight of van den Oord et al. 2017 (MODELS.md)
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    codebook_norm: Literal["l2", "none"] = "l2"  # l2: look up on the unit sphere (Yu et al. 2021); none: raw
    restart_every: int = 100          # steps between dead-code restarts; 0 disables them
    restart_threshold: float = 0.03   # running mean selections per batch below which a code counts as dead
    usage_decay: float = 0.9          # decay of that running mean (per step)


class VQVAE(HubModule):
    """``x -> z_e (B, D, 7, 7) -> nearest codes -> decoder``; see the module docstring."""

    config_class = VQVAEConfig
    grid = 7                          # 28 -> 14 -> 7

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        if config.codebook_size < 2 or config.code_dim < 1:
            raise ValueError(f"need codebook_size >= 2 and code_dim >= 1; got {config.codebook_size}, {config.code_dim}")
        if config.likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {config.likelihood!r}")
        if config.beta_c < 0:
            raise ValueError(f"beta_c must be >= 0, got {config.beta_c}")
        if config.codebook_norm not in ("l2", "none"):
            raise ValueError(f"codebook_norm must be 'l2' or 'none', got {config.codebook_norm!r}")
        self.config = config
        c = config.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c, 4, stride=2, padding=1), nn.SiLU(),                 # (B, c, 14, 14)
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.SiLU(),             # (B, 2c, 7, 7)
            nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.SiLU(),
            nn.Conv2d(2 * c, config.code_dim, 1),                               # (B, D, 7, 7)
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(config.code_dim, 2 * c, 3, padding=1), nn.SiLU(),         # (B, 2c, 7, 7)
            nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.SiLU(),    # (B, c, 14, 14)
            nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1),                   # (B, 1, 28, 28) logits / means
        )
        self.codebook = nn.Parameter(torch.randn(config.codebook_size, config.code_dim) / config.code_dim ** 0.5)
        self.register_buffer("usage_ema", torch.ones(config.codebook_size))
        self.register_buffer("initialised", torch.zeros(1))   # 1 once the codebook was set from encoder outputs
        self.decoder_logvar = nn.Parameter(torch.full((1,), -3.0)) if config.likelihood == "gaussian" else None

    @property
    def n_codes(self) -> int:
        """Code positions per image (7 x 7 = 49)."""
        return self.grid * self.grid

    def encode_continuous(self, x: Tensor) -> Tensor:
        """(B, 1, 28, 28) -> encoder outputs z_e (B, D, 7, 7), unit vectors along D when ``codebook_norm='l2'``."""
        z_e = self.encoder(x)
        return F.normalize(z_e, dim=1) if self.config.codebook_norm == "l2" else z_e

    def codes(self) -> Tensor:
        """The codebook as the lookup sees it: (K, D), rows l2-normalised when ``codebook_norm='l2'``."""
        return F.normalize(self.codebook, dim=1) if self.config.codebook_norm == "l2" else self.codebook

    def quantize(self, z_e: Tensor) -> tuple[Tensor, Tensor]:
        """z_e (B, D, H, W) -> (indices (B, H, W), z_q (B, D, H, W) = the nearest codebook vectors)."""
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)                           # (B*H*W, D)
        book = self.codes()
        idx = nearest_code(flat, book)
        z_q = book[idx].view(b, h, w, d).permute(0, 3, 1, 2)
        return idx.view(b, h, w), z_q

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """(B, 1, 28, 28) in [0, 1] -> code indices (B, 7, 7)."""
        return self.quantize(self.encode_continuous(x))[0]

    def decode_logits(self, z_q: Tensor) -> Tensor:
        """Quantised codes (B, D, 7, 7) -> decoder outputs (B, 1, 28, 28) before the sigmoid."""
        return self.decoder(z_q)

    @torch.no_grad()
    def decode_indices(self, indices: Tensor) -> Tensor:
        """Code indices (B, 7, 7) -> mean images (B, 1, 28, 28) in [0, 1]."""
        if indices.min() < 0 or indices.max() >= self.config.codebook_size:
            raise ValueError(f"code indices must lie in [0, {self.config.codebook_size})")
        z_q = self.codes()[indices.long()].permute(0, 3, 1, 2)
        return torch.sigmoid(self.decode_logits(z_q))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """``D(z_q(x))``: mean images (B, 1, 28, 28) in [0, 1]."""
        return self.decode_indices(self.encode(x))

    def codebook_usage(self, indices: Tensor) -> Tensor:
        """Selections per code among ``indices`` -> (K,) counts (see :func:`codebook_usage` for the share)."""
        return code_counts(indices, self.config.codebook_size)

    def recon_nll(self, x: Tensor, out: Tensor) -> Tensor:
        """``-log p(x|z_q)`` per image from decoder outputs ``out``; (B,), nats."""
        if self.config.likelihood == "bernoulli":
            return losses.bernoulli_nll(out, x)
        return losses.gaussian_nll(torch.sigmoid(out), self.decoder_logvar, x)

    def preprocess(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Images in [0, 1] -> the likelihood's support (binarised or dequantised)."""
        return preprocess_images(x, self.config.likelihood, generator)

    @torch.no_grad()
    def _init_codebook(self, z_e: Tensor) -> None:
        """Set the codebook to random encoder outputs of the first batch (with replacement if too few)."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        k = self.config.codebook_size
        pick = torch.randperm(flat.shape[0], device=flat.device)[:k] if flat.shape[0] >= k else \
            torch.randint(0, flat.shape[0], (k,), device=flat.device)
        self.codebook.data.copy_(flat[pick])
        self.initialised.fill_(1.0)

    @torch.no_grad()
    def _track_and_restart(self, z_e: Tensor, idx: Tensor, step: int) -> None:
        """Update the running usage; every ``restart_every`` steps move dead codes onto random encoder outputs."""
        cfg = self.config
        counts = code_counts(idx, cfg.codebook_size).to(self.usage_ema.dtype)
        self.usage_ema.mul_(cfg.usage_decay).add_((1 - cfg.usage_decay) * counts)
        if cfg.restart_every <= 0 or step <= 0 or step % cfg.restart_every:
            return
        dead = (self.usage_ema < cfg.restart_threshold).nonzero().flatten()
        if dead.numel() == 0:
            return
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        pick = torch.randint(0, flat.shape[0], (dead.numel(),), device=flat.device)
        self.codebook.data[dead] = flat[pick]
        self.usage_ema[dead] = 1.0       # give restarted codes a grace period

    def loss_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Per-image terms (B,): reconstruction NLL, codebook and commitment terms; also the indices."""
        z_e = self.encode_continuous(x)
        idx, z_q = self.quantize(z_e)
        out = self.decode_logits(straight_through_quantize(z_e, z_q))
        codebook, commitment = vq_loss_terms(z_e, z_q)
        return {"recon": self.recon_nll(x, out), "codebook": codebook, "commitment": commitment,
                "indices": idx, "z_e": z_e}

    def forward(self, x: Tensor, step: int = 0) -> dict[str, Tensor]:
        """Training objective: ``recon + ||sg[z_e] - e||^2 + beta_c ||z_e - sg[e]||^2`` averaged over the batch."""
        if self.training and not bool(self.initialised):
            self._init_codebook(self.encode_continuous(x).detach())
        t = self.loss_terms(x)
        loss = (t["recon"] + t["codebook"] + self.config.beta_c * t["commitment"]).mean()
        if self.training:
            self._track_and_restart(t["z_e"].detach(), t["indices"], step)
        usage = codebook_usage(code_counts(t["indices"], self.config.codebook_size))
        return {"loss": loss, "recon": t["recon"].detach().mean(), "codebook": t["codebook"].detach().mean(),
                "commitment": t["commitment"].detach().mean(), "batch_usage": torch.tensor(usage)}


# ----------------------------------------------------------------------------------------------------------------
# dVAE


@dataclass
class DVAEConfig:
    """dVAE for 28x28 images: ``n_latents`` categorical latents of ``n_categories`` each, uniform prior."""

    model_type: str = "dvae"
    n_latents: int = 20               # N; Jang et al. 2016 use 30 x 10 on MNIST
    n_categories: int = 10            # K
    channels: int = 32
    hidden: int = 256
    likelihood: Literal["bernoulli"] = "bernoulli"
    tau0: float = 1.0                 # initial temperature (Jang et al. 2016)
    tau_min: float = 0.5              # floor of the schedule (Jang et al. 2016)
    anneal_rate: float = 3e-4         # r in tau_t = max(tau_min, tau0 exp(-r t)): reaches 0.5 after ~2,300 steps
    estimator: Literal["relaxed", "straight_through"] = "relaxed"  # what the decoder sees during training


class DVAE(HubModule):
    """Discrete VAE with Gumbel-softmax relaxed categorical latents; see the module docstring."""

    config_class = DVAEConfig

    def __init__(self, config: DVAEConfig) -> None:
        super().__init__()
        if config.n_latents < 1 or config.n_categories < 2:
            raise ValueError(f"need n_latents >= 1 and n_categories >= 2; got {config.n_latents}, {config.n_categories}")
        if config.likelihood != "bernoulli":
            raise ValueError(f"the dVAE has a Bernoulli decoder only, got likelihood {config.likelihood!r}")
        if config.estimator not in ("relaxed", "straight_through"):
            raise ValueError(f"estimator must be 'relaxed' or 'straight_through', got {config.estimator!r}")
        temperature(0, config.tau0, config.tau_min, config.anneal_rate)   # validates the schedule
        self.config = config
        n_in = config.n_latents * config.n_categories
        self.encoder = ConvEncoder28(n_in, config.channels, config.hidden)
        self.decoder = ConvDecoder28(n_in, config.channels, config.hidden)

    def temperature(self, step: int) -> float:
        """The schedule's temperature at ``step``."""
        cfg = self.config
        return temperature(step, cfg.tau0, cfg.tau_min, cfg.anneal_rate)

    def encode(self, x: Tensor) -> Tensor:
        """(B, 1, 28, 28) -> logits of q(z|x), (B, N, K)."""
        return self.encoder(x).view(x.shape[0], self.config.n_latents, self.config.n_categories)

    def sample_latents(self, logits: Tensor, tau: float, hard: Literal["relaxed", "straight_through", "gumbel_max"]
                       = "relaxed", generator: torch.Generator | None = None) -> Tensor:
        """Samples of q(z|x) as points of the simplex, same shape as ``logits`` (..., K).

        ``relaxed``: Gumbel-softmax ``softmax((logits + g) / tau)``; ``straight_through``: its one-hot argmax in the
        forward pass with the relaxed gradient; ``gumbel_max``: the exact one-hot sample ``argmax(logits + g)``.
        """
        g = gumbel_noise_like(logits, generator)
        soft = gumbel_softmax(logits, tau, gumbel=g) if hard != "gumbel_max" else None
        if hard == "relaxed":
            return soft
        one_hot = F.one_hot((logits + g).argmax(-1), logits.shape[-1]).to(logits.dtype)
        if hard == "gumbel_max":
            return one_hot
        if hard == "straight_through":
            return one_hot - soft.detach() + soft
        raise ValueError(f"hard must be 'relaxed', 'straight_through' or 'gumbel_max', got {hard!r}")

    def decode_logits(self, z: Tensor) -> Tensor:
        """Latents on the simplex (B, N, K) -> decoder logits (B, 1, 28, 28)."""
        return self.decoder(z.reshape(z.shape[0], -1))

    def decode(self, z: Tensor) -> Tensor:
        """Latents (B, N, K) -> mean images (B, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode ``n`` draws from the uniform categorical prior: mean images (n, 1, 28, 28)."""
        device = next(self.parameters()).device
        cfg = self.config
        idx = torch.randint(0, cfg.n_categories, (n, cfg.n_latents), generator=generator).to(device)
        return self.decode(F.one_hot(idx, cfg.n_categories).float())

    def preprocess(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Images in [0, 1] -> binarised pixels for the Bernoulli decoder."""
        return preprocess_images(x, self.config.likelihood, generator)

    def elbo_terms(self, x: Tensor, tau: float, hard: Literal["relaxed", "straight_through", "gumbel_max"]
                   = "gumbel_max", generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Per-image reconstruction NLL, KL to the uniform prior and ELBO (one sample), each (B,).

        With ``hard="gumbel_max"`` the decoder sees an exact categorical sample and the ELBO is a true lower bound
        on log p(x) of the discrete model; with the relaxed sample it is the training surrogate.
        """
        logits = self.encode(x)
        z = self.sample_latents(logits, tau, hard, generator)
        recon = losses.bernoulli_nll(self.decode_logits(z), x)
        kl = kl_categorical_uniform(logits).sum(-1)
        return {"recon": recon, "kl": kl, "elbo": -(recon + kl)}

    def forward(self, x: Tensor, step: int = 0) -> dict[str, Tensor]:
        """Training objective: the negative relaxed ELBO at the scheduled temperature, averaged over the batch."""
        tau = self.temperature(step)
        terms = self.elbo_terms(x, tau, self.config.estimator)
        loss = losses.negative_elbo(terms["recon"], terms["kl"]).mean()
        return {"loss": loss, **{k: v.detach().mean() for k, v in terms.items()}, "tau": torch.tensor(tau)}
