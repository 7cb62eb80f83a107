"""The adversarial step of a 2-D MLP GAN with its backward pass written by hand: the GAN tab's live engine.

For the small MLPs of :class:`gen_core.models.gan.GAN2D` (a few hidden layers of ~128 units, batches of 256 points)
a step is a few dozen small matrix products, and autograd's bookkeeping around them (graph nodes, saved tensors,
gradient accumulation, the optimizer's Python) costs more than the products themselves. :class:`MLPAdversarialTask`
computes exactly what :class:`gen_core.train.adversarial.AdversarialTask` computes, with the chain rule of an MLP
written out (lecture notes 000 2.2, backpropagation; 001, "Minimax optimization in PyTorch" for the alternation):

- forward, layer ``k``: ``a_k = h_{k-1} W_k^T + b_k``, ``h_k = act(a_k)`` (ReLU in G, LeakyReLU(0.2) in D), the
  activations applied in place and kept for the backward pass;
- backward from ``g_L = dL/dout``: ``dL/dW_k = g_k^T h_{k-1}``, ``dL/db_k = sum_batch g_k``,
  ``g_{k-1} = act'(a_{k-1}) * (g_k W_k)``, each product written straight into the parameter's ``.grad``;
- the loss heads stay the pure functions of :mod:`gen_core.losses`: autograd differentiates them with respect to
  the critic's (B,) outputs only, so every objective of the notes keeps one definition.

The update schemes, the reuse of the critic step's fakes, the learning-rate schedules, weight clipping, gradient
clipping and the divergence check (raise :class:`gen_core.train.loop.Diverged` *before* a NaN/inf update) are those
of the parent class; the optimizers are the same fused ``torch.optim.Adam`` objects, so checkpoints and resume are
unchanged. The results equal the autograd step's to float rounding (tested for every loss and scheme).

:func:`supports_hand_backward` says when it applies: a :class:`GAN2D`-shaped model (Linear / ReLU generator,
Linear / LeakyReLU critic) without spectral normalisation, a loss other than ``wgan_gp`` (its penalty needs a
second derivative through the critic) and no class labels. ``adversarial_task`` picks it then, unless
``AdversarialConfig(engine="autograd")``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from gen_core import losses
from gen_core.train.adversarial import AdversarialTask, clip_weights_
from gen_core.train.loop import Diverged

__all__ = ["MLPAdversarialTask", "supports_hand_backward"]

_relu_backward = torch.ops.aten.threshold_backward.default
_leaky_relu_backward = torch.ops.aten.leaky_relu_backward.default


def _mlp_layers(seq: Any, activation: type[nn.Module]) -> list[nn.Linear] | None:
    """The linear layers of ``seq`` if it is ``Linear, act, Linear, act, ..., Linear``; None otherwise."""
    if not isinstance(seq, nn.Sequential) or len(seq) % 2 == 0:
        return None
    mods = list(seq)
    linears = mods[0::2]
    if not all(type(m) is nn.Linear and m.bias is not None for m in linears):
        return None                   # a spectral-norm parametrisation or another layer type: autograd's job
    if not all(type(m) is activation for m in mods[1::2]):
        return None
    if activation is nn.LeakyReLU and not all(m.negative_slope > 0 for m in mods[1::2]):
        return None
    return linears                    # type: ignore[return-value]


def supports_hand_backward(model: Any) -> bool:
    """True when :class:`MLPAdversarialTask` can train ``model``: a plain 2-D MLP GAN and a loss other than
    ``wgan_gp``."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "loss", None) == "wgan_gp" or getattr(config, "normalization", "none") != "none":
        return False
    if getattr(config, "n_classes", 0):
        return False
    return (_mlp_layers(getattr(model, "generator", None), nn.ReLU) is not None
            and _mlp_layers(getattr(model, "discriminator", None), nn.LeakyReLU) is not None)


class _MLP:
    """Forward and backward of ``Linear, act, ..., Linear`` on the module's own parameters (no autograd graph)."""

    def __init__(self, seq: nn.Sequential, leaky: bool) -> None:
        activation = nn.LeakyReLU if leaky else nn.ReLU
        linears = _mlp_layers(seq, activation)
        if linears is None:
            raise ValueError("not a Linear / activation MLP; train it with AdversarialConfig(engine='autograd')")
        self.weights = [m.weight for m in linears]                    # (out, in) each
        self.biases = [m.bias for m in linears]
        self.slope = float(seq[1].negative_slope) if leaky and len(seq) > 1 else 0.0
        self.leaky = leaky
        for p in self.weights + self.biases:                         # gradient buffers written in place
            if p.grad is None or p.grad.shape != p.shape:
                p.grad = torch.zeros_like(p)

    @property
    def grads(self) -> list[Tensor]:
        """The gradient buffers, in parameter order."""
        return [p.grad for pair in zip(self.weights, self.biases) for p in pair]  # type: ignore[misc]

    def forward(self, x: Tensor) -> list[Tensor]:
        """``[x, h_1, ..., h_{L-1}, out]``: the input, each hidden activation (after the nonlinearity), the output."""
        hs = [x]
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.addmm(b, hs[-1], w.t())                          # (B, out)
            if k < last:
                h = torch.nn.functional.leaky_relu_(h, self.slope) if self.leaky else torch.relu_(h)
            hs.append(h)
        return hs

    def backward(self, hs: list[Tensor], grad_out: Tensor, weights: bool = True, inputs: bool = False
                 ) -> Tensor | None:
        """Back-propagate ``grad_out = dL/dout`` (B, out) through the activations ``hs`` of :meth:`forward`:
        write ``dL/dW``, ``dL/db`` into the ``.grad`` buffers (``weights``) and return ``dL/dx`` (``inputs``)."""
        g = grad_out
        for k in range(len(self.weights) - 1, -1, -1):
            if k < len(self.weights) - 1:                              # through act: its output's sign is its input's
                g = (_leaky_relu_backward(g, hs[k + 1], self.slope, True) if self.leaky
                     else _relu_backward(g, hs[k + 1], 0.0))
            if weights:
                torch.mm(g.t(), hs[k], out=self.weights[k].grad)      # (out, in)
                torch.sum(g, 0, out=self.biases[k].grad)
            if k > 0 or inputs:
                g = torch.mm(g, self.weights[k])                       # (B, in)
        return g if inputs else None


def _head_grad(fn: Any, *outs: Tensor) -> tuple[Tensor, list[Tensor]]:
    """A loss head of :mod:`gen_core.losses` on critic outputs, and its gradient with respect to each of them."""
    leaves = [o.detach().requires_grad_(True) for o in outs]
    with torch.enable_grad():
        loss = fn(*leaves)
        grads = torch.autograd.grad(loss, leaves)
    return loss.detach(), list(grads)


class MLPAdversarialTask(AdversarialTask):
    """:class:`AdversarialTask` for plain 2-D MLP GANs with a hand-written backward pass (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not supports_hand_backward(self.model):
            raise ValueError("this model needs autograd (spectral norm, wgan_gp or another architecture); "
                             "use AdversarialConfig(engine='autograd')")
        self.G = _MLP(self.model.generator, leaky=False)               # type: ignore[arg-type]
        self.D = _MLP(self.model.discriminator, leaky=True)            # type: ignore[arg-type]
        self.scale = float(self.model.config.data_scale)               # type: ignore[attr-defined]
        self.g_grads, self.d_grads = self.G.grads, self.D.grads

    # -- pieces ----------------------------------------------------------------------------------------------
    def _g_forward(self, n: int) -> tuple[list[Tensor], Tensor]:
        """G's activations for n fresh latent draws (the task's own noise) and the fakes ``G(z) * data_scale``."""
        hs = self.G.forward(self.model.sample_latent(n, generator=self.z_gen))  # type: ignore[operator]
        return hs, hs[-1] if self.scale == 1.0 else hs[-1] * self.scale

    def _to_critic(self, x: Tensor) -> Tensor:
        return x if self.scale == 1.0 else x / self.scale

    def _check(self, loss: Tensor, grads: list[Tensor]) -> Tensor:
        """Global gradient norm; clip to ``grad_clip``; raise ``Diverged`` on a NaN/inf (before any update).

        As ``clip_grad_norm_``: gradients are scaled by ``grad_clip / (norm + 1e-6)`` when that is below 1 (the
        scaling by exactly 1 otherwise is skipped)."""
        norm = torch.nn.utils.get_total_norm(grads)
        value = norm.item()
        if not (math.isfinite(value) and math.isfinite(loss.item())):
            raise Diverged(f"loss {loss.item():.4g}, gradient norm {value:.4g}")
        clip = self.config.grad_clip
        if clip is not None and clip < value + 1e-6:
            torch._foreach_mul_(grads, torch.clamp(clip / (norm + 1e-6), max=1.0))
        return norm

    @staticmethod
    def _adam_step(opt: torch.optim.Optimizer) -> None:
        """``opt.step()`` for the fused single-group Adam of the parent class, as one kernel call on its own state
        (the Python of ``Optimizer.step`` costs twice the kernel for these nets); the first step, and any other
        optimizer setting, goes through ``opt.step()``."""
        group = opt.param_groups[0]
        params = group["params"]
        if (len(opt.param_groups) != 1 or not group.get("fused") or group["amsgrad"] or group["weight_decay"]
                or group["maximize"] or group.get("differentiable") or group.get("decoupled_weight_decay")
                or any(p not in opt.state for p in params)):
            opt.step()
            return
        states = [opt.state[p] for p in params]
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                           [s["exp_avg_sq"] for s in states], [], steps, lr=float(group["lr"]), beta1=beta1,
                           beta2=beta2, weight_decay=0.0, eps=group["eps"], amsgrad=False, maximize=False)

    def _critic_update(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """One critic step on [real, fake]: (loss, gradient norm, d_real / d_fake means); the update is applied."""
        b = real.shape[0]
        hs = self.D.forward(self._to_critic(torch.cat([real, fake])))
        out = hs[-1][:, 0]
        loss, (g_real, g_fake) = _head_grad(lambda r, f: losses.discriminator_loss(self.loss, r, f), out[:b], out[b:])
        self.D.backward(hs, torch.cat([g_real, g_fake])[:, None])
        norm = self._check(loss, self.d_grads)
        self._step_critic()
        return loss, norm, {"d_real": out[:b].mean(), "d_fake": out[b:].mean()}

    def _step_critic(self) -> None:
        """Apply the critic's checked gradients; WGAN weight clipping after the step (as ``_update_d``)."""
        self._adam_step(self.opt_d)
        if self.loss == "wgan_clip":
            clip_weights_(self.model.discriminator, self.adv.clip_value)  # type: ignore[arg-type]

    def _generator_grads(self, g_hs: list[Tensor], d_hs: list[Tensor], grad_out: Tensor) -> None:
        """G's weight gradients: ``grad_out = dL_G/dD(x)`` back through D (inputs only) and then through G."""
        gx = self.D.backward(d_hs, grad_out[:, None], weights=False, inputs=True)
        assert gx is not None
        if self.scale != 1.0:               # x = G(z) * s enters D as x / s: the two factors autograd would apply
            gx = gx / self.scale * self.scale
        self.G.backward(g_hs, gx)

    # -- the step --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, batch: Any, step: int) -> dict[str, Tensor]:
        """One generator update with its critic update(s); returns detached metrics (d_loss, g_loss, ...)."""
        real, _ = self._split(batch)
        b = real.shape[0]
        self._set_learning_rates(step)
        if self.adv.scheme == "simultaneous":
            g_hs, fake = self._g_forward(b)
            d_hs = self.D.forward(self._to_critic(torch.cat([real, fake])))   # D at phi, G at theta: both players
            out = d_hs[-1][:, 0]
            d_loss, (g_real, g_fake) = _head_grad(lambda r, f: losses.discriminator_loss(self.loss, r, f),
                                                  out[:b], out[b:])
            g_loss, (g_out,) = _head_grad(lambda f: losses.generator_loss(self.loss, f), out[b:])
            self.D.backward(d_hs, torch.cat([g_real, g_fake])[:, None])
            self._generator_grads(g_hs, [h[b:] for h in d_hs], g_out)      # the fake half of the same forward
            g_norm = self._check(g_loss, self.g_grads)
            d_norm = self._check(d_loss, self.d_grads)                      # both checked before either update
            self._adam_step(self.opt_g)
            self._step_critic()
            metrics = {"d_real": out[:b].mean(), "d_fake": out[b:].mean()}
        else:
            for i in range(self.adv.critic_steps):
                if i > 0:
                    real, _ = self._split(self.next_batch())  # type: ignore[misc]
                g_hs, fake = self._g_forward(real.shape[0])                 # the last one is kept for G's step
                d_loss, d_norm, metrics = self._critic_update(real, fake)
            d_hs = self.D.forward(self._to_critic(fake))                    # against the updated critic
            g_loss, (g_out,) = _head_grad(lambda f: losses.generator_loss(self.loss, f), d_hs[-1][:, 0])
            self._generator_grads(g_hs, d_hs, g_out)
            g_norm = self._check(g_loss, self.g_grads)
            self._adam_step(self.opt_g)
        metrics.update({"d_loss": d_loss, "g_loss": g_loss, "d_grad_norm": d_norm, "g_grad_norm": g_norm})
        return metrics
