"""Conditional VAE for 28x28 images with a class label, all of it in one file.

The conditional latent variable model of lecture notes 000 A.2 (eq. 25) and 003 ("Attribute2Image", the CVAE
``p_theta(x | y, z)``): ``p(x|y) = integral p(x|z, y) p(z) dz`` with the prior ``p(z) = N(0, I)``, a Gaussian encoder
``q(z|x, y) = N(mu(x, y), diag sigma^2(x, y))`` and a Bernoulli decoder ``p(x|z, y)``. It is trained on the
conditional lower bound (000 eq. 27-28)

    log p(x|y) >= E_q(z|x,y) log p(x|z, y) - KL(q(z|x, y) || N(0, I)).

The label enters both networks as a one-hot vector concatenated to their inputs: the encoder sees
``[flatten(x), onehot(y)]`` (784 + C features), the decoder ``[z, onehot(y)]``. Because the decoder is told the class,
the latent code is free to hold what the class does not say (the "style": width, brightness, pose), which is what
``decode_all_classes`` shows: one z under every label.

Data convention (as for :class:`gen_core.models.vae.VAE`): images are floats in [0, 1]; the Bernoulli decoder is
trained and scored on stochastically binarised pixels (``preprocess``); ``decode`` returns the mean image.
Labels are integer class indices in ``[0, n_classes)``, a LongTensor of shape (B,) (a Python int where one label
serves every image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gen_core import losses
from gen_core.hub import HubModule
from gen_core.nn import mlp

IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28


@dataclass
class CVAEConfig:
    """MLP conditional VAE for 28x28 images with ``n_classes`` labels (Fashion-MNIST: 10)."""

    model_type: str = "cvae"
    latent_dim: int = 12               # ~8-16: the label carries the class, z only the style within it
    n_classes: int = 10                # one-hot width; Fashion-MNIST has 10 classes
    hidden: int = 400                  # width of both hidden layers; 400 keeps the weights near 3.5 MB (fp32)
    depth: int = 2                     # hidden layers of the encoder and of the decoder MLP
    likelihood: Literal["bernoulli"] = "bernoulli"  # binarised pixels, as the VAE's default; scored in nats
    beta: float = 1.0                  # KL weight; 1 is the conditional ELBO of notes 000 A.2


class CVAE(HubModule):
    """Conditional VAE: ``encode(x, y)`` gives ``(mu, logvar)``, ``decode(z, y)`` the mean image, ``sample(n, y)`` images.

    >>> model = CVAE(CVAEConfig(latent_dim=8))
    >>> model.sample(4, y=7).shape  # four sneakers (untrained, so noise)
    torch.Size([4, 1, 28, 28])
    """

    config_class = CVAEConfig

    def __init__(self, config: CVAEConfig) -> None:
        super().__init__()
        if config.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {config.latent_dim}")
        if config.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2 (a conditional model needs labels to choose from), "
                             f"got {config.n_classes}")
        if config.likelihood != "bernoulli":
            raise ValueError(f"likelihood must be 'bernoulli', got {config.likelihood!r}")
        if config.beta < 0:
            raise ValueError(f"beta must be >= 0, got {config.beta}")
        if config.hidden < 1 or config.depth < 1:
            raise ValueError(f"hidden and depth must be >= 1, got hidden={config.hidden}, depth={config.depth}")
        self.config = config
        # q(z|x, y): [x, onehot(y)] -> (mu, logvar);  p(x|z, y): [z, onehot(y)] -> 784 Bernoulli logits
        self.encoder = mlp(N_PIXELS + config.n_classes, config.hidden, 2 * config.latent_dim, depth=config.depth)
        self.decoder = mlp(config.latent_dim + config.n_classes, config.hidden, N_PIXELS, depth=config.depth)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def n_classes(self) -> int:
        return self.config.n_classes

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    # -- labels ----------------------------------------------------------------------------------------------
    def labels(self, y: int | Tensor, n: int) -> Tensor:
        """Check ``y`` and return it as a LongTensor of shape (n,) on the model's device.

        ``y``: one class index (used for all ``n`` rows) or a tensor of ``n`` integer class indices. Raises
        ValueError with what is allowed when a label is not an integer in ``[0, n_classes)``.
        """
        c = self.n_classes
        if isinstance(y, bool) or not isinstance(y, (int, Tensor)):
            raise ValueError(f"class label y must be an int or an integer tensor with values in [0, {c}), "
                             f"got {type(y).__name__}")
        if isinstance(y, int):
            if not 0 <= y < c:
                raise ValueError(f"class label y must be an integer in [0, {c}) (one of the {c} classes), got {y}")
            return torch.full((n,), y, dtype=torch.long, device=self._device())
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise ValueError(f"class labels y must be an integer tensor of class indices in [0, {c}), got dtype {y.dtype}")
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"class labels y must have shape ({n},) to match the batch, got {tuple(y.shape)}")
        if n and (int(y.min()) < 0 or int(y.max()) >= c):
            raise ValueError(f"class labels y must lie in [0, {c}); got values from {int(y.min())} to {int(y.max())}")
        return y.to(device=self._device(), dtype=torch.long)

    def one_hot(self, y: int | Tensor, n: int) -> Tensor:
        """The checked labels as one-hot rows (n, n_classes), float, on the model's device."""
        return F.one_hot(self.labels(y, n), self.n_classes).float()

    # -- the two networks ------------------------------------------------------------------------------------
    def encode(self, x: Tensor, y: int | Tensor) -> tuple[Tensor, Tensor]:
        """``q(z|x, y)``: (B, 1, 28, 28) images and (B,) labels -> posterior mean and log-variance, each (B, D)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"images must have shape (B, 1, 28, 28), got {tuple(x.shape)}")
        h = torch.cat([x.reshape(x.shape[0], -1), self.one_hot(y, x.shape[0]).to(x.dtype)], dim=1)  # (B, 784 + C)
        mu, logvar = self.encoder(h).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: Tensor, y: int | Tensor) -> Tensor:
        """``p(x|z, y)``'s Bernoulli logits, (B, 1, 28, 28), for codes (B, D) and labels (B,)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"latent codes must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        h = torch.cat([z, self.one_hot(y, z.shape[0]).to(z.dtype)], dim=1)                           # (B, D + C)
        return self.decoder(h).view(z.shape[0], *IMAGE_SHAPE)

    def decode(self, z: Tensor, y: int | Tensor) -> Tensor:
        """Mean image ``E[x|z, y]`` (B, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z, y))

    @torch.no_grad()
    def sample(self, n: int, y: int | Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Decode ``n`` draws z ~ N(0, I) under label(s) ``y``: mean images (n, 1, 28, 28)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        labels = self.labels(y, n)
        z = torch.randn(n, self.latent_dim, generator=generator).to(self._device())
        return self.decode(z, labels)

    def reparameterize(self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``z = mu + sigma * eps``, eps ~ N(0, I) (notes 000 2.5.3)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    # -- the objective ---------------------------------------------------------------------------------------
    def preprocess(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Grey levels in [0, 1] -> binary pixels x ~ Bernoulli(grey level), the Bernoulli decoder's support."""
        return torch.bernoulli(x, generator=generator)

    def recon_nll(self, x: Tensor, z: Tensor, y: int | Tensor) -> Tensor:
        """``-log p(x|z, y)`` per image (binary cross-entropy summed over pixels), shape (B,), nats."""
        return losses.bernoulli_nll(self.decode_logits(z, y), x)

    def elbo_terms(self, x: Tensor, y: int | Tensor) -> dict[str, Tensor]:
        """Per-image reconstruction NLL, KL and conditional ELBO (one posterior sample), each (B,), nats.

        ``elbo = -(recon + kl)`` bounds ``log p(x|y)`` from below (notes 000 A.2 eq. 27-28).
        """
        labels = self.labels(y, x.shape[0])
        mu, logvar = self.encode(x, labels)
        z = self.reparameterize(mu, logvar)
        recon = self.recon_nll(x, z, labels)
        kl = losses.kl_normal_std_normal(mu, logvar)
        return {"recon": recon, "kl": kl, "elbo": -(recon + kl)}

    def forward(self, batch: tuple[Tensor, Tensor], step: int = 0) -> dict[str, Tensor]:
        """Training objective for the shared loop: an (images, labels) batch -> the beta-weighted negative
        conditional ELBO averaged over the batch, with its terms as metrics."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("a CVAE trains on (images, labels) batches: a pair of tensors (B, 1, 28, 28) and (B,)")
        x, y = batch
        terms = self.elbo_terms(x, y)
        loss = losses.negative_elbo(terms["recon"], terms["kl"], self.config.beta).mean()
        return {"loss": loss, **{k: v.detach().mean() for k, v in terms.items()}}

    @torch.no_grad()
    def iwae_log_likelihood(self, x: Tensor, y: int | Tensor, k: int = 1000, chunk: int = 250) -> Tensor:
        """IWAE bound on ``log p(x|y)`` with ``k`` importance samples z_k ~ q(z|x, y), shape (B,), nats.

        ``log p(x|y) >= log (1/K) sum_k p(x|z_k, y) p(z_k) / q(z_k|x, y)`` (notes 001; 004: with large K the
        importance-sampled estimate of the likelihood; Burda et al. 2016). ``k = 1`` is a one-sample ELBO.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        labels = self.labels(y, x.shape[0])
        mu, logvar = self.encode(x, labels)
        parts: list[tuple[Tensor, Tensor, Tensor]] = []
        for start in range(0, k, chunk):
            kk = min(chunk, k - start)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(kk, *mu.shape, device=mu.device)        # (kk, B, D)
            x_rep = x.unsqueeze(0).expand(kk, *x.shape).reshape(kk * x.shape[0], *x.shape[1:])
            y_rep = labels.repeat(kk)                                                                # (kk * B,)
            log_px_z = -self.recon_nll(x_rep, z.reshape(-1, self.latent_dim), y_rep).view(kk, -1)
            parts.append((log_px_z, losses.std_normal_log_prob(z), losses.normal_log_prob(z, mu, logvar)))
        log_px_z, log_pz, log_qz = (torch.cat(p, dim=0) for p in zip(*parts))                       # each (K, B)
        return losses.iwae_bound(log_px_z, log_pz, log_qz)

    @torch.no_grad()
    def class_log_likelihoods(self, x: Tensor, k: int = 100) -> Tensor:
        """IWAE estimates of ``log p(x|y)`` under every label y, shape (B, n_classes), nats.

        With a uniform label prior ``p(y) = 1/C`` they give the marginal ``log p(x) = logsumexp_y log p(x|y) - log C``
        (:func:`marginal_log_likelihood`) and the generative classifier ``argmax_y p(x|y)`` (Bayes' rule).
        """
        return torch.stack([self.iwae_log_likelihood(x, c, k=k) for c in range(self.n_classes)], dim=1)

    # -- what the Latent Explorer shows ----------------------------------------------------------------------
    def _one_code(self, z: Tensor) -> Tensor:
        if z.ndim == 2 and z.shape[0] == 1:
            z = z[0]
        if z.ndim != 1 or z.shape[0] != self.latent_dim:
            raise ValueError(f"expected one latent code of shape ({self.latent_dim},) or (1, {self.latent_dim}), "
                             f"got {tuple(z.shape)}")
        return z.to(self._device())

    @torch.no_grad()
    def decode_all_classes(self, z: Tensor) -> Tensor:
        """The same code ``z`` (D,) decoded under every label: (n_classes, 1, 28, 28), row c = class c.

        The style z holds is kept while the class changes (the CVAE's analogy experiment).
        """
        z = self._one_code(z)
        labels = torch.arange(self.n_classes, device=z.device)
        return self.decode(z.expand(self.n_classes, -1), labels)

    @torch.no_grad()
    def traverse(self, y: int, z: Tensor, dim: int, values: Tensor) -> Tensor:
        """Decode ``z`` (D,) under label ``y`` with its coordinate ``dim`` set to each of ``values`` (V,): (V, 1, 28, 28).

        A latent traversal within one class (beta-VAE papers; lecture notes 000 A.3.2).
        """
        z = self._one_code(z)
        if isinstance(dim, bool) or not isinstance(dim, int) or not 0 <= dim < self.latent_dim:
            raise ValueError(f"dim must be an integer in [0, {self.latent_dim}), got {dim!r}")
        values = torch.as_tensor(values, dtype=z.dtype, device=z.device).reshape(-1)
        codes = z.repeat(values.shape[0], 1)
        codes[:, dim] = values
        return self.decode(codes, self.labels(y, values.shape[0]))


def marginal_log_likelihood(class_log_likelihoods: Tensor) -> Tensor:
    """``log p(x) = log sum_y p(y) p(x|y)`` with a uniform label prior ``p(y) = 1/C``, from (B, C) values of
    ``log p(x|y)``; returns (B,). The law of total probability, computed stably with logsumexp."""
    return torch.logsumexp(class_log_likelihoods, dim=1) - math.log(class_log_likelihoods.shape[1])
