"""Prototype, not the engine: how fast could a mixed-precision live GAN step be? (issue 5, the 2x target)

The same alternating non-saturating step as the GAN tab's live engine (``gen_core.train.mlp_gan``), on the same
networks (GAN2D, 3 hidden layers of 128, batch 256, ring, Adam(1e-3, 0.5), fused), with the engine's own MLP
forward / backward and fused-Adam call, written as one flat loop:

- the loss head's derivative in closed form, ``d softplus(-r)/dr = -sigmoid(-r)`` and ``d softplus(f)/df =
  sigmoid(f)`` (the engine differentiates ``gen_core.losses`` with autograd on the (B,) critic outputs);
- in its bfloat16 runs (``LowPrecisionMLP``) the hidden 128 x 128 layers' products and activations in bfloat16
  (bf16 copies of those weights, refreshed after each fused-Adam step; the 2-D input and output layers and all
  master weights in float32);
- one gradient-norm check (a sync) per player, as the engine.

Each round times the plain eager loop of ``bench_gan.py`` (the reference), the engine's shared loop, and the
prototype in float32 and bfloat16, in one process; ratios are against the plain loop of the same round. The mode
report (2,500 samples, EVALUATION.md) after each prototype run shows whether bf16 training still covers the ring.

Usage: python benchmarks/gan_bf16_prototype.py [--rounds 2] [--steps 1500]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_gan  # noqa: E402
from gen_core.data.toy2d import make_target  # noqa: E402
from gen_core.metrics.modes import N_SAMPLES, mode_report  # noqa: E402
from gen_core.models.gan import GAN2D, GAN2DConfig, data_scale_for  # noqa: E402
from gen_core.train.mlp_gan import MLPAdversarialTask, _MLP  # noqa: E402

_relu_bwd = torch.ops.aten.threshold_backward.default
_leaky_bwd = torch.ops.aten.leaky_relu_backward.default


class LowPrecisionMLP(_MLP):
    """The engine's :class:`gen_core.train.mlp_gan._MLP` with its hidden (square) layers run in ``dtype``: bf16
    copies of their weights, refreshed after each optimizer step; the first and last layers stay in float32."""

    def __init__(self, seq: nn.Sequential, leaky: bool, dtype: torch.dtype) -> None:
        super().__init__(seq, leaky)
        self.dtype, self.n = dtype, len(self.weights)
        hidden = range(1, self.n - 1)
        self.w_low = {k: self.weights[k].detach().to(dtype) for k in hidden}
        self.b_low = {k: self.biases[k].detach().to(dtype) for k in hidden}
        self.last_in: Tensor | None = None

    def refresh(self) -> None:
        """Copy the float32 master weights into the low-precision copies."""
        for k in self.w_low:
            self.w_low[k].copy_(self.weights[k])
            self.b_low[k].copy_(self.biases[k])

    def _act(self, h: Tensor) -> Tensor:
        return F.leaky_relu_(h, self.slope) if self.leaky else torch.relu_(h)

    def _act_back(self, g: Tensor, h: Tensor) -> Tensor:
        return _leaky_bwd(g, h, self.slope, True) if self.leaky else _relu_bwd(g, h, 0.0)

    def forward(self, x: Tensor) -> list[Tensor]:
        """``[x, h_1 (dtype), ..., h_{L-1} (dtype), out (float32)]``."""
        w, b = self.weights, self.biases
        hs = [x, self._act(torch.addmm(b[0], x, w[0].t())).to(self.dtype)]
        for k in range(1, self.n - 1):
            hs.append(self._act(torch.addmm(self.b_low[k], hs[-1], self.w_low[k].t())))
        self.last_in = hs[-1].float()
        hs.append(torch.addmm(b[-1], self.last_in, w[-1].t()))
        return hs

    def backward(self, hs: list[Tensor], grad_out: Tensor, weights: bool = True, inputs: bool = False
                 ) -> Tensor | None:
        """As the parent's: weight gradients into ``.grad`` (``weights``), dL/dx returned (``inputs``)."""
        assert self.last_in is not None
        w, b, g = self.weights, self.biases, grad_out
        if weights:
            torch.mm(g.t(), self.last_in, out=w[-1].grad)
            torch.sum(g, 0, out=b[-1].grad)
        g = torch.mm(g, w[-1]).to(self.dtype)
        for k in range(self.n - 2, 0, -1):
            g = self._act_back(g, hs[k + 1])
            if weights:
                w[k].grad.copy_(torch.mm(g.t(), hs[k]))  # type: ignore[union-attr]
                torch.sum(g, 0, dtype=torch.float32, out=b[k].grad)
            g = torch.mm(g, self.w_low[k])
        g = self._act_back(g, hs[1]).float()
        if weights:
            torch.mm(g.t(), hs[0], out=w[0].grad)
            torch.sum(g, 0, out=b[0].grad)
        return torch.mm(g, w[0]) if inputs else None


def _net(seq: nn.Sequential, leaky: bool, dtype: torch.dtype) -> _MLP:
    """The engine's own MLP in float32, the low-precision variant otherwise."""
    return _MLP(seq, leaky) if dtype == torch.float32 else LowPrecisionMLP(seq, leaky, dtype)


def _refresh(net: _MLP) -> None:
    if isinstance(net, LowPrecisionMLP):
        net.refresh()


def _check(grads: list[Tensor], loss: Tensor) -> None:
    norm = torch.nn.utils.get_total_norm(grads).item()
    if not (math.isfinite(norm) and math.isfinite(loss.item())):
        raise FloatingPointError(f"diverged: loss {loss.item():.4g}, gradient norm {norm:.4g}")


@torch.no_grad()
def prototype_steps_per_s(steps: int, dtype: torch.dtype, seed: int = 0, batch: int = 256) -> tuple[float, str]:
    """Steps/s of the flat step in ``dtype``, and the mode report of the trained generator (2,500 samples)."""
    target = make_target("ring")
    torch.manual_seed(seed)
    gan = GAN2D(GAN2DConfig(hidden=128, depth=3, data_scale=data_scale_for(target.bounds)))
    s = float(gan.config.data_scale)
    G, D = _net(gan.generator, False, dtype), _net(gan.discriminator, True, dtype)  # type: ignore[arg-type]
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=True)
    opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=True)
    adam = MLPAdversarialTask._adam_step                              # one fused kernel, as the engine
    opt_g.step()                       # creates the state (zero gradients: the weights do not move)
    opt_d.step()
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        real = target.sample(batch, generator=gen)
        g_hs = G.forward(torch.randn(batch, gan.latent_dim, generator=gen))
        fake = g_hs[-1] * s
        d_hs = D.forward(torch.cat([real, fake]) / s)
        out = d_hs[-1][:, 0]
        d_loss = F.softplus(-out[:batch]).mean() + F.softplus(out[batch:]).mean()
        grad = torch.cat([-torch.sigmoid(-out[:batch]), torch.sigmoid(out[batch:])]) / batch
        D.backward(d_hs, grad[:, None])
        _check(D.grads, d_loss)
        adam(opt_d)
        _refresh(D)
        d_hs = D.forward(fake / s)                                  # against the updated critic
        out = d_hs[-1][:, 0]
        g_loss = F.softplus(-out).mean()
        gx = D.backward(d_hs, (-torch.sigmoid(-out) / batch)[:, None], weights=False, inputs=True)
        assert gx is not None
        G.backward(g_hs, gx)                # x = G(z) s enters D as x / s: the two factors cancel
        _check(G.grads, g_loss)
        adam(opt_g)
        _refresh(G)
    rate = steps / (time.perf_counter() - t0)
    z = torch.randn(N_SAMPLES, gan.latent_dim, generator=torch.Generator().manual_seed(seed + 1))
    r = mode_report(gan.eval().generate(z), target.mode_centres, target.std)
    return rate, f"{r.modes}/{r.n_modes} modes, {r.high_quality_pct:.1f}% HQ"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1500)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ratios: dict[str, list[float]] = {"engine": [], "fp32": [], "bf16": []}
    for r in range(args.rounds):
        plain = bench_gan.plain_loop_steps_per_s(args.steps, seed=r)
        engine = bench_gan.loop_steps_per_s(args.steps, seed=r)
        p32, m32 = prototype_steps_per_s(args.steps, torch.float32, seed=r)
        p16, m16 = prototype_steps_per_s(args.steps, torch.bfloat16, seed=r)
        for key, v in (("engine", engine), ("fp32", p32), ("bf16", p16)):
            ratios[key].append(v / plain)
        print(f"round {r}: plain {plain:.0f} steps/s; engine x{engine / plain:.2f}; prototype float32 "
              f"x{p32 / plain:.2f} ({m32}), bfloat16 x{p16 / plain:.2f} ({m16})", flush=True)
    print("medians over rounds, / plain loop: " + ", ".join(f"{k} x{statistics.median(v):.2f}"
                                                          for k, v in ratios.items()))


if __name__ == "__main__":
    main()
