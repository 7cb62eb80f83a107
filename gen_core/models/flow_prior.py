"""A VAE whose prior ``p(z)`` is a normalizing flow over the latent, trained jointly (lecture notes 002).

The standard Gaussian prior over-regularises: the optimal prior is the aggregate posterior
``q_agg(z) = (1/n) sum_i q(z|x_i)`` (lecture notes 002, "Optimal prior"), and the ELBO pays
``KL(q_agg || p)`` for every bit of mismatch (see :mod:`gen_core.metrics.surgery`). A flow prior
``p(z | lambda)`` can follow ``q_agg``; its density is the change of variables (MODELS.md)

    log p(z) = log N(f(z); 0, I) + log |det J_f(z)|,

with ``f`` the flow's data -> base map (here the latent is the flow's "data"). The KL term of the ELBO has no closed
form any more, so it becomes a one-sample Monte Carlo estimate with the reparameterised ``z ~ q(z|x)``:

    ELBO(x) = E_q(z|x) [ log p(x|z) + log p(z) - log q(z|x) ]
            ~ log p(x|z) - (log q(z|x) - log p(z)),     z = mu(x) + sigma(x) * eps

(lecture notes 002, "ELBO with flow-based VAE prior"). Encoder, decoder and flow are trained together on this
estimate. Sampling draws ``z* ~ N(0, I)``, maps it through the flow's inverse ``z = f^{-1}(z*)`` and decodes.

Everything else (encoder, decoder, preprocessing, reconstruction likelihood, the training objective, the IWAE bound,
traversals) is the plain :class:`gen_core.models.vae.VAE`, which calls ``prior_log_prob``; this class only swaps the
prior and, with it, the closed-form KL for the Monte Carlo one.

    >>> m = FlowPriorVAE(FlowPriorVAEConfig(latent_dim=2))
    >>> m.prior_log_prob(torch.zeros(3, 2)).shape
    torch.Size([3])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from gen_core import losses
from gen_core.models.flows import Flow, FlowConfig
from gen_core.models.vae import VAE, VAEConfig

__all__ = ["FlowPriorVAEConfig", "FlowPriorVAE"]


@dataclass
class FlowPriorVAEConfig(VAEConfig):
    """A :class:`VAEConfig` plus the flow that serves as the prior over the ``latent_dim``-dimensional latent."""

    model_type: str = "flow_prior_vae"
    # Spline couplings bend a 2-D density into clusters with few layers; affine (realnvp) ones need more. The prior
    # runs without RealNVP's batch norm: its batch statistics would make log p(z) depend on the rest of the batch.
    prior_flow: Literal["spline", "realnvp", "nice"] = "spline"
    prior_layers: int = 4              # coupling layers; masks alternate, so each coordinate is bent twice
    prior_hidden: int = 64             # width of each coupling MLP: the prior is tiny next to the conv nets
    prior_depth: int = 2
    prior_bins: int = 8                # spline bins K
    # The splines act on [-B, B] and are the identity outside, where the prior is N(0, I)'s tail; the latents of a
    # Fashion-MNIST VAE stay within a few units of the origin.
    prior_tail_bound: float = 5.0


class FlowPriorVAE(VAE):
    """VAE with a jointly trained flow prior: ``encode``/``decode`` as :class:`VAE`, ``prior`` a :class:`Flow`."""

    config_class = FlowPriorVAEConfig

    def __init__(self, config: FlowPriorVAEConfig) -> None:
        super().__init__(config)
        if config.latent_dim < 2:
            raise ValueError(f"a coupling-flow prior needs latent_dim >= 2 to split z in halves, got {config.latent_dim}")
        self.prior = Flow(FlowConfig(flow=config.prior_flow, dim=config.latent_dim, n_layers=config.prior_layers,
                                     hidden=config.prior_hidden, depth=config.prior_depth, norm="none",
                                     n_bins=config.prior_bins, tail_bound=config.prior_tail_bound))

    def prior_log_prob(self, z: Tensor) -> Tensor:
        """``log p(z) = log N(f(z); 0, I) + log |det J_f(z)|`` (lecture notes 002; MODELS.md), (..., D) -> (...)."""
        return self.prior.log_prob(z.reshape(-1, z.shape[-1])).view(z.shape[:-1])

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``z = f^{-1}(z*)``, ``z* ~ N(0, I)``: (n, latent_dim) draws from the flow prior, no gradients."""
        return self.prior.sample(n, generator=generator)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode ``n`` draws from the flow prior: mean images (n, 1, 28, 28)."""
        return self.decode(self.prior_sample(n, generator=generator))

    def elbo_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Per-image reconstruction NLL, Monte Carlo KL ``log q(z|x) - log p(z)`` and ELBO, one shared sample z.

        Each (B,). The KL estimate is unbiased but, unlike the Gaussian prior's closed form, can be negative for
        a single draw.
        """
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        recon = self.recon_nll(x, z)
        kl = losses.normal_log_prob(z, mu, logvar) - self.prior_log_prob(z)
        return {"recon": recon, "kl": kl, "elbo": -(recon + kl)}
