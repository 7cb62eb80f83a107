"""BiGAN on 2-D points, the whole family in this single file: encoder E, generator G, joint discriminator D(x, z),
and the adversarial task that trains them through the shared loop.

Lecture notes 004 (Zhang, PKU lecture 18, "BiGAN"): besides G: z -> x, z ~ p(z) = N(0, I), an encoder E: x -> z
sees only data. The discriminator D observes pairs and separates the encoding pairs (x, E(x)), x ~ p_data, from the
generated pairs (G(z), z) (MODELS.md). With the notes' cross-entropy objective (Donahue et al. 2017, eq. 2):

    min_{G, E} max_D  V(D, E, G) = E_{x ~ p_data} log D(x, E(x)) + E_{z ~ p(z)} log(1 - D(G(z), z)).

At the optimum the two joint distributions p_data(x) delta(z - E(x)) and p(z) delta(x - G(z)) coincide, so E and G
invert each other: G(E(x)) = x and E(G(z)) = z. ``loss="minimax"`` gives E and G exactly -V; ``non_saturating``
(the default, as in the BiGAN code) flips the labels instead: G maximises log D(G(z), z) and E maximises
log(1 - D(x, E(x))). D outputs a logit; the formulas are ``gen_core.losses.gan_discriminator_loss``.

The two players and their alternation mirror ``gen_core.train.adversarial`` (simultaneous, alternating, n_critic
from an :class:`~gen_core.train.adversarial.AdversarialConfig`); :class:`BiGANTask` lives here rather than there
because the "generator" player is two networks and the critic step needs the encoder on the real half.
Models own no optimizers: the task does (STYLE.md 6).

    >>> m = BiGAN(BiGANConfig(hidden=32))
    >>> m.sample(5).shape, m.encode(torch.zeros(3, 2)).shape, m.critic(torch.zeros(3, 2), torch.zeros(3, 2)).shape
    (torch.Size([5, 2]), torch.Size([3, 2]), torch.Size([3]))

References:
    J. Donahue, P. Kraehenbuehl, T. Darrell. Adversarial feature learning. ICLR 2017.
    V. Dumoulin et al. Adversarially learned inference (ALI). ICLR 2017.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from gen_core import losses
from gen_core.hub import HubModule
from gen_core.nn import mlp
from gen_core.train.adversarial import AdversarialConfig
from gen_core.train.loop import DistInfo, TrainConfig, apply_gradients

__all__ = ["BiGANConfig", "BiGAN", "BiGANTask", "bigan_task", "bigan_metrics", "BiGANSnapshot", "bigan_snapshot",
           "bigan_ring", "bigan_held_out", "evaluate_bigan", "BIGAN_TEST_N", "BIGAN_TEST_SEED"]

BIGAN_TEST_N = 600        # held-out ring points the Theory tab's status and a BiGAN's card are measured on
BIGAN_TEST_SEED = 12345

BiGANLoss = Literal["minimax", "non_saturating"]


@dataclass
class BiGANConfig:
    """An MLP BiGAN on 2-D points."""

    model_type: str = "bigan2d"
    latent_dim: int = 2              # z ~ N(0, I); 2 so that E(x) and z can be drawn in a plane
    hidden: int = 128                # width of every hidden layer of E, G and D
    depth: int = 3                   # hidden layers of each network
    loss: BiGANLoss = "non_saturating"
    target: str = "ring"             # the toy target it was trained on (gen_core.data.toy2d), for cards
    data_scale: float = 2.0          # E and D see x / data_scale and G's output is multiplied by it, so every net
                                     # works with numbers of order 1 (the ring of the Theory tab has radius 2)


class _Player(nn.Module):
    """The minimising player: G and E together, so the task's generator optimizer holds both."""

    def __init__(self, g: nn.Module, e: nn.Module) -> None:
        super().__init__()
        self.g, self.e = g, e


class BiGAN(HubModule):
    """``G``: z -> ReLU MLP -> x; ``E``: x -> ReLU MLP -> z (deterministic); ``D``: (x, z) -> LeakyReLU MLP -> logit."""

    config_class = BiGANConfig

    def __init__(self, config: BiGANConfig) -> None:
        super().__init__()
        if config.loss not in ("minimax", "non_saturating"):
            raise ValueError(f"unknown BiGAN loss {config.loss!r}; choose 'minimax' or 'non_saturating'")
        if config.latent_dim < 1 or config.hidden < 1 or config.depth < 1 or not config.data_scale > 0:
            raise ValueError("latent_dim, hidden and depth must be >= 1 and data_scale > 0; got "
                             f"{config.latent_dim}, {config.hidden}, {config.depth}, {config.data_scale}")
        self.config = config
        k = config.latent_dim
        self.generator = _Player(mlp(k, config.hidden, 2, config.depth, nn.ReLU),
                                 mlp(2, config.hidden, k, config.depth, nn.ReLU))
        self.discriminator = mlp(2 + k, config.hidden, 1, config.depth, lambda: nn.LeakyReLU(0.2))

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I), (n, latent_dim), on the model's device."""
        dev = next(self.parameters()).device
        return torch.randn(n, self.config.latent_dim, generator=generator, device=dev)

    def generate(self, z: Tensor) -> Tensor:
        """G(z): (n, latent_dim) -> (n, 2)."""
        return self.generator.g(z) * self.config.data_scale

    def encode(self, x: Tensor) -> Tensor:
        """E(x): (n, 2) -> (n, latent_dim)."""
        return self.generator.e(x / self.config.data_scale)

    def critic(self, x: Tensor, z: Tensor) -> Tensor:
        """D's logit for pairs (x, z): (n, 2), (n, latent_dim) -> (n,)."""
        return self.discriminator(torch.cat([x / self.config.data_scale, z], dim=1)).squeeze(1)

    def reconstruct(self, x: Tensor) -> Tensor:
        """G(E(x)): (n, 2) -> (n, 2)."""
        return self.generate(self.encode(x))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n samples G(z), z ~ N(0, I)."""
        return self.generate(self.sample_latent(n, generator))


class BiGANTask:
    """One update of (G, E) with its discriminator update(s), for :func:`gen_core.train.loop.train`.

    Critic steps see ``E(x).detach()`` and ``G(z).detach()``; the generator step back-propagates through D into G
    and E alone (``only_params``). ``simultaneous`` takes both gradients at the same point from one D forward.
    """

    def __init__(self, model: BiGAN, config: TrainConfig, device: torch.device, dist_info: DistInfo,
                 adv: AdversarialConfig, next_batch: Callable[[], Tensor] | None = None) -> None:
        if dist_info.world_size > 1:
            raise ValueError("BiGAN training runs in a single process (no DistributedDataParallel)")
        if adv.critic_steps > 1 and next_batch is None:
            raise ValueError("n_critic > 1 needs next_batch to draw a fresh real batch for every critic step")
        self.model, self.config, self.adv, self.next_batch = model, config, adv, next_batch
        self.loss = model.config.loss
        self.g_params = list(model.generator.parameters())
        self.d_params = list(model.discriminator.parameters())
        betas = (adv.beta1, adv.beta2)
        self.opt_g = torch.optim.Adam(self.g_params, lr=adv.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.d_params, lr=adv.lr_d, betas=betas)
        self.z_gen = torch.Generator(device=device).manual_seed(config.seed + 7919)

    def _logits(self, x: Tensor, detach: bool) -> tuple[Tensor, Tensor]:
        """D's logits on the encoding pairs (x, E(x)) and the generated pairs (G(z), z), one D forward."""
        m = self.model
        z = m.sample_latent(x.shape[0], generator=self.z_gen)
        ex, gz = m.encode(x), m.generate(z)
        if detach:
            ex, gz = ex.detach(), gz.detach()
        out = m.discriminator(torch.cat([torch.cat([x, gz]) / m.config.data_scale, torch.cat([ex, z])], dim=1))
        out = out.squeeze(1)
        b = x.shape[0]
        return out[:b], out[b:]

    def _g_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        if self.loss == "minimax":
            return -losses.gan_discriminator_loss(d_real, d_fake)     # E, G minimise V
        return losses.gan_discriminator_loss(d_fake, d_real)          # labels flipped (non-saturating)

    def step(self, batch: Tensor, step: int) -> dict[str, Tensor]:
        """One (G, E) update with its D update(s); returns detached metrics."""
        clip = self.config.grad_clip
        if self.adv.scheme == "simultaneous":
            d_real, d_fake = self._logits(batch, detach=False)
            d_loss = losses.gan_discriminator_loss(d_real, d_fake)
            g_loss = self._g_loss(d_real, d_fake)
            g_norm = apply_gradients(g_loss, self.g_params, self.opt_g, None, clip, only_params=True,
                                     retain_graph=True)
            d_norm = apply_gradients(d_loss, self.d_params, self.opt_d, None, clip, only_params=True)
        else:
            x = batch
            for i in range(self.adv.critic_steps):
                if i > 0:
                    x = self.next_batch()  # type: ignore[misc]
                d_real, d_fake = self._logits(x, detach=True)
                d_loss = losses.gan_discriminator_loss(d_real, d_fake)
                d_norm = apply_gradients(d_loss, self.d_params, self.opt_d, None, clip, only_params=True)
            d_real, d_fake = self._logits(x, detach=False)           # against the updated D
            g_loss = self._g_loss(d_real, d_fake)
            g_norm = apply_gradients(g_loss, self.g_params, self.opt_g, None, clip, only_params=True)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_real": torch.sigmoid(d_real).mean().detach(),
                "d_fake": torch.sigmoid(d_fake).mean().detach(), "d_grad_norm": d_norm.detach(),
                "g_grad_norm": g_norm.detach()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def get_state(self) -> dict[str, Tensor]:
        """The noise generator's state (saved in checkpoints by the shared loop)."""
        return {"z_gen": self.z_gen.get_state()}

    def set_state(self, state: dict[str, Tensor]) -> None:
        self.z_gen.set_state(state["z_gen"])


def bigan_task(adv: AdversarialConfig, source: Any = None
               ) -> Callable[[HubModule, TrainConfig, torch.device, DistInfo], BiGANTask]:
    """A ``task_factory`` for :func:`gen_core.train.loop.train`; ``source`` feeds the extra batches of n_critic > 1."""

    def factory(model: HubModule, config: TrainConfig, device: torch.device, dist_info: DistInfo) -> BiGANTask:
        return BiGANTask(model, config, device, dist_info, adv,  # type: ignore[arg-type]
                         next_batch=source.next_batch if source is not None else None)

    return factory


@torch.no_grad()
def bigan_metrics(model: BiGAN, x: Tensor, n_latent: int = 2000, seed: int = 0) -> dict[str, float]:
    """Held-out inversion metrics: ``recon_mse`` = mean ||G(E(x)) - x||^2, ``latent_recon_mse`` = mean
    ||E(G(z)) - z||^2 for z ~ N(0, I), and how far E(x) is from the prior in its first two moments
    (``enc_mean_norm`` = ||mean E(x)||, ``enc_cov_err`` = ||Cov E(x) - I||_F). All 0 for a perfect BiGAN."""
    was = model.training
    model.eval()
    z = model.sample_latent(n_latent, torch.Generator(device=x.device).manual_seed(seed))
    ex = model.encode(x)
    cov = torch.cov(ex.T) if ex.shape[1] > 1 else ex.var().reshape(1, 1)
    out = {"recon_mse": float(((model.generate(ex) - x) ** 2).sum(1).mean()),
           "latent_recon_mse": float(((model.encode(model.generate(z)) - z) ** 2).sum(1).mean()),
           "enc_mean_norm": float(ex.mean(0).norm()),
           "enc_cov_err": float(torch.linalg.matrix_norm(cov - torch.eye(ex.shape[1], device=x.device)))}
    model.train(was)
    return out


@dataclass(frozen=True)
class BiGANSnapshot:
    """What the Theory tab draws: data x, samples G(z), codes E(x) beside prior draws z, and G(E(x))."""

    x: Tensor
    gz: Tensor
    ex: Tensor
    z: Tensor
    rec: Tensor


@torch.no_grad()
def bigan_snapshot(model: BiGAN, x: Tensor, seed: int = 0) -> BiGANSnapshot:
    """Evaluate E and G on held-out ``x`` and on as many prior draws (fixed ``seed``), in eval mode."""
    was = model.training
    model.eval()
    z = model.sample_latent(x.shape[0], torch.Generator(device=x.device).manual_seed(seed))
    ex = model.encode(x)
    snap = BiGANSnapshot(x.cpu(), model.generate(z).cpu(), ex.cpu(), z.cpu(), model.generate(ex).cpu())
    model.train(was)
    return snap


def bigan_ring() -> Any:
    """The data every gen_core BiGAN is trained on (the Theory tab's): 8 Gaussians on a circle of radius 2, std 0.1."""
    from gen_core.data.toy2d import Ring

    return Ring(n_modes=8, radius=2.0, std=0.1)


def bigan_held_out(n: int = BIGAN_TEST_N, seed: int = BIGAN_TEST_SEED) -> Tensor:
    """Fixed held-out points of :func:`bigan_ring` (the same every call)."""
    return bigan_ring().sample(n, torch.Generator().manual_seed(seed))


@torch.no_grad()
def evaluate_bigan(model: BiGAN, n: int = BIGAN_TEST_N, seed: int = BIGAN_TEST_SEED) -> dict[str, float]:
    """:func:`bigan_metrics` on :func:`bigan_held_out` points, and their count ``n_points``: what a BiGAN's card
    holds and ``python -m gen_core eval`` recomputes."""
    x = bigan_held_out(n, seed).to(next(model.parameters()).device)
    return {**bigan_metrics(model, x), "n_points": float(n)}
