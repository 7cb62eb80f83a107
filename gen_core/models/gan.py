"""Generative adversarial networks, the whole family in this single file: 2-D MLP GANs, DCGAN and the
class-conditional DCGAN, plus the closed-form theory the GAN tab explains.

A GAN pairs a generator ``G: z -> x``, z ~ N(0, I), with a discriminator (critic) ``D: x -> R`` that outputs an
unbounded score per example (a logit for the original GAN, a critic value for WGAN, ``V(x)`` for an f-GAN). The
objective is chosen by name (``loss``, one of :data:`gen_core.losses.GAN_LOSSES`) and its formulas live in
``gen_core.losses``; the alternation of the two players (simultaneous, alternating, n_critic) lives in
``gen_core.train.adversarial``. Models own no optimizers (STYLE.md 6).

    >>> gan = GAN2D(GAN2DConfig(hidden=64))
    >>> gan.sample(5).shape, gan.critic(torch.zeros(3, 2)).shape
    (torch.Size([5, 2]), torch.Size([3]))

Spectral normalisation (Miyato et al. 2018; notes 001 "Spectral normalization": ``W / sigma_max(W)`` with the
largest singular value from one power iteration per forward pass) is a layer option of every critic here
(``normalization="spectral"``).

References:
    Lecture notes 000 (Imperial) 3.3-3.4, B.2-B.3; 001 (Ryu, SNU ch. 5) "GAN", "f-GAN", "WGAN", "Spectral
    normalization"; 003 (Xu, ShanghaiTech lecture 14).
    I. Goodfellow et al. Generative adversarial nets. NeurIPS 2014.
    A. Radford, L. Metz, S. Chintala. Unsupervised representation learning with deep convolutional generative
    adversarial networks (DCGAN). ICLR 2016.
    M. Mirza, S. Osindero. Conditional generative adversarial nets. 2014.
    T. Miyato, T. Kataoka, M. Koyama, Y. Yoshida. Spectral normalization for generative adversarial networks. ICLR 2018.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from gen_core import losses
from gen_core.hub import HubModule

__all__ = [
    "GANLoss",
    "GAN2DConfig",
    "GAN2D",
    "data_scale_for",
    "DCGANConfig",
    "DCGAN",
    "critic_layer",
    "GaussianPairTheory",
    "gaussian_pair_theory",
    "generator_loss_curves",
]

GANLoss = Literal["minimax", "non_saturating", "lsgan", "hinge", "wgan_clip", "wgan_gp",
                  "fgan_kl", "fgan_reverse_kl", "fgan_pearson", "fgan_hellinger", "fgan_js"]
Normalization = Literal["none", "spectral"]


def critic_layer(layer: nn.Module, normalization: Normalization) -> nn.Module:
    """Wrap a critic's linear or conv layer: ``spectral`` divides its weight by its largest singular value,
    estimated by one power iteration per training forward pass (Miyato et al. 2018; notes 001)."""
    if normalization == "spectral":
        return spectral_norm(layer)
    if normalization == "none":
        return layer
    raise ValueError(f"unknown normalization {normalization!r}; choose 'none' or 'spectral'")


def _check_loss(loss: str) -> None:
    if loss not in losses.GAN_LOSSES:
        raise ValueError(f"unknown GAN loss {loss!r}; choose one of {', '.join(losses.GAN_LOSSES)}")


# --------------------------------------------------------------------------------------------------------------------
# 2-D GAN: MLP generator and critic for the toy mixtures (VEEGAN / PacGAN mode-coverage protocol)
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class GAN2DConfig:
    """An MLP GAN on 2-D points (ring, grid, two moons, ...)."""

    model_type: str = "gan2d"
    latent_dim: int = 2                # z ~ N(0, I_latent_dim); 2 is enough for 2-D data and draws a clean manifold
    hidden: int = 128                  # width of every hidden layer of G and D
    depth: int = 3                     # hidden layers of G and of D (PacGAN's ring/grid nets use 4 of width 400)
    loss: GANLoss = "non_saturating"   # the objective; its formulas are in gen_core.losses
    normalization: Normalization = "none"  # of the critic's linear layers ("spectral": Miyato et al. 2018)
    target: str = "ring"               # the toy target it was trained on (gen_core.data.toy2d), for cards and metrics
    target_std: float | None = None    # that target's component std (None: the target's default)
    data_scale: float = 1.0            # D sees x / data_scale and G's output is multiplied by it, so both nets work
                                       # with numbers of order 1 (the grid spans +-4: data_scale_for gives 4)


class GAN2D(HubModule):
    """``G``: z (latent_dim) -> ReLU MLP -> x (2); ``D``: x (2) -> LeakyReLU(0.2) MLP -> one unbounded score.

    ReLU makes G piecewise linear, so it can fold the Gaussian into separated modes with sharp seams; the leaky
    critic keeps a gradient everywhere.
    """

    config_class = GAN2DConfig

    def __init__(self, config: GAN2DConfig) -> None:
        super().__init__()
        _check_loss(config.loss)
        if config.latent_dim < 1 or config.hidden < 1 or config.depth < 1:
            raise ValueError(f"latent_dim, hidden and depth must be >= 1, got {config.latent_dim}, "
                             f"{config.hidden}, {config.depth}")
        self.config = config
        g: list[nn.Module] = []
        d: list[nn.Module] = []
        gi, di = config.latent_dim, 2
        for _ in range(config.depth):
            g += [nn.Linear(gi, config.hidden), nn.ReLU()]
            d += [critic_layer(nn.Linear(di, config.hidden), config.normalization), nn.LeakyReLU(0.2)]
            gi = di = config.hidden
        g.append(nn.Linear(gi, 2))
        d.append(critic_layer(nn.Linear(di, 1), config.normalization))
        self.generator = nn.Sequential(*g)
        self.discriminator = nn.Sequential(*d)

    @property
    def latent_dim(self) -> int:
        """Dimension of z."""
        return self.config.latent_dim

    def generate(self, z: Tensor) -> Tensor:
        """``G(z)``: (B, latent_dim) -> (B, 2)."""
        out = self.generator(z)
        return out if self.config.data_scale == 1.0 else out * self.config.data_scale

    def critic(self, x: Tensor) -> Tensor:
        """``D(x)``: (B, 2) -> (B,) unbounded scores (logit, critic value or f-GAN ``V(x)``)."""
        if self.config.data_scale != 1.0:
            x = x / self.config.data_scale
        return self.discriminator(x)[:, 0]

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I), (n, latent_dim), on the model's device (and the generator's, when one is given)."""
        device = next(self.parameters()).device
        gen_device = generator.device if generator is not None else torch.device("cpu")
        return torch.randn(n, self.latent_dim, generator=generator, device=gen_device).to(device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``x = G(z)``, z ~ N(0, I); returns (n, 2)."""
        return self.generate(self.sample_latent(n, generator))

    def discriminator_probability(self, x: Tensor) -> Tensor:
        """For the original GAN losses, ``D(x) = sigmoid(logit)`` in (0, 1); (B, 2) -> (B,)."""
        return torch.sigmoid(self.critic(x))

    # -- what the GAN tab draws ------------------------------------------------------------------------------
    @torch.no_grad()
    def critic_grid(self, bounds: tuple[float, float, float, float], n: int = 60) -> tuple[Tensor, Tensor, Tensor]:
        """The critic on an ``n x n`` grid over ``bounds = (xmin, xmax, ymin, ymax)``: returns (xs (n,), ys (n,),
        values (n, n) indexed [y, x]). For the original-GAN losses the values are ``D(x) = sigmoid(logit)``
        in (0, 1); for every other loss the raw critic output (an LSGAN score, a hinge margin, a Wasserstein critic
        value or an f-GAN ``V(x)``)."""
        xs = torch.linspace(bounds[0], bounds[1], n)
        ys = torch.linspace(bounds[2], bounds[3], n)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1).to(next(self.parameters()).device)
        out = self.critic(pts)
        if self.config.loss in ("minimax", "non_saturating"):
            out = torch.sigmoid(out)
        return xs, ys, out.reshape(n, n).cpu()

    def fake_gradients(self, x: Tensor) -> Tensor:
        """Where the generator loss pushes each fake: ``-d loss_G / d x_i`` for the per-sample generator loss at
        x_i (the direction in which G's update moves that sample), (B, 2) -> (B, 2)."""
        x = x.detach().requires_grad_(True)
        out = self.critic(x)
        # Every generator loss is a batch mean of a per-sample term, so B * loss is their sum, and its gradient
        # with respect to x_i is the gradient of x_i's own term.
        total = losses.generator_loss(self.config.loss, out) * x.shape[0]
        (grad,) = torch.autograd.grad(total, x)
        return -grad

    @torch.no_grad()
    def manifold_lines(self, n_lines: int = 13, n_points: int = 60, extent: float = 2.5) -> Tensor:
        """The generator's manifold: lines of a grid over the first two latent dims (the others 0) spanning
        ``[-extent, extent]`` (prior std), pushed through G. Returns (2 * n_lines, n_points, 2): the images of the
        lines z1 = const and then z2 = const."""
        t = torch.linspace(-extent, extent, n_points)
        c = torch.linspace(-extent, extent, n_lines)
        z = torch.zeros(2, n_lines, n_points, self.latent_dim)
        z[0, :, :, 0] = c[:, None]
        z[0, :, :, min(1, self.latent_dim - 1)] = t[None, :]
        z[1, :, :, 0] = t[None, :]
        z[1, :, :, min(1, self.latent_dim - 1)] = c[:, None]
        device = next(self.parameters()).device
        return self.generate(z.reshape(-1, self.latent_dim).to(device)).reshape(2 * n_lines, n_points, 2).cpu()


def data_scale_for(bounds: tuple[float, ...]) -> float:
    """A ``data_scale`` for a target with plotting window ``bounds``: its largest coordinate / 1.25, to 2 decimals
    (ring: 1.0, grid: 4.0)."""
    return round(max(abs(float(b)) for b in bounds) / 1.25, 2)


# --------------------------------------------------------------------------------------------------------------------
# DCGAN and class-conditional DCGAN for 28x28 Fashion-MNIST
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class DCGANConfig:
    """DCGAN (Radford et al. 2016) scaled to 28x28 single-channel images; ``n_classes > 0`` makes it the
    class-conditional GAN ``G(z, y)``, ``D(x, y)`` (notes 000 B.3; Mirza & Osindero 2014)."""

    model_type: str = "dcgan"
    latent_dim: int = 64               # z ~ N(0, I)
    channels: int = 32                 # G: 2c x 7 x 7 -> c x 14 x 14 -> 1 x 28 x 28; D mirrors it (kept small for CPU)
    n_classes: int = 0                 # 0: unconditional DCGAN; 10: class-conditional on the Fashion-MNIST labels
    loss: GANLoss = "non_saturating"
    normalization: Normalization = "none"  # of the critic's layers ("spectral": Miyato et al. 2018)


class DCGAN(HubModule):
    """DCGAN for (B, 1, 28, 28) images in [0, 1] (G's tanh output is rescaled as ``(tanh + 1) / 2``).

    G: ``[z, onehot(y)] -> Linear -> 2c x 7 x 7 -> ConvT(4, s2) -> c x 14 x 14 -> ConvT(4, s2) -> 1 x 28 x 28``
    with batch norm and ReLU between (Radford et al.). D: ``Conv(4, s2) -> c x 14 x 14 -> Conv(4, s2) -> 2c x 7 x 7
    -> Linear`` with LeakyReLU(0.2); a conditional D sees the label as ``n_classes`` constant one-hot channels
    concatenated to the image and to its first feature map's input (Mirza & Osindero 2014). No batch norm in D,
    so spectral normalisation and the per-sample gradient penalty of WGAN-GP stay valid.
    """

    config_class = DCGANConfig

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        _check_loss(config.loss)
        if config.latent_dim < 1 or config.channels < 1 or config.n_classes < 0:
            raise ValueError("latent_dim and channels must be >= 1 and n_classes >= 0")
        self.config = config
        c, k = config.channels, config.n_classes
        self.g_fc = nn.Sequential(nn.Linear(config.latent_dim + k, 2 * c * 7 * 7), nn.BatchNorm1d(2 * c * 7 * 7),
                                  nn.ReLU())
        self.g_net = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU(),   # (B, c, 14, 14)
            nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1), nn.Tanh(),                          # (B, 1, 28, 28)
        )
        n = config.normalization
        self.d_net = nn.Sequential(
            critic_layer(nn.Conv2d(1 + k, c, 4, stride=2, padding=1), n), nn.LeakyReLU(0.2),      # (B, c, 14, 14)
            critic_layer(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), n), nn.LeakyReLU(0.2),      # (B, 2c, 7, 7)
            nn.Flatten(),
            critic_layer(nn.Linear(2 * c * 7 * 7, 1), n),
        )

    @property
    def latent_dim(self) -> int:
        """Dimension of z."""
        return self.config.latent_dim

    @property
    def conditional(self) -> bool:
        """True for the class-conditional DCGAN."""
        return self.config.n_classes > 0

    def _onehot(self, y: Tensor | None, n: int, device: torch.device) -> Tensor | None:
        if not self.conditional:
            if y is not None:
                raise ValueError("this DCGAN is unconditional (n_classes = 0); do not pass labels")
            return None
        if y is None:
            raise ValueError(f"this DCGAN is class-conditional: pass labels y in 0..{self.config.n_classes - 1}")
        if y.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {tuple(y.shape)}")
        return F.one_hot(y.to(device).long(), self.config.n_classes).float()

    def generate(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """``G(z, y)``: (B, latent_dim) [+ labels (B,)] -> images (B, 1, 28, 28) in [0, 1]."""
        onehot = self._onehot(y, z.shape[0], z.device)
        h = z if onehot is None else torch.cat([z, onehot], dim=1)
        h = self.g_fc(h).view(z.shape[0], 2 * self.config.channels, 7, 7)
        return 0.5 * (self.g_net(h) + 1.0)

    def critic(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """``D(x, y)``: images (B, 1, 28, 28) in [0, 1] [+ labels (B,)] -> (B,) unbounded scores."""
        onehot = self._onehot(y, x.shape[0], x.device)
        h = 2.0 * x - 1.0  # the critic sees [-1, 1], like G's tanh output
        if onehot is not None:
            h = torch.cat([h, onehot[:, :, None, None].expand(-1, -1, 28, 28)], dim=1)
        return self.d_net(h)[:, 0]

    @property
    def generator(self) -> nn.ModuleList:
        """The generator's modules (what the generator optimizer updates)."""
        return nn.ModuleList([self.g_fc, self.g_net])

    @property
    def discriminator(self) -> nn.Module:
        """The critic's modules (what the critic optimizer updates)."""
        return self.d_net

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I), (n, latent_dim), on the model's device (and the generator's, when one is given)."""
        device = next(self.parameters()).device
        gen_device = generator.device if generator is not None else torch.device("cpu")
        return torch.randn(n, self.latent_dim, generator=generator, device=gen_device).to(device)

    @torch.no_grad()
    def sample(self, n: int, y: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images (B, 1, 28, 28) in [0, 1]; a conditional model takes labels ``y`` (n,) (default: cycling
        through the classes 0, 1, 2, ...)."""
        if self.conditional and y is None:
            y = torch.arange(n) % self.config.n_classes
        return self.generate(self.sample_latent(n, generator), y)

    @torch.no_grad()
    def interpolate(self, z0: Tensor, z1: Tensor, steps: int, y: Tensor | None = None) -> Tensor:
        """Images along the straight line ``z = (1 - t) z0 + t z1``, t in [0, 1]; z0, z1: (latent_dim,).
        ``y``: one label (scalar tensor) for a conditional model. Returns (steps, 1, 28, 28)."""
        if steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps}")
        t = torch.linspace(0.0, 1.0, steps, device=z0.device)[:, None]
        z = (1.0 - t) * z0[None] + t * z1[None]
        labels = None if y is None else y.reshape(1).expand(steps).clone()
        return self.generate(z, labels)

    def preprocess(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Images are used as they are (grey levels in [0, 1])."""
        return x


# --------------------------------------------------------------------------------------------------------------------
# Theory for the explainers: the optimal discriminator between two 1-D Gaussians, and the two generator losses
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class GaussianPairTheory:
    """Densities of ``p_data = N(mu_data, s_data^2)`` and ``p_g = N(mu_g, s_g^2)`` on a grid, the optimal
    discriminator there, and the value of the game at that discriminator."""

    x: Tensor            # (n,) grid
    p_data: Tensor       # (n,) density of p_data on the grid
    p_g: Tensor          # (n,) density of p_g
    d_star: Tensor       # (n,) D*(x) = p_data / (p_data + p_g)
    jsd: float           # JSD(p_data || p_g) = 0.5 KL(p||m) + 0.5 KL(q||m), nats (quadrature)
    value: float         # V(G, D*) = E_data log D* + E_g log(1 - D*) (quadrature)

    @property
    def value_from_jsd(self) -> float:
        """``2 JSD - 2 log 2`` (notes 000, 002, 003), which ``value`` must equal."""
        return 2.0 * self.jsd - 2.0 * math.log(2.0)


def _normal_log_pdf(x: Tensor, mu: float, s: float) -> Tensor:
    return -0.5 * ((x - mu) / s) ** 2 - math.log(s) - 0.5 * math.log(2.0 * math.pi)


def gaussian_pair_theory(mu_data: float, s_data: float, mu_g: float, s_g: float, n: int = 20001) -> GaussianPairTheory:
    """The optimal discriminator and the game's value for two 1-D Gaussians, by quadrature on a fine grid.

    ``D*(x) = p_data / (p_data + p_g)`` (:func:`gen_core.losses.optimal_discriminator`), and
    ``V(G, D*) = E_data log D*(x) + E_g log(1 - D*(x)) = 2 JSD(p_data || p_g) - 2 log 2`` (notes 000, 002, 003;
    the 0.5 convention ``JSD = 0.5 KL(p||m) + 0.5 KL(q||m)``, m = (p + q) / 2). Both sides are computed
    independently here (trapezoid rule in float64 over mean +- 12 std), so their agreement is a check, not an identity.
    """
    for name, s in (("s_data", s_data), ("s_g", s_g)):
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"{name} must be a positive number, got {s!r}")
    lo = min(mu_data - 12 * s_data, mu_g - 12 * s_g)
    hi = max(mu_data + 12 * s_data, mu_g + 12 * s_g)
    x = torch.linspace(lo, hi, n, dtype=torch.float64)
    lp, lq = _normal_log_pdf(x, mu_data, s_data), _normal_log_pdf(x, mu_g, s_g)
    p, q = lp.exp(), lq.exp()
    d_star = losses.optimal_discriminator(lp, lq)
    log_d = -F.softplus(lq - lp)           # log D* = log sigmoid(lp - lq), stable
    log_1md = -F.softplus(lp - lq)         # log (1 - D*)
    value = torch.trapezoid(p * log_d + q * log_1md, x)
    lm = torch.logaddexp(lp, lq) - math.log(2.0)
    jsd = 0.5 * torch.trapezoid(p * (lp - lm), x) + 0.5 * torch.trapezoid(q * (lq - lm), x)
    return GaussianPairTheory(x.float(), p.float(), q.float(), d_star.float(), float(jsd), float(value))


def generator_loss_curves(d_values: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
    """Saturating vs non-saturating generator loss, and their gradients with respect to the discriminator's logit,
    as functions of ``D(G(z))`` in (0, 1) (notes 000 3.3.3 and B.2.1).

    Returns ``{"minimax": (loss, dloss/dlogit), "non_saturating": (loss, dloss/dlogit)}``, each (n,), computed by
    autograd through :func:`gen_core.losses.gan_generator_loss_minimax` and ``..._non_saturating`` one point at a
    time. Closed forms: minimax ``log(1 - D)``, gradient ``-D`` (vanishes as D -> 0, early in training);
    non-saturating ``-log D``, gradient ``-(1 - D)``.
    """
    if ((d_values <= 0) | (d_values >= 1)).any():
        raise ValueError("D(G(z)) values must lie strictly between 0 and 1")
    logits = torch.logit(d_values.double()).requires_grad_(True)
    out: dict[str, tuple[Tensor, Tensor]] = {}
    for name, fn in (("minimax", losses.gan_generator_loss_minimax),
                     ("non_saturating", losses.gan_generator_loss_non_saturating)):
        per_point = torch.stack([fn(l.reshape(1)) for l in logits])   # the batch-mean loss of a one-sample batch
        (grad,) = torch.autograd.grad(per_point.sum(), logits)
        out[name] = (per_point.detach().float(), grad.float())
    return out
