"""Adversarial Variational Bayes on binarised 28x28 images, the whole family in one file: a Gaussian encoder, a
Bernoulli decoder, the discriminator T(x, z) whose logit estimates the KL term, the pure AVB formulas, the
two-optimizer task that trains them through the shared loop, and the held-out metrics.

Lecture notes 002 (Isachenko, MIPT lecture 7, "Adversarial Variational Bayes"; Mescheder, Nowozin & Geiger 2017).
The ELBO needs the density ``q(z|x)`` only in its KL term,

    L(phi, theta) = E_q(z|x) [ log p(x|z) - log q(z|x) / p(z) ],

so AVB estimates the log-ratio with the density ratio trick: a discriminator T(x, z) (a logit; D = sigmoid(T))
is trained with the logistic loss to tell pairs (x, z ~ q(z|x)) [label 1] from pairs (x, z ~ p(z) = N(0, I))
[label 0],

    max_T  E_pi(x) E_q(z|x) log sigmoid(T(x, z)) + E_pi(x) E_p(z) log(1 - sigmoid(T(x, z))),

whose optimum is ``T*(x, z) = log q(z|x) - log p(z)``. Hence ``KL(q(z|x) || p(z)) ~ E_q T(x, z)``: the
discriminator's logit ``log D / (1 - D)`` (MODELS.md; the notes print the ratio ``D / (1 - D)`` and drop the log).
The encoder and decoder then maximise ``E_q [log p(x|z) - T(x, z)]`` with T held fixed; by the paper's Prop. 2,
``E_q grad_phi T*(x, z) = 0``, so the gradient through the sample z alone is the gradient of the true KL.

AVB is meant for implicit encoders whose density is unknown. Here the encoder is deliberately the explicit
Gaussian ``q(z|x) = N(mu(x), diag sigma^2(x))``, so that the analytic KL ``0.5 sum(mu^2 + sigma^2 - log sigma^2 - 1)``
(notes 000 eq. 14) exists to compare the adversarial estimate against: that comparison is the point of the
dashboard panel. Training never uses the analytic KL; it is only reported.

What the comparison shows (pretrained/avb-fmnist, docs/avb.md): T's logit tracks the KL early in training, then
falls behind. The logistic loss learns T* only where the two classes overlap; as q(z|x) becomes much narrower than
p(z), few prior draws land near it, T cannot locate q(z|x) precisely enough, and its logit underestimates the
log-ratio. The encoder is trained against T and drifts to where T underestimates, so the true KL climbs above the
estimate (Mescheder et al. add "adaptive contrast" for this; with a Gaussian encoder it would make the comparison
trivial, so it is left out).

Data convention (as for :class:`gen_core.models.vae.VAE`): images are floats in [0, 1]; the Bernoulli decoder
trains and is scored on stochastically binarised pixels (``preprocess``); ``decode`` returns the mean image.

    >>> m = AVB(AVBConfig(latent_dim=2, hidden=32, critic_hidden=32))
    >>> x = torch.zeros(3, 1, 28, 28)
    >>> m.encode(x)[0].shape, m.decode(torch.zeros(3, 2)).shape, m.critic(x, torch.zeros(3, 2)).shape
    (torch.Size([3, 2]), torch.Size([3, 1, 28, 28]), torch.Size([3]))

References:
    L. Mescheder, S. Nowozin, A. Geiger. Adversarial Variational Bayes: Unifying Variational Autoencoders and
    Generative Adversarial Networks. ICML 2017.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from gen_core import losses
from gen_core.hub import HubModule
from gen_core.models.vae import preprocess_images
from gen_core.nn import mlp
from gen_core.threads import seeded
from gen_core.train.loop import DistInfo, TrainConfig, apply_gradients

__all__ = ["AVBConfig", "AVB", "AVBOptim", "AVBTask", "avb_task", "avb_discriminator_loss", "avb_kl_estimate",
           "avb_elbo", "optimal_log_ratio", "avb_metrics", "AVBSnapshot", "avb_snapshot", "CRITICS", "EVAL_SEED"]

CriticKind = Literal["quadratic", "inner_product", "concat"]
CRITICS = ("quadratic", "inner_product", "concat")
IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28
EVAL_SEED = 1234  # fixes the test-set binarisation and every posterior / prior draw of the held-out metrics


# --------------------------------------------------------------------------------------------------------------
# The AVB formulas, pure functions of the discriminator's logits


def avb_discriminator_loss(t_posterior: Tensor, t_prior: Tensor) -> Tensor:
    """The discriminator's logistic loss (to minimise), lecture notes 002 "Adversarial Variational Bayes":

        max_T E_pi(x) E_q(z|x) log sigmoid(T(x, z)) + E_pi(x) E_p(z) log(1 - sigmoid(T(x, z)))

    i.e. ``E softplus(-T(x, z_q)) + E softplus(T(x, z_p))`` with ``z_q ~ q(z|x)`` (label 1) and ``z_p ~ p(z)``
    (label 0). It is the GAN discriminator loss (:func:`gen_core.losses.gan_discriminator_loss`) on these pairs;
    its minimiser over all functions is ``T* = log q(z|x) - log p(z)`` (:func:`optimal_log_ratio`), where it
    equals ``2 log 2 - 2 JSD``. At ``T = 0`` it is exactly ``2 log 2``. Inputs (B,) logits; returns a scalar.
    """
    return losses.gan_discriminator_loss(t_posterior, t_prior)


def optimal_log_ratio(log_q: Tensor, log_p: Tensor) -> Tensor:
    """The optimal discriminator's logit ``T*(x, z) = log q(z|x) - log p(z)`` (notes 002, "density ratio trick":
    ``q_1 / q_2 = D / (1 - D)`` with ``D* = q_1 / (q_1 + q_2)``, so ``logit D* = log q_1 - log q_2``)."""
    return log_q - log_p


def avb_kl_estimate(t_posterior: Tensor) -> Tensor:
    """AVB's estimate of ``KL(q(z|x) || p(z))`` per example: the discriminator's logit on a posterior sample,

        KL ~ E_q(z|x) log D(x, z) / (1 - D(x, z)) = E_q(z|x) T(x, z)

    (notes 002; MODELS.md fixes the notes' missing log). Exact in expectation when ``T = T*``. Input (B,) or
    (K, B) logits of ``z ~ q(z|x)`` (K draws per example are averaged); returns (B,).
    """
    return t_posterior if t_posterior.ndim == 1 else t_posterior.mean(dim=0)


def avb_elbo(recon_nll: Tensor, t_posterior: Tensor) -> Tensor:
    """AVB's ELBO estimate per example, ``E_q [log p(x|z) - T(x, z)] = -(recon_nll + E_q T)`` (notes 002, the
    ELBO with ``log q(z|x) / p(z)`` replaced by the discriminator's logit). ``recon_nll``: ``-log p(x|z)`` (B,)."""
    return -(recon_nll + avb_kl_estimate(t_posterior))


# --------------------------------------------------------------------------------------------------------------
# The model


@dataclass
class AVBConfig:
    """MLP AVB for 28x28 binarised images: Gaussian encoder, Bernoulli decoder, discriminator T(x, z)."""

    model_type: str = "avb"
    latent_dim: int = 2              # small: the logistic estimate of the log-ratio degrades as q(z|x) narrows
                                     # relative to p(z), and every latent dim narrows it further
    hidden: int = 256                # width of the encoder and decoder MLPs
    depth: int = 2                   # hidden layers of the encoder and of the decoder
    critic: CriticKind = "quadratic"  # T's family (see _Critic): quadratic in z with coefficients from x, the
                                     # smallest family that holds T* of a Gaussian encoder, and the cheapest
    critic_hidden: int = 256         # width of T's MLP(s)
    critic_depth: int = 2            # hidden layers of T's MLP(s)
    critic_features: int = 64        # inner_product only: length F of theta(x) and s(z)


class _Critic(nn.Module):
    """T(x, z) as a logit: x (B, 784) and z (B, k) -> (B,), or z (K, B, k) -> (K, B) (K draws per image share
    one pass of the x network, which makes many draws per image cheap).

    - ``quadratic``: ``T = sum_i a_i(x) z_i^2 + b_i(x) z_i + c(x)``, one MLP of x giving (a, b, c). The optimal
      logit of a Gaussian encoder, ``sum_i -log sigma_i - (z_i - mu_i)^2 / 2 sigma_i^2 + z_i^2 / 2``, is of exactly
      this form, so the family holds T* and the logistic loss is consistent.
    - ``inner_product``: ``T = <theta(x), s(z)> + t_x(x) + t_z(z)``, an MLP of x giving (theta, t_x) and one of
      [z, z^2] giving (s, t_z): the adversary of Mescheder et al.'s reference code, which can also represent T*.
    - ``concat``: one MLP on ``[flatten(x), z]``, which has to build the x-times-z products out of its nonlinearities.
    """

    def __init__(self, k: int, config: AVBConfig) -> None:
        super().__init__()
        self.kind = config.critic
        h, depth, f = config.critic_hidden, config.critic_depth, config.critic_features
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        if self.kind == "quadratic":
            self.x_net = mlp(N_PIXELS, h, 2 * k + 1, depth, act)  # x -> (a(x), b(x), c(x))
        elif self.kind == "inner_product":
            self.x_net = mlp(N_PIXELS, h, f + 1, depth, act)      # x -> (theta(x), t_x(x))
            self.z_net = mlp(2 * k, h, f + 1, depth, act)         # [z, z^2] -> (s(z), t_z(z))
        else:
            self.net = mlp(N_PIXELS + k, h, 1, depth, act)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        if self.kind == "concat":
            return self.net(torch.cat([x.expand(*z.shape[:-1], x.shape[-1]), z], dim=-1)).squeeze(-1)
        k = z.shape[-1]
        if self.kind == "quadratic":
            a, b, c = self.x_net(x).split([k, k, 1], dim=-1)      # (B, k), (B, k), (B, 1)
            return (a * z * z + b * z).sum(dim=-1) + c[:, 0]
        theta = self.x_net(x)                                     # (B, F + 1)
        s = self.z_net(torch.cat([z, z * z], dim=-1))             # (..., B, F + 1)
        return (theta[:, :-1] * s[..., :-1]).sum(dim=-1) + theta[:, -1] + s[..., -1]


class AVB(HubModule):
    """``encode`` gives ``(mu, logvar)``, ``decode`` the mean image, ``critic(x, z)`` T's logit, ``sample`` images.

    The encoder and the decoder form ``self.vae`` (one optimizer), the discriminator is ``self.critic_net`` (the
    other); models own no optimizers (STYLE.md 6), :class:`AVBTask` does.
    """

    config_class = AVBConfig

    def __init__(self, config: AVBConfig) -> None:
        super().__init__()
        if config.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {config.latent_dim}")
        if config.critic not in CRITICS:
            raise ValueError(f"unknown critic {config.critic!r}; choose one of {', '.join(CRITICS)}")
        if min(config.critic_features, config.hidden, config.depth, config.critic_hidden, config.critic_depth) < 1:
            raise ValueError("hidden, depth, critic_hidden, critic_depth and critic_features must be >= 1; got "
                             f"{config.hidden}, {config.depth}, {config.critic_hidden}, {config.critic_depth}, "
                             f"{config.critic_features}")
        self.config = config
        k = config.latent_dim
        self.vae = nn.ModuleDict({
            "encoder": mlp(N_PIXELS, config.hidden, 2 * k, config.depth),     # x -> (mu, logvar)
            "decoder": mlp(k, config.hidden, N_PIXELS, config.depth),         # z -> 784 Bernoulli logits
        })
        self.critic_net = _Critic(k, config)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    # -- the three networks ----------------------------------------------------------------------------------
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``q(z|x)``: (B, 1, 28, 28) -> posterior mean and log-variance, each (B, latent_dim)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"images must have shape (B, 1, 28, 28), got {tuple(x.shape)}")
        mu, logvar = self.vae["encoder"](x.reshape(x.shape[0], -1)).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: Tensor) -> Tensor:
        """``p(x|z)``'s Bernoulli logits (B, 1, 28, 28) for codes (B, latent_dim)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"latent codes must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.vae["decoder"](z).view(z.shape[0], *IMAGE_SHAPE)

    def decode(self, z: Tensor) -> Tensor:
        """Mean image ``E[x|z]`` (B, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    def critic(self, x: Tensor, z: Tensor) -> Tensor:
        """T's logit for pairs (x, z): (B, 1, 28, 28) with (B, latent_dim) -> (B,), or with (K, B, latent_dim) -> (K, B)
        (K codes per image). ``sigmoid(T)`` is the probability that z was drawn from q(z|x) rather than p(z)."""
        if z.ndim not in (2, 3) or z.shape[-1] != self.latent_dim or z.shape[-2] != x.shape[0]:
            raise ValueError(f"codes must have shape ({x.shape[0]}, {self.latent_dim}) or (K, {x.shape[0]}, "
                             f"{self.latent_dim}), got {tuple(z.shape)}")
        return self.critic_net(x.reshape(x.shape[0], -1), z)

    # -- sampling --------------------------------------------------------------------------------------------
    def reparameterize(self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None,
                       n: int | None = None) -> Tensor:
        """``z = mu + sigma * eps``, eps ~ N(0, I) (notes 000 2.5.3): (B, k), or (n, B, k) with ``n`` draws each;
        eps from ``generator``, else the loop's ``step_noise`` (a ``private_noise`` run's step), else the global RNG."""
        generator = generator if generator is not None else self.step_noise
        shape = mu.shape if n is None else (n, *mu.shape)
        eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def sample_prior(self, *shape: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ p(z) = N(0, I) of shape (*shape, latent_dim), on the model's device (noise as :meth:`reparameterize`)."""
        generator = generator if generator is not None else self.step_noise
        return torch.randn(*shape, self.latent_dim, generator=generator, device=self._device())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode ``n`` prior draws: mean images (n, 1, 28, 28)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        return self.decode(self.sample_prior(n, generator=generator))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """The decoded posterior mean ``E[x | z = mu(x)]``, (B, 1, 28, 28)."""
        return self.decode(self.encode(x)[0])

    def preprocess(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Grey levels in [0, 1] -> binary pixels x ~ Bernoulli(grey level), the Bernoulli decoder's support."""
        return preprocess_images(x, "bernoulli", generator)

    # -- the objective ---------------------------------------------------------------------------------------
    def recon_nll(self, x: Tensor, z: Tensor) -> Tensor:
        """``-log p(x|z)`` per image (binary cross-entropy summed over pixels), (B,), nats."""
        return losses.bernoulli_nll(self.decode_logits(z), x)

    def terms(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """The per-image quantities of one posterior draw z ~ q(z|x), each (B,): ``recon`` (-log p(x|z)),
        ``kl_estimate`` (T(x, z), :func:`avb_kl_estimate`), ``kl_analytic`` (the Gaussian encoder's closed-form KL,
        reported only), ``elbo_avb`` (:func:`avb_elbo`, what training maximises) and ``elbo`` (with the analytic KL)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        recon = self.recon_nll(x, z)
        t_q = self.critic(x, z)
        kl = losses.kl_normal_std_normal(mu, logvar)
        return {"recon": recon, "kl_estimate": avb_kl_estimate(t_q), "kl_analytic": kl,
                "elbo_avb": avb_elbo(recon, t_q), "elbo": -(recon + kl)}

    def forward(self, x: Tensor, step: int = 0) -> dict[str, Tensor]:
        """The encoder/decoder objective ``-E_q[log p(x|z) - T(x, z)]`` (batch mean) as ``loss``, with the batch
        means of :meth:`terms` as metrics. Training alternates it with T's loss (:class:`AVBTask`)."""
        terms = self.terms(x)
        loss = -terms["elbo_avb"].mean()
        return {"loss": loss, **{k: v.detach().mean() for k, v in terms.items()}}

    @torch.no_grad()
    def iwae_log_likelihood(self, x: Tensor, k: int = 1000, chunk: int = 250) -> Tensor:
        """IWAE bound ``log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)``, z_k ~ q(z|x), per image (B,), nats (notes 001;
        Burda et al. 2016). Possible only because this encoder's density is explicit."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        mu, logvar = self.encode(x)
        parts: list[tuple[Tensor, Tensor, Tensor]] = []
        for start in range(0, k, chunk):
            kk = min(chunk, k - start)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(kk, *mu.shape, device=mu.device)        # (kk, B, D)
            x_rep = x.unsqueeze(0).expand(kk, *x.shape).reshape(kk * x.shape[0], *x.shape[1:])
            log_px_z = -self.recon_nll(x_rep, z.reshape(-1, self.latent_dim)).view(kk, -1)
            parts.append((log_px_z, losses.std_normal_log_prob(z), losses.normal_log_prob(z, mu, logvar)))
        log_px_z, log_pz, log_qz = (torch.cat(p, dim=0) for p in zip(*parts))                       # each (K, B)
        return losses.iwae_bound(log_px_z, log_pz, log_qz)


# --------------------------------------------------------------------------------------------------------------
# Training: T steps and encoder/decoder steps, alternated


@dataclass
class AVBOptim:
    """Optimisation settings of AVB's two players (the model's own settings live in :class:`AVBConfig`)."""

    lr: float = 1e-3                 # Adam learning rate of the encoder and decoder
    lr_critic: float = 1e-3          # Adam learning rate of T
    critic_steps: int = 2            # T updates per encoder/decoder update: the KL estimate is only as good as
                                     # T is close to its optimum for the current encoder
    critic_draws: int = 8            # z_q and z_p draws per image in each T update: the pairs near T's decision
                                     # boundary carry its gradient, and more draws find more of them
    beta1: float = 0.5               # Adam beta1 = 0.5, as for GANs: less momentum steadies the game
    beta2: float = 0.999


class AVBTask:
    """One encoder/decoder update with its T update(s), for :func:`gen_core.train.loop.train`.

    Each step: ``critic_steps`` updates of T on the batch with fresh draws z_q ~ q(z|x) (detached: T's step does
    not move the encoder) and z_p ~ N(0, I), minimising :func:`avb_discriminator_loss`; then one update of the
    encoder and decoder against the updated T, minimising ``-E_q[log p(x|z) - T(x, z)]`` with gradients into
    their weights only (T's weights stay). Noise comes from torch's global RNG, which the loop checkpoints.
    """

    def __init__(self, model: AVB, config: TrainConfig, device: torch.device, dist_info: DistInfo,
                 optim: AVBOptim) -> None:
        if dist_info.world_size > 1:
            raise ValueError("AVB training runs in a single process (no DistributedDataParallel)")
        if optim.critic_steps < 1 or optim.critic_draws < 1:
            raise ValueError(f"critic_steps and critic_draws must be >= 1, got {optim.critic_steps}, "
                             f"{optim.critic_draws}")
        self.model, self.config, self.optim = model, config, optim
        self.vae_params = list(model.vae.parameters())
        self.critic_params = list(model.critic_net.parameters())
        betas = (optim.beta1, optim.beta2)
        self.opt_vae = torch.optim.Adam(self.vae_params, lr=optim.lr, betas=betas)
        self.opt_critic = torch.optim.Adam(self.critic_params, lr=optim.lr_critic, betas=betas)

    def critic_step(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One update of T; returns (its loss, its gradient norm, T on the posterior draws, T on the prior draws)."""
        m, k = self.model, self.optim.critic_draws
        with torch.no_grad():
            mu, logvar = m.encode(x)
            z_q = m.reparameterize(mu, logvar, n=k)               # (K, B, latent_dim), detached from the encoder
        z_p = m.sample_prior(k, x.shape[0])                       # (K, B, latent_dim)
        t = m.critic(x, torch.cat([z_q, z_p]))                    # one T forward on both halves, (2K, B)
        t_q, t_p = t[:k], t[k:]
        loss = avb_discriminator_loss(t_q.reshape(-1), t_p.reshape(-1))
        norm = apply_gradients(loss, self.critic_params, self.opt_critic, None, self.config.grad_clip)
        return loss, norm, t_q, t_p

    def step(self, batch: Tensor, step: int) -> dict[str, Tensor]:
        """``critic_steps`` T updates, then one encoder/decoder update; returns detached batch-mean metrics."""
        for _ in range(self.optim.critic_steps):
            d_loss, d_norm, t_q, t_p = self.critic_step(batch)
        out = self.model(batch, step)                             # against the updated T
        vae_norm = apply_gradients(out["loss"], self.vae_params, self.opt_vae, None, self.config.grad_clip,
                                   only_params=True)              # T's weights get no gradient
        return {**{k: v.detach() for k, v in out.items()}, "d_loss": d_loss.detach(),
                "d_posterior": torch.sigmoid(t_q).mean().detach(), "d_prior": torch.sigmoid(t_p).mean().detach(),
                "d_grad_norm": d_norm.detach(), "grad_norm": vae_norm.detach()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Both optimizers, so the loop checkpoints and restores them (``--resume``)."""
        return {"vae": self.opt_vae, "critic": self.opt_critic}


def avb_task(optim: AVBOptim) -> Callable[[HubModule, TrainConfig, torch.device, DistInfo], AVBTask]:
    """A ``task_factory`` for :func:`gen_core.train.loop.train` with these optimisation settings.

    >>> for event in train(AVB(AVBConfig()), images, TrainConfig(steps=100), task_factory=avb_task(AVBOptim())):
    ...     print(event.metrics.get("kl_estimate"), event.metrics.get("kl_analytic"))  # doctest: +SKIP
    """

    def factory(model: HubModule, config: TrainConfig, device: torch.device, dist_info: DistInfo) -> AVBTask:
        if not isinstance(model, AVB):
            raise ValueError(f"avb_task trains an AVB, not a {type(model).__name__}")
        return AVBTask(model, config, device, dist_info, optim)

    return factory


# --------------------------------------------------------------------------------------------------------------
# Held-out metrics


@torch.no_grad()
def avb_metrics(model: AVB, images: Tensor, iwae_k: int = 0, iwae_n: int = 1000, n_draws: int = 4,
                batch_size: int = 500) -> dict[str, float]:
    """Held-out metrics per image (nats) on ``images`` (N, 1, 28, 28) in [0, 1], binarised once with
    :data:`EVAL_SEED`; every draw is seeded too, and the caller's RNG is left untouched.

    - ``elbo`` = -(recon_nll + kl_analytic): the true ELBO of the Gaussian encoder; ``elbo_avb`` = -(recon_nll +
      kl_estimate): what AVB believes it is.
    - ``kl_analytic``: mean closed-form KL(q(z|x) || N(0, I)); ``kl_estimate``: mean of T(x, z) over ``n_draws``
      posterior draws per image; ``kl_gap`` = kl_estimate - kl_analytic (0 for the optimal T).
    - ``recon_nll``: -log p(x|z), z ~ q(z|x), over the same draws; ``recon_mse``: ||x - D(mu(x))||^2 on grey levels.
    - ``d_loss``: T's logistic loss on held-out (x, z ~ q) vs (x, z ~ p) pairs (2 log 2 = 1.386 is chance);
      ``d_accuracy``: the share of those pairs it labels correctly.
    - ``iwae_log_likelihood`` (when ``iwae_k`` > 0): the IWAE bound with K = ``iwae_k`` on the first ``iwae_n`` images.
    """
    was = model.training
    model.eval()
    with seeded(EVAL_SEED, restore=True):
        try:
            return _avb_metrics(model, images, iwae_k, iwae_n, n_draws, batch_size)
        finally:
            model.train(was)


def _avb_metrics(model: AVB, images: Tensor, iwae_k: int, iwae_n: int, n_draws: int,
                 batch_size: int) -> dict[str, float]:
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    device = model._device()
    data = model.preprocess(images, torch.Generator().manual_seed(EVAL_SEED))
    n = images.shape[0]
    sums = dict.fromkeys(("recon_nll", "kl_estimate", "kl_analytic", "recon_mse", "d_loss", "d_accuracy"), 0.0)
    for start in range(0, n, batch_size):
        x = data[start:start + batch_size].to(device)
        b = x.shape[0]
        mu, logvar = model.encode(x)
        sums["kl_analytic"] += losses.kl_normal_std_normal(mu, logvar).sum().item()
        grey = images[start:start + batch_size].to(device)
        sums["recon_mse"] += losses.squared_error(grey, model.decode(model.encode(grey)[0])).sum().item()
        for _ in range(n_draws):
            z = model.reparameterize(mu, logvar)
            t_q, t_p = model.critic(x, z), model.critic(x, model.sample_prior(b))
            sums["recon_nll"] += model.recon_nll(x, z).sum().item() / n_draws
            sums["kl_estimate"] += avb_kl_estimate(t_q).sum().item() / n_draws
            sums["d_loss"] += b * avb_discriminator_loss(t_q, t_p).item() / n_draws
            sums["d_accuracy"] += 0.5 * ((t_q > 0).float().sum() + (t_p <= 0).float().sum()).item() / n_draws
    out = {k: v / n for k, v in sums.items()}
    out["elbo"] = -(out["recon_nll"] + out["kl_analytic"])
    out["elbo_avb"] = -(out["recon_nll"] + out["kl_estimate"])
    out["kl_gap"] = out["kl_estimate"] - out["kl_analytic"]
    n_iwae = min(iwae_n, n)
    if iwae_k > 0 and n_iwae > 0:
        total, step = 0.0, max(1, min(batch_size, 100_000 // iwae_k))
        for start in range(0, n_iwae, step):
            total += model.iwae_log_likelihood(data[start:min(start + step, n_iwae)].to(device), k=iwae_k).sum().item()
        out["iwae_log_likelihood"] = total / n_iwae
        out["iwae_k"] = float(iwae_k)
        out["iwae_n"] = float(n_iwae)
    out["n_images"] = float(n)
    return out


@dataclass(frozen=True)
class AVBSnapshot:
    """What the dashboard draws for a few images: the grey-level inputs, their binarisation (what the model sees),
    the decoded posterior means, decoded prior draws, and per image AVB's KL estimate beside the analytic KL."""

    images: Tensor          # (B, 1, 28, 28) grey levels in [0, 1]
    binary: Tensor          # (B, 1, 28, 28) x ~ Bernoulli(grey level)
    recon: Tensor           # (B, 1, 28, 28) E[x | z = mu(x)]
    samples: Tensor         # (S, 1, 28, 28) decoded z ~ N(0, I)
    kl_estimate: Tensor     # (B,) mean of T(x, z) over the posterior draws, nats
    kl_analytic: Tensor     # (B,) closed-form KL(q(z|x) || N(0, I)), nats


@torch.no_grad()
def avb_snapshot(model: AVB, images: Tensor, n_samples: int = 8, n_draws: int = 64, seed: int = 0) -> AVBSnapshot:
    """Binarise ``images`` (B, 1, 28, 28) in [0, 1] with ``seed``, reconstruct them, decode ``n_samples`` prior
    draws, and compare per image ``E_q T(x, z)`` (``n_draws`` posterior draws, :func:`avb_kl_estimate`) with the
    analytic KL; in eval mode, seeded, leaving the caller's RNG alone."""
    was = model.training
    model.eval()
    try:
        gen = torch.Generator(device=model._device()).manual_seed(seed)
        x = images.to(model._device())
        binary = model.preprocess(x, gen)
        mu, logvar = model.encode(binary)
        t = model.critic(binary, model.reparameterize(mu, logvar, gen, n=n_draws))       # (n_draws, B)
        return AVBSnapshot(images.cpu(), binary.cpu(), model.decode(mu).cpu(),
                           model.sample(n_samples, gen).cpu(), avb_kl_estimate(t).cpu(),
                           losses.kl_normal_std_normal(mu, logvar).cpu())
    finally:
        model.train(was)
