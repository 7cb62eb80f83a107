"""Prototype, not the engine: how fast could a mixed-precision live GAN step be? (issue 5, the 2x target)

The same alternating non-saturating step as the GAN tab's live engine (``gen_core.train.mlp_gan``), on the same
networks (GAN2D, 3 hidden layers of 128, batch 256, ring, Adam(1e-3, 0.5), fused), written flat for speed:

- the loss head's derivative in closed form, ``d softplus(-r)/dr = -sigmoid(-r)`` and ``d softplus(f)/df =
  sigmoid(f)`` (the engine differentiates ``gen_core.losses`` with autograd on the (B,) critic outputs);
- with ``--dtype bf16`` the hidden 128 x 128 layers' products and activations in bfloat16 (bf16 copies of those
  weights, refreshed after each fused-Adam step; the 2-D input and output layers and all master weights in float32);
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

_relu_bwd = torch.ops.aten.threshold_backward.default
_leaky_bwd = torch.ops.aten.leaky_relu_backward.default


class FlatMLP:
    """``Linear, act, ..., Linear`` with its hidden (square) layers run in ``dtype``; first and last in float32."""

    def __init__(self, seq: nn.Sequential, leaky: bool, dtype: torch.dtype) -> None:
        linears = list(seq)[0::2]
        self.w = [m.weight for m in linears]
        self.b = [m.bias for m in linears]
        self.leaky, self.dtype, self.n = leaky, dtype, len(linears)
        self.w_low = {k: self.w[k].detach().to(dtype) for k in range(1, self.n - 1)}
        self.b_low = {k: self.b[k].detach().to(dtype) for k in range(1, self.n - 1)}
        self.params = [p for pair in zip(self.w, self.b) for p in pair]
        for p in self.params:
            p.grad = torch.zeros_like(p)
        self.last_in: Tensor | None = None

    def refresh(self) -> None:
        """Copy the float32 master weights into the low-precision copies (after each optimizer step)."""
        for k in self.w_low:
            self.w_low[k].copy_(self.w[k])
            self.b_low[k].copy_(self.b[k])

    def _act(self, h: Tensor) -> Tensor:
        return F.leaky_relu_(h, 0.2) if self.leaky else torch.relu_(h)

    def _act_back(self, g: Tensor, h: Tensor) -> Tensor:
        return _leaky_bwd(g, h, 0.2, True) if self.leaky else _relu_bwd(g, h, 0.0)

    def forward(self, x: Tensor) -> list[Tensor]:
        """``[x, h_1 (dtype), ..., h_{L-1} (dtype), out (float32)]``."""
        hs = [x, self._act(torch.addmm(self.b[0], x, self.w[0].t())).to(self.dtype)]
        for k in range(1, self.n - 1):
            hs.append(self._act(torch.addmm(self.b_low[k], hs[-1], self.w_low[k].t())))
        self.last_in = hs[-1].float()
        hs.append(torch.addmm(self.b[-1], self.last_in, self.w[-1].t()))
        return hs

    def backward(self, hs: list[Tensor], g: Tensor, weights: bool = True) -> Tensor:
        """Write the weight gradients (``weights``) and return dL/dx for ``g = dL/dout``."""
        assert self.last_in is not None
        if weights:
            torch.mm(g.t(), self.last_in, out=self.w[-1].grad)
            torch.sum(g, 0, out=self.b[-1].grad)
        g = torch.mm(g, self.w[-1]).to(self.dtype)
        for k in range(self.n - 2, 0, -1):
            g = self._act_back(g, hs[k + 1])
            if weights:
                self.w[k].grad.copy_(torch.mm(g.t(), hs[k]))  # type: ignore[union-attr]
                torch.sum(g, 0, dtype=torch.float32, out=self.b[k].grad)
            g = torch.mm(g, self.w_low[k])
        g = self._act_back(g, hs[1]).float()
        if weights:
            torch.mm(g.t(), hs[0], out=self.w[0].grad)
            torch.sum(g, 0, out=self.b[0].grad)
        return torch.mm(g, self.w[0])


def _adam(opt: torch.optim.Optimizer) -> None:
    """One fused Adam kernel on the optimizer's own state (as the engine's ``_adam_step``)."""
    group = opt.param_groups[0]
    params = group["params"]
    states = [opt.state[p] for p in params]
    steps = [s["step"] for s in states]
    torch._foreach_add_(steps, 1)
    beta1, beta2 = group["betas"]
    torch._fused_adam_(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                       [s["exp_avg_sq"] for s in states], [], steps, lr=float(group["lr"]), beta1=beta1, beta2=beta2,
                       weight_decay=0.0, eps=group["eps"], amsgrad=False, maximize=False)


def _check(params: list[Tensor], loss: Tensor) -> None:
    norm = torch.nn.utils.get_total_norm([p.grad for p in params]).item()  # type: ignore[misc]
    if not (math.isfinite(norm) and math.isfinite(loss.item())):
        raise FloatingPointError(f"diverged: loss {loss.item():.4g}, gradient norm {norm:.4g}")


@torch.no_grad()
def prototype_steps_per_s(steps: int, dtype: torch.dtype, seed: int = 0, batch: int = 256) -> tuple[float, str]:
    """Steps/s of the flat step in ``dtype``, and the mode report of the trained generator (2,500 samples)."""
    target = make_target("ring")
    torch.manual_seed(seed)
    gan = GAN2D(GAN2DConfig(hidden=128, depth=3, data_scale=data_scale_for(target.bounds)))
    s = float(gan.config.data_scale)
    G, D = FlatMLP(gan.generator, False, dtype), FlatMLP(gan.discriminator, True, dtype)
    opt_g = torch.optim.Adam(G.params, lr=1e-3, betas=(0.5, 0.999), fused=True)
    opt_d = torch.optim.Adam(D.params, lr=1e-3, betas=(0.5, 0.999), fused=True)
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
        _check(D.params, d_loss)
        _adam(opt_d)
        D.refresh()
        d_hs = D.forward(fake / s)                                  # against the updated critic
        out = d_hs[-1][:, 0]
        g_loss = F.softplus(-out).mean()
        gx = D.backward(d_hs, (-torch.sigmoid(-out) / batch)[:, None], weights=False)
        G.backward(g_hs, gx)                # x = G(z) s enters D as x / s: the two factors cancel
        _check(G.params, g_loss)
        _adam(opt_g)
        G.refresh()
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
