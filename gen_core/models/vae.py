"""Autoencoders and variational autoencoders for 28x28 images, all of the family in one file.

- Autoencoder, trained on ``||x - D(E(x))||^2`` (lecture notes 001, Ryu SNU ch. 5, "Autoencoder"); with
  ``corruption`` set it is the denoising autoencoder of Vincent et al. (2010), and ``anomaly_score`` is the
  ``s(x) = ||x - D(E(x))||^2`` of seed 001.
- VAE: Gaussian encoder ``q(z|x) = N(mu(x), diag sigma^2(x))`` with the reparameterisation
  ``z = mu + sigma * eps`` (seed 000 2.5.3, 003, 004); Bernoulli or Gaussian decoder; beta-VAE weight on the KL
  (seed 000 A.3.2, 001) with an optional linear KL-annealing ramp from 0 (seed 000); the IWAE bound as an
  importance-sampled estimate of ``log p(x)`` (seed 001, 004; Burda et al. 2016).

Data convention: images are floats in [0, 1]. ``preprocess`` turns them into what the likelihood is defined on:
a Bernoulli decoder sees stochastically binarised pixels (so its likelihood is an exact discrete one and its
mean image estimates the grey level); a Gaussian decoder sees uniformly dequantised pixels ``(255 x + u) / 256``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from gen_core import losses
from gen_core.hub import HubModule
from gen_core.nn import ConvDecoder28, ConvDecoder64, ConvEncoder28, ConvEncoder64


def preprocess_images(x: Tensor, likelihood: str, generator: torch.Generator | None = None) -> Tensor:
    """Map images in [0, 1] onto the support of the likelihood: binarise (Bernoulli) or dequantise (Gaussian)."""
    if likelihood == "bernoulli":
        return torch.bernoulli(x, generator=generator)
    if likelihood == "gaussian":
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x * 255.0 + u) / 256.0
    if likelihood == "none":
        return x
    raise ValueError(f"unknown likelihood {likelihood!r}; choose 'bernoulli' or 'gaussian'")


def kl_weight(step: int, beta: float, schedule: str, warmup_steps: int, *, beta_start: float = 1.0,
              hold_steps: int = 0, decay_steps: int = 0) -> float:
    """KL weight at ``step``: ``beta`` (constant), ``beta * min(1, step / warmup_steps)`` (linear annealing, seed
    000), or ``beta_start`` falling to ``beta`` (decay, :func:`beta_decay` with ``hold_steps`` and ``decay_steps``)."""
    if schedule == "decay":
        return beta_decay(step, beta_start, beta, hold_steps, decay_steps)
    if schedule == "constant" or (schedule == "linear" and warmup_steps <= 0):
        return beta
    if schedule == "linear":
        return beta * min(1.0, step / warmup_steps)
    raise ValueError(f"unknown KL schedule {schedule!r}; choose 'constant', 'linear' or 'decay'")


def beta_decay(step: int, beta_start: float, beta_end: float, hold_steps: int, decay_steps: int) -> float:
    """KL weight of a beta that starts high and decays: ``beta_start`` for the first ``hold_steps`` steps, then
    geometric interpolation ``beta_start^(1-s) * beta_end^s`` with ``s = (step - hold_steps) / decay_steps`` rising
    0 -> 1, then ``beta_end``. The idea of AnnealedVAE (Burgess et al. 2018) on the weight instead of the capacity:
    under strong KL pressure only the factors worth the most reconstruction are coded, one per dim, and the code
    widens as the pressure falls (seed 000 A.3.2 for beta itself). Both betas must be > 0."""
    if beta_start <= 0 or beta_end <= 0:
        raise ValueError(f"beta_decay needs beta_start and beta_end > 0, got {beta_start} and {beta_end}")
    if hold_steps < 0 or decay_steps < 0:
        raise ValueError(f"hold_steps and decay_steps must be >= 0, got {hold_steps} and {decay_steps}")
    if step < hold_steps:
        return beta_start
    if decay_steps == 0 or step >= hold_steps + decay_steps:
        return beta_end
    s = (step - hold_steps) / decay_steps
    return beta_start ** (1.0 - s) * beta_end ** s


def kl_capacity(step: int, capacity_max: float, ramp_steps: int) -> float:
    """AnnealedVAE's target capacity at ``step``: ``C_max * min(1, step / ramp_steps)`` nats, linear from 0 (Burgess
    et al. 2018; disentanglement_lib: ``min(c_max * step / iteration_threshold, c_max)``); ``C_max`` when
    ``ramp_steps <= 0``."""
    if ramp_steps <= 0:
        return capacity_max
    return capacity_max * min(1.0, step / ramp_steps)


@dataclass
class AutoencoderConfig:
    """Deterministic (optionally denoising) convolutional autoencoder for 28x28 images."""

    model_type: str = "autoencoder"
    latent_dim: int = 16
    channels: int = 32                 # width of the first conv; the second has twice as many
    hidden: int = 256                  # width of the fully connected layer between convs and code
    corruption: Literal["none", "gaussian", "masking"] = "none"  # "none": plain AE; else denoising AE
    noise_level: float = 0.3           # Gaussian noise std, or the fraction of pixels masked to 0


class Autoencoder(HubModule):
    """``x -> E(x) -> D(E(x))``; trained on squared error, from corrupted inputs when denoising."""

    config_class = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        if config.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {config.latent_dim}")
        if not 0.0 <= config.noise_level <= (1.0 if config.corruption == "masking" else 10.0):
            raise ValueError(f"noise_level {config.noise_level} is out of range for corruption {config.corruption!r}")
        self.config = config
        self.encoder = ConvEncoder28(config.latent_dim, config.channels, config.hidden)
        self.decoder = ConvDecoder28(config.latent_dim, config.channels, config.hidden)

    def encode(self, x: Tensor) -> Tensor:
        """(B, 1, 28, 28) in [0, 1] -> code (B, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """(B, latent_dim) -> image (B, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    def corrupt(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The denoising AE's corruption of x (Vincent et al. 2010): additive Gaussian noise or random masking."""
        cfg = self.config
        if cfg.corruption == "none":
            return x
        if cfg.corruption == "gaussian":
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            return (x + cfg.noise_level * noise).clamp(0.0, 1.0)
        keep = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) >= cfg.noise_level
        return x * keep

    def reconstruct(self, x: Tensor) -> Tensor:
        """``D(E(x))``."""
        return self.decode(self.encode(x))

    def anomaly_score(self, x: Tensor) -> Tensor:
        """``s(x) = ||x - D(E(x))||^2`` per image (seed 001, "Anomaly/outlier detection"); shape (B,)."""
        return losses.squared_error(x, self.reconstruct(x))

    def preprocess(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Autoencoders train on the grey levels as they are."""
        return x

    def forward(self, x: Tensor, step: int = 0) -> dict[str, Tensor]:
        """Training objective: mean squared reconstruction error of the (corrupted) input against the clean x."""
        recon = losses.squared_error(x, self.reconstruct(self.corrupt(x))).mean()
        return {"loss": recon, "recon": recon.detach()}


@dataclass
class VAEConfig:
    """Convolutional VAE for 28x28 images (a beta-VAE when beta != 1)."""

    model_type: str = "vae"
    latent_dim: int = 16
    architecture: Literal["conv28", "conv64"] = "conv28"  # conv64: disentanglement_lib's net for 64x64 dSprites
    channels: int = 32                 # conv28 only: width of the first conv; the second has twice as many
    hidden: int = 256
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    gaussian_logvar: float | None = None  # fixed decoder log-variance; None learns one shared scalar
    beta: float = 1.0                  # weight on the KL term; 1 is the ELBO, > 1 the beta-VAE of seed 000 A.3.2
    kl_schedule: Literal["constant", "linear", "decay"] = "constant"
    kl_warmup_steps: int = 0           # linear annealing: the KL weight ramps 0 -> beta over these steps
    # decay (beta_decay): the KL weight is beta_start for beta_hold_steps steps, then falls geometrically to beta
    # over beta_decay_steps steps; beta is the weight the model ends at
    beta_start: float = 1.0
    beta_hold_steps: int = 0
    beta_decay_steps: int = 0
    # beta_tcvae (Chen et al. 2018): beta weighs only the total correlation of the aggregate posterior, the rest of
    # the KL keeps weight 1; the TC is estimated on each batch, the batch standing for the population
    # (losses.total_correlation with dataset_size=None: 0 for a factorised q; Chen et al.'s N would only add the
    # constant (D - 1) log N to the logged value and the loss, not to the gradient)
    # annealed_vae (Burgess et al. 2018, disentanglement_lib's AnnealedVAE): the loss is recon + beta |KL - C| with
    # beta in the role of their gamma and the capacity C raised linearly from 0 to capacity_max nats over
    # capacity_steps steps (kl_capacity); their dSprites setting: gamma = 1000, C_max = 25, 100,000 steps
    objective: Literal["beta_vae", "beta_tcvae", "annealed_vae"] = "beta_vae"
    capacity_max: float = 25.0
    capacity_steps: int = 100_000

    # settings of the objective, not of the network: a run started from trained weights (--init-from) may change them
    TRAINING_ONLY: ClassVar[tuple[str, ...]] = ("beta", "kl_schedule", "kl_warmup_steps", "objective", "capacity_max",
                                                "capacity_steps", "beta_start", "beta_hold_steps", "beta_decay_steps")

    @staticmethod
    def settings_in_use(config: Mapping[str, Any]) -> set[str]:
        """The ``TRAINING_ONLY`` fields that shape the loss of a config (a dict, as in config.json): the schedule's
        own fields only under that schedule, the capacity only for the AnnealedVAE objective."""
        used = {"beta", "kl_schedule", "objective"}
        used |= {"kl_warmup_steps"} if config.get("kl_schedule") == "linear" else set()
        used |= {"beta_start", "beta_hold_steps", "beta_decay_steps"} if config.get("kl_schedule") == "decay" else set()
        used |= {"capacity_max", "capacity_steps"} if config.get("objective") == "annealed_vae" else set()
        return used


class VAE(HubModule):
    """Variational autoencoder: ``encode`` gives ``(mu, logvar)``, ``decode`` the mean image, ``sample`` draws images."""

    config_class = VAEConfig

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        if config.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {config.latent_dim}")
        if config.likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {config.likelihood!r}")
        if config.beta < 0:
            raise ValueError(f"beta must be >= 0, got {config.beta}")
        if config.objective not in ("beta_vae", "beta_tcvae", "annealed_vae"):
            raise ValueError("objective must be 'beta_vae', 'beta_tcvae' or 'annealed_vae', got "
                             f"{config.objective!r}")
        if config.objective == "beta_tcvae" and config.kl_schedule != "constant":
            raise ValueError("the beta-TCVAE objective weighs the total correlation by beta from the first step; "
                             "use kl_schedule='constant' with it")
        if config.objective == "annealed_vae" and config.kl_schedule != "constant":
            raise ValueError("the AnnealedVAE objective anneals the capacity C, not the KL weight; use "
                             "kl_schedule='constant' and set capacity_steps")
        if config.kl_schedule not in ("constant", "linear", "decay"):
            raise ValueError(f"kl_schedule must be 'constant', 'linear' or 'decay', got {config.kl_schedule!r}")
        self.config = config
        self.kl_weight_at(0)                            # a bad decay (a beta <= 0, negative steps) raises here
        if config.capacity_max < 0 or config.capacity_steps < 0:
            raise ValueError(f"capacity_max and capacity_steps must be >= 0, got {config.capacity_max} and "
                             f"{config.capacity_steps}")
        if config.architecture == "conv28":
            self.encoder = ConvEncoder28(2 * config.latent_dim, config.channels, config.hidden)
            self.decoder = ConvDecoder28(config.latent_dim, config.channels, config.hidden)
        elif config.architecture == "conv64":
            self.encoder = ConvEncoder64(2 * config.latent_dim, config.hidden)
            self.decoder = ConvDecoder64(config.latent_dim, config.hidden)
        else:
            raise ValueError(f"architecture must be 'conv28' or 'conv64', got {config.architecture!r}")
        if config.likelihood == "gaussian" and config.gaussian_logvar is None:
            self.decoder_logvar = nn.Parameter(torch.full((1,), -3.0))
        else:
            self.register_buffer("decoder_logvar", torch.full((1,), float(config.gaussian_logvar or 0.0)))

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def image_size(self) -> int:
        return 64 if self.config.architecture == "conv64" else 28

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 1, S, S) -> posterior mean and log-variance, each (B, latent_dim); S = 28, or 64 for conv64."""
        # float32 out even under bf16 autocast, so that the KL and the sampling stay in full precision
        mu, logvar = self.encoder(x).float().chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """(B, latent_dim) -> mean image (B, 1, S, S) in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode ``n`` draws from the prior N(0, I): mean images (n, 1, 28, 28)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.decode(z)

    def reparameterize(self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``z = mu + sigma * eps``, eps ~ N(0, I) (seed 000 2.5.3); eps from ``generator``, else the training
        loop's ``step_noise`` during a step of a ``private_noise`` run, else torch's global RNG."""
        generator = generator if generator is not None else self.step_noise
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def recon_nll(self, x: Tensor, z: Tensor) -> Tensor:
        """``-log p(x|z)`` per image for the configured decoder; shape (B,), nats."""
        out = self.decoder(z).float()  # the 4,096-pixel sum in float32 under bf16 autocast too
        if self.config.likelihood == "bernoulli":
            return losses.bernoulli_nll(out, x)
        return losses.gaussian_nll(torch.sigmoid(out), self.decoder_logvar, x)

    def preprocess(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Images in [0, 1] -> the likelihood's support (binarised or dequantised); see the module docstring."""
        return preprocess_images(x, self.config.likelihood, generator)

    def prior_log_prob(self, z: Tensor) -> Tensor:
        """``log p(z)`` under the prior N(0, I): codes (..., D) -> (...). A learned prior overrides this."""
        return losses.std_normal_log_prob(z)

    def elbo_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Per-image reconstruction NLL, KL and ELBO (one posterior sample), each shape (B,)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        recon = self.recon_nll(x, z)
        kl = losses.kl_normal_std_normal(mu, logvar)
        return {"recon": recon, "kl": kl, "elbo": -(recon + kl)}

    def kl_weight_at(self, step: int) -> float:
        """The beta-VAE objective's KL weight at ``step`` under the config's schedule (:func:`kl_weight`)."""
        cfg = self.config
        return kl_weight(step, cfg.beta, cfg.kl_schedule, cfg.kl_warmup_steps, beta_start=cfg.beta_start,
                         hold_steps=cfg.beta_hold_steps, decay_steps=cfg.beta_decay_steps)

    def forward(self, x: Tensor, step: int = 0) -> dict[str, Tensor]:
        """Training objective averaged over the batch: the negative (beta-weighted, possibly annealed) ELBO, or for
        ``objective="beta_tcvae"`` the negative ELBO plus (beta - 1) times the batch's total-correlation estimate,
        ``recon + KL + (beta - 1) TC`` (Chen et al. 2018: the KL's mutual-information and dimension-wise terms keep
        weight 1, its TC gets beta), as disentanglement_lib trains it; for ``objective="annealed_vae"``
        ``recon + beta |KL - C(step)|`` on the batch means (Burgess et al. 2018, :func:`kl_capacity`)."""
        cfg = self.config
        if cfg.objective == "beta_tcvae":
            mu, logvar = self.encode(x)
            z = self.reparameterize(mu, logvar)
            recon, kl = self.recon_nll(x, z), losses.kl_normal_std_normal(mu, logvar)
            tc = losses.total_correlation(z, mu, logvar)
            loss = (recon + kl).mean() + (cfg.beta - 1.0) * tc
            return {"loss": loss, "recon": recon.detach().mean(), "kl": kl.detach().mean(),
                    "elbo": -(recon + kl).detach().mean(), "tc": tc.detach()}
        terms = self.elbo_terms(x)
        if cfg.objective == "annealed_vae":
            capacity = kl_capacity(step, cfg.capacity_max, cfg.capacity_steps)
            kl = terms["kl"].mean()
            loss = terms["recon"].mean() + losses.kl_capacity_penalty(kl, capacity, cfg.beta)
            return {"loss": loss, **{k: v.detach().mean() for k, v in terms.items()},
                    "capacity": torch.tensor(capacity, device=x.device)}
        beta = self.kl_weight_at(step)
        loss = losses.negative_elbo(terms["recon"], terms["kl"], beta).mean()
        out = {"loss": loss, **{k: v.detach().mean() for k, v in terms.items()}}
        if cfg.kl_schedule == "decay":
            out["beta"] = torch.tensor(beta, device=x.device)
        return out

    @torch.no_grad()
    def iwae_log_likelihood(self, x: Tensor, k: int = 1000, chunk: int = 250) -> Tensor:
        """IWAE bound with ``k`` importance samples per image, shape (B,); ``k = 1`` is a one-sample ELBO.

        ``log p(x) >= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)`` (seed 001; Burda et al. 2016). Samples are drawn
        ``chunk`` at a time to bound memory.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        mu, logvar = self.encode(x)
        terms: list[tuple[Tensor, Tensor, Tensor]] = []
        for start in range(0, k, chunk):
            kk = min(chunk, k - start)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(kk, *mu.shape, device=mu.device)  # (kk, B, D)
            x_rep = x.unsqueeze(0).expand(kk, *x.shape).reshape(kk * x.shape[0], *x.shape[1:])
            log_px_z = -self.recon_nll(x_rep, z.reshape(-1, mu.shape[1])).view(kk, -1)
            terms.append((log_px_z, self.prior_log_prob(z), losses.normal_log_prob(z, mu, logvar)))
        log_px_z, log_pz, log_qz_x = (torch.cat(parts, dim=0) for parts in zip(*terms))  # each (K, B)
        return losses.iwae_bound(log_px_z, log_pz, log_qz_x)

    @torch.no_grad()
    def interpolate(self, x_a: Tensor, x_b: Tensor, steps: int = 8) -> Tensor:
        """Decode ``steps`` points on the straight line between the posterior means of two images.

        ``x_a``, ``x_b``: (1, 1, 28, 28). Returns (steps, 1, 28, 28); the ends are the two reconstructions.
        """
        if steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps}")
        mu_a, mu_b = self.encode(x_a)[0], self.encode(x_b)[0]
        t = torch.linspace(0.0, 1.0, steps, device=mu_a.device).unsqueeze(1)
        return self.decode((1 - t) * mu_a + t * mu_b)

    @torch.no_grad()
    def traverse(self, x: Tensor, values: Tensor, dims: list[int] | None = None) -> Tensor:
        """Latent traversal of one image (beta-VAE papers, Higgins et al. 2017; lecture notes 000 A.3.2).

        Encode ``x`` (1, 1, S, S) to its posterior mean mu, then for each latent dim d in ``dims`` (default: all,
        in order) and each value v in ``values`` (V,), decode mu with its d-th coordinate set to v. Returns
        (len(dims) * V, 1, S, S), row-major: one row per dim.
        """
        if x.ndim != 4 or x.shape[0] != 1:
            raise ValueError(f"traverse needs one image of shape (1, 1, S, S), got {tuple(x.shape)}")
        dims = list(range(self.latent_dim)) if dims is None else list(dims)
        if any(not 0 <= d < self.latent_dim for d in dims):
            raise ValueError(f"dims must lie in [0, {self.latent_dim}), got {dims}")
        device = next(self.parameters()).device
        mu = self.encode(x.to(device))[0][0]
        values = values.to(device=device, dtype=mu.dtype)
        z = mu.repeat(len(dims) * len(values), 1)
        for row, d in enumerate(dims):
            z[row * len(values):(row + 1) * len(values), d] = values
        return self.decode(z)

    @torch.no_grad()
    def decode_grid(self, n: int = 15, extent: float = 3.0) -> Tensor:
        """The decoded manifold of a 2-D latent: an ``n`` x ``n`` grid over [-extent, extent]^2, rows top to bottom
        from z2 = +extent. Returns (n * n, 1, 28, 28)."""
        if self.latent_dim != 2:
            raise ValueError(f"decode_grid needs a 2-D latent; this model has {self.latent_dim} dims")
        device = next(self.parameters()).device
        axis = torch.linspace(-extent, extent, n, device=device)
        z2, z1 = torch.meshgrid(axis.flip(0), axis, indexing="ij")
        return self.decode(torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1))
