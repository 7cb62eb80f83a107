"""The adversarial step of the shared training loop: two optimizers and the alternation written out (STYLE.md 6).

:class:`AdversarialTask` implements the ``Task`` protocol of :mod:`gen_core.train.loop`, so GANs train through the
same :func:`gen_core.train.loop.train` as every other family (events, cancel, divergence check, checkpoints):

    >>> task = adversarial_task(AdversarialConfig(scheme="n_critic", n_critic=5), source)   # doctest: +SKIP
    >>> for event in train(gan, source, TrainConfig(steps=2000), task_factory=task): ...  # doctest: +SKIP

One loop step is one generator update. The update schemes (lecture notes 001, Ryu, SNU ch. 5, "Minimax
optimization algorithm"; notes 000 3.3.1, "k critic steps then one generator step"):

- ``simultaneous``: both gradients at the same point, ``phi' = phi + beta grad_phi L(theta, phi)`` and
  ``theta' = theta - alpha grad_theta L(theta, phi)``. One G forward and one D forward on [real, fake] serve both.
- ``alternating``: the critic steps first, then the generator against the *updated* critic,
  ``theta' = theta - alpha grad_theta L(theta, phi')``.
- ``n_critic``: ``n_critic`` critic steps (each on a fresh real batch and fresh fakes), then one generator step
  ("multi-ascent single-descent"; n_critic = 1 is alternating).

Critic steps always see ``fake.detach()``; the generator step back-propagates through the critic into G alone
(``apply_gradients(..., only_params=True)`` skips the critic's weight gradients). With ``wgan_clip`` the critic's
weights are clipped to ``[-c, c]`` after every critic step (Arjovsky et al. 2017); with ``wgan_gp`` the gradient
penalty (lambda = 10) is added to every critic loss. Every update goes through ``loop.apply_gradients``, which
raises ``Diverged`` *before* a NaN/inf update.

Because a generator step of the alternating scheme evaluates G at the same ``theta`` as the critic step before it,
the fakes of the last critic step are reused for the generator step (same z, same G): one G forward per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from gen_core import losses
from gen_core.hub import HubModule
from gen_core.train.loop import BatchSource, DistInfo, LabelledBatches, TrainConfig, apply_gradients

__all__ = ["AdversarialConfig", "AdversarialTask", "adversarial_task", "clip_weights_", "LabelledBatches"]

Scheme = Literal["simultaneous", "alternating", "n_critic"]
SCHEMES = ("simultaneous", "alternating", "n_critic")


@dataclass
class AdversarialConfig:
    """Optimisation settings of the two players (the model's own settings live in its config)."""

    scheme: Scheme = "alternating"
    n_critic: int = 1                   # critic steps per generator step when scheme == "n_critic"
    lr_g: float = 1e-3                  # Adam learning rate of the generator
    lr_d: float = 1e-3                  # Adam learning rate of the critic
    beta1: float = 0.5                  # Adam beta1 = 0.5 (Radford et al. 2016): less momentum steadies the game
    beta2: float = 0.999
    lr_schedule: Literal["constant", "cosine", "linear_decay"] = "constant"  # cosine / linear_decay: both rates
                                        # fall to 1% over the run, letting the samples settle into narrow modes
    clip_value: float = 0.01            # wgan_clip: critic weights clipped to [-c, c] (Arjovsky et al. 2017)
    gp_lambda: float = 10.0             # wgan_gp: penalty weight lambda (Gulrajani et al. 2017)
    engine: Literal["auto", "autograd"] = "auto"  # auto: plain 2-D MLP GANs take the hand-written backward of
                                        # gen_core.train.mlp_gan (the same numbers, ~1.4x the steps/s on CPU)

    def __post_init__(self) -> None:
        if self.lr_schedule not in ("constant", "cosine", "linear_decay"):
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; choose constant, cosine or linear_decay")
        if self.engine not in ("auto", "autograd"):
            raise ValueError(f"unknown engine {self.engine!r}; choose 'auto' or 'autograd'")
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown update scheme {self.scheme!r}; choose one of {', '.join(SCHEMES)}")
        if isinstance(self.n_critic, bool) or not isinstance(self.n_critic, int) or self.n_critic < 1:
            raise ValueError(f"n_critic must be an integer >= 1, got {self.n_critic!r}")
        for name in ("lr_g", "lr_d", "clip_value", "gp_lambda"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")

    @property
    def critic_steps(self) -> int:
        """Critic updates per generator update."""
        return self.n_critic if self.scheme == "n_critic" else 1


def clip_weights_(module: nn.Module, c: float) -> None:
    """Clip every parameter of ``module`` to ``[-c, c]`` in place (WGAN weight clipping, Arjovsky et al. 2017)."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)


class AdversarialTask:
    """One generator update (and its critic updates) of a GAN with the scheme of an :class:`AdversarialConfig`.

    The model provides ``generate(z[, y])``, ``critic(x[, y])``, ``sample_latent(n)``, ``generator`` and
    ``discriminator`` modules, and ``config.loss``. A batch is a tensor of real examples, or an (examples, labels)
    pair for a class-conditional model (the fakes then get the same labels). ``next_batch`` supplies the extra
    real batches of ``n_critic > 1``.
    """

    MIN_LR_RATIO = 0.01  # the end of the linear decay, as a fraction of the initial learning rates

    def __init__(self, model: HubModule, config: TrainConfig, device: torch.device, dist_info: DistInfo,
                 adv: AdversarialConfig, next_batch: Callable[[], Any] | None = None) -> None:
        if dist_info.world_size > 1:
            raise ValueError("adversarial training runs in a single process (no DistributedDataParallel)")
        if adv.critic_steps > 1 and next_batch is None:
            raise ValueError("n_critic > 1 needs next_batch to draw a fresh real batch for every critic step")
        self.model, self.config, self.adv = model, config, adv
        self.loss: str = model.config.loss  # type: ignore[attr-defined]
        self.next_batch = next_batch
        self.g_params = [p for p in model.generator.parameters() if p.requires_grad]  # type: ignore[union-attr]
        self.d_params = [p for p in model.discriminator.parameters() if p.requires_grad]  # type: ignore[union-attr]
        betas = (adv.beta1, adv.beta2)
        # fused Adam: one kernel for all tensors (3x faster than foreach on CPU for these small nets)
        self.opt_g = torch.optim.Adam(self.g_params, lr=adv.lr_g, betas=betas, fused=True)
        self.opt_d = torch.optim.Adam(self.d_params, lr=adv.lr_d, betas=betas, fused=True)
        # The task's own noise: a run's z stream depends on its seed alone, not on other runs sharing the process
        # (two A/B runs, or two browser sessions); saved in checkpoints through get_state / set_state.
        self.z_gen = torch.Generator(device=device).manual_seed(config.seed + 7919)
        self.base_lrs = (adv.lr_g, adv.lr_d)

    # -- pieces ----------------------------------------------------------------------------------------------
    @staticmethod
    def _split(batch: Any) -> tuple[Tensor, Tensor | None]:
        return (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)

    def _generate(self, n: int, y: Tensor | None) -> Tensor:
        z = self.model.sample_latent(n, generator=self.z_gen)  # type: ignore[operator]
        return self.model.generate(z) if y is None else self.model.generate(z, y)  # type: ignore[operator]

    def _critic(self, x: Tensor, y: Tensor | None) -> Tensor:
        return self.model.critic(x) if y is None else self.model.critic(x, y)  # type: ignore[operator]

    def _critic_loss(self, real: Tensor, fake: Tensor, y: Tensor | None, out: Tensor | None = None
                     ) -> tuple[Tensor, dict[str, Tensor]]:
        """Critic loss on real and (detached or not) fakes; ``out`` = precomputed ``D([real, fake])``."""
        b = real.shape[0]
        if out is None:
            yy = None if y is None else torch.cat([y, y])
            out = self._critic(torch.cat([real, fake]), yy)  # one forward for both halves
        d_real, d_fake = out[:b], out[b:]
        loss = losses.discriminator_loss(self.loss, d_real, d_fake)
        metrics = {"d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}
        if self.loss == "wgan_gp":
            critic = (lambda x: self._critic(x, y)) if y is not None else self._critic_unconditional
            gp = losses.gradient_penalty(critic, real, fake, lam=self.adv.gp_lambda)
            loss = loss + gp
            metrics["gp"] = gp.detach()
        return loss, metrics

    def _critic_unconditional(self, x: Tensor) -> Tensor:
        return self.model.critic(x)  # type: ignore[operator]

    def _update_d(self, loss: Tensor, retain_graph: bool = False) -> Tensor:
        norm = apply_gradients(loss, self.d_params, self.opt_d, None, self.config.grad_clip,
                               only_params=True, retain_graph=retain_graph)
        if self.loss == "wgan_clip":
            clip_weights_(self.model.discriminator, self.adv.clip_value)  # type: ignore[arg-type]
        return norm

    def _update_g(self, loss: Tensor, retain_graph: bool = False) -> Tensor:
        return apply_gradients(loss, self.g_params, self.opt_g, None, self.config.grad_clip,
                               only_params=True, retain_graph=retain_graph)

    def _set_learning_rates(self, step: int) -> None:
        """Both players' learning rates at ``step`` under ``adv.lr_schedule`` (nothing to do when constant)."""
        if self.adv.lr_schedule == "constant":
            return
        # t = step, T = total steps, r = MIN_LR_RATIO: cosine ``r + (1 - r) (1 + cos(pi t / T)) / 2``,
        # linear ``1 - (1 - r) t / T``; a function of the step alone, so a resumed run continues it.
        frac = min(max(step - 1, 0) / max(self.config.steps - 1, 1), 1.0)
        r = self.MIN_LR_RATIO
        scale = (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * frac)) if self.adv.lr_schedule == "cosine"
                 else 1.0 - (1.0 - r) * frac)
        for opt, base in ((self.opt_g, self.base_lrs[0]), (self.opt_d, self.base_lrs[1])):
            for group in opt.param_groups:
                group["lr"] = base * scale

    # -- the step --------------------------------------------------------------------------------------------
    def step(self, batch: Any, step: int) -> dict[str, Tensor]:
        """One generator update with its critic update(s); returns detached metrics (d_loss, g_loss, ...)."""
        real, y = self._split(batch)
        b = real.shape[0]
        self._set_learning_rates(step)
        if self.adv.scheme == "simultaneous":
            fake = self._generate(b, y)
            yy = None if y is None else torch.cat([y, y])
            out = self._critic(torch.cat([real, fake]), yy)           # D at phi, G at theta: shared by both players
            d_loss, metrics = self._critic_loss(real, fake, y, out=out)
            g_loss = losses.generator_loss(self.loss, out[b:])
            # Both gradients are taken at (theta, phi): G's update first keeps the graph for the critic's backward,
            # which reads only critic tensors (the step changed G's weights, which that backward never touches).
            g_norm = self._update_g(g_loss, retain_graph=True)
            d_norm = self._update_d(d_loss)
        else:
            fake = None
            for i in range(self.adv.critic_steps):
                if i > 0:
                    real, y = self._split(self.next_batch())  # type: ignore[misc]
                last = i == self.adv.critic_steps - 1
                if last:
                    fake = self._generate(real.shape[0], y)                   # kept for the generator step
                    d_loss, metrics = self._critic_loss(real, fake.detach(), y)
                else:
                    with torch.no_grad():
                        fake_i = self._generate(real.shape[0], y)
                    d_loss, metrics = self._critic_loss(real, fake_i, y)
                d_norm = self._update_d(d_loss)
            assert fake is not None
            g_loss = losses.generator_loss(self.loss, self._critic(fake, y))  # against the updated critic
            g_norm = self._update_g(g_loss)
        metrics.update({"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_grad_norm": d_norm.detach(),
                        "g_grad_norm": g_norm.detach()})
        return metrics

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def get_state(self) -> dict[str, Tensor]:
        """The noise generator's state (saved in checkpoints by the shared loop for an exact resume)."""
        return {"z_gen": self.z_gen.get_state()}

    def set_state(self, state: dict[str, Tensor]) -> None:
        """Restore :meth:`get_state`."""
        self.z_gen.set_state(state["z_gen"])


def adversarial_task(adv: AdversarialConfig, source: BatchSource | None = None
                     ) -> Callable[[HubModule, TrainConfig, torch.device, DistInfo], AdversarialTask]:
    """A ``task_factory`` for :func:`gen_core.train.loop.train`; ``source`` (the loop's data) feeds n_critic > 1.

    With ``adv.engine == "auto"`` a plain 2-D MLP GAN gets :class:`gen_core.train.mlp_gan.MLPAdversarialTask`
    (the same step with a hand-written backward pass); every other model the autograd :class:`AdversarialTask`.
    """

    def factory(model: HubModule, config: TrainConfig, device: torch.device, dist_info: DistInfo) -> AdversarialTask:
        from gen_core.train.mlp_gan import MLPAdversarialTask, supports_hand_backward  # imports this module

        cls = MLPAdversarialTask if adv.engine == "auto" and supports_hand_backward(model) else AdversarialTask
        return cls(model, config, device, dist_info, adv, next_batch=source.next_batch if source is not None else None)

    return factory
