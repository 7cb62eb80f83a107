"""Benchmark: gen_core's RealNVP and spline flow against the same architectures in normflows and zuko, in one run.

    pip install --no-deps normflows==1.7.3 zuko==1.6.0    # (requirements-bench.txt) keeps the installed torch
    nice -n 10 python benchmarks/bench_flows.py           # RealNVP and spline, 8 couplings, width 64, batch 256,
                                                          # 2000 steps, 1 thread
    python benchmarks/bench_flows.py --flows realnvp --steps 4000 --json bench.json

RealNVP: every model has the same coupling count, the same conditioner MLP (1 -> width -> width -> 2, SiLU, last
layer zero so each starts as the identity) and a standard-normal base. Spline: 8 rational-quadratic bins on
[-5, 5] with linear tails (3K - 1 = 23 numbers per transformed coordinate); gen_core and normflows get the same
1 -> width -> width -> 23 conditioner, zuko's NSF (``passes=2``, i.e. coupling) its own masked MLP of the same
widths, which also computes the unused half and so has more parameters. Every model is trained by the same
hand-written step (Adam, lr 1e-3, zero_grad / backward / step) on the *same* pre-drawn batches of the ring target
(8 Gaussians, std 0.05). Training runs interleaved in chunks of ``--chunk`` steps, model after model, so that a
busy or throttled CPU slows all of them alike; steps/s is the median over chunks, and every ratio is taken within
this one process. After ``--steps`` steps each model's test NLL is measured on the same 20,000 held-out samples
and compared with the target's true entropy. The load average (``os.getloadavg``) before and after is printed.

Also reported for RealNVP: gen_core's RealNVP with its default batch norm between couplings, and gen_core's
RealNVP trained by gen_core's shared ``train()`` loop (which also samples the target, clips gradients and checks
finiteness). ``--compile`` adds gen_core's and normflows' RealNVP with ``torch.compile``'d losses, and our loop with
``TrainConfig(compile=True)`` (one untimed chunk first, in which it compiles).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gen_core.data.toy2d import make_target  # noqa: E402
from gen_core.metrics.density import held_out, true_entropy  # noqa: E402
from gen_core.models.flows import Flow, FlowConfig  # noqa: E402
from gen_core.train import TrainConfig, train  # noqa: E402
from gen_core.train.loop import SamplerBatches  # noqa: E402


def conditioner(width: int, n_in: int = 1, n_out: int = 2) -> nn.Sequential:
    """The MLP every implementation gets: x_A (1) -> width -> width -> n_out (RealNVP: shift and log-scale, 2;
    spline: 3K - 1 = 23), SiLU, zero last layer."""
    net = nn.Sequential(nn.Linear(n_in, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                        nn.Linear(width, n_out))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


@dataclass
class Contender:
    """One implementation: its module, its training loss and its held-out log-density."""

    name: str
    module: nn.Module
    loss: Callable[[Tensor], Tensor]
    log_prob: Callable[[Tensor], Tensor]
    rates: list[float] = field(default_factory=list)
    model_ms: list[float] = field(default_factory=list)  # forward + backward per step, per chunk
    optimizer: torch.optim.Optimizer | None = None

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.module.parameters())


def gen_core_flow(kind: str, layers: int, width: int, norm: str = "none") -> Contender:
    """gen_core's RealNVP (``norm``: "none" or its default "batchnorm") or spline flow (8 bins on [-5, 5])."""
    flow = Flow(FlowConfig(flow=kind, dim=2, n_layers=layers, hidden=width, depth=2, norm=norm, n_bins=BINS,
                           tail_bound=TAIL_BOUND))

    def log_prob(x: Tensor) -> Tensor:
        flow.eval()
        try:
            return flow.log_prob(x)
        finally:
            flow.train()

    name = ("gen_core RealNVP" + (" + batch norm (default)" if norm == "batchnorm" else "") if kind == "realnvp"
            else "gen_core spline")
    return Contender(name, flow, lambda x: flow(x)["loss"], log_prob)


BINS = 8
TAIL_BOUND = 5.0


def normflows_spline(layers: int, width: int) -> Contender:
    """normflows' rational-quadratic coupling (Durkan et al.'s code) with gen_core's conditioner, linear tails on
    [-5, 5] and alternating masks; no extra unconditional spline (gen_core has none)."""
    import normflows as nf
    from normflows.flows.neural_spline.coupling import PiecewiseRationalQuadraticCoupling
    from normflows.utils.masks import create_alternating_binary_mask

    class Conditioner(nn.Module):
        """gen_core's conditioner MLP, called as normflows calls it (``net(x, context)``)."""

        def __init__(self, n_in: int, n_out: int) -> None:
            super().__init__()
            self.net = conditioner(width, n_in, n_out)

        def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
            return self.net(x)

    class Coupling(nf.flows.Flow):
        def __init__(self, parity: int) -> None:
            super().__init__()
            self.prqct = PiecewiseRationalQuadraticCoupling(
                mask=create_alternating_binary_mask(2, even=bool(parity)),
                transform_net_create_fn=Conditioner,
                num_bins=BINS, tails="linear", tail_bound=TAIL_BOUND)

        def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
            z, log_det = self.prqct.inverse(z, context)
            return z, log_det.view(-1)

        def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
            z, log_det = self.prqct(z, context)
            return z, log_det.view(-1)

    model = nf.NormalizingFlow(nf.distributions.base.DiagGaussian(2, trainable=False),
                               [Coupling(k % 2) for k in range(layers)])
    return Contender(f"normflows {nf.__version__} spline coupling", model, model.forward_kld, model.log_prob)


def zuko_spline(layers: int, width: int) -> Contender:
    """zuko's NSF with ``passes=2`` (coupling), 8 bins on its fixed [-5, 5], linear tails, masked-MLP conditioner."""
    import zuko

    flow = zuko.flows.NSF(2, transforms=layers, bins=BINS, passes=2, hidden_features=(width, width),
                          activation=nn.SiLU)
    for transform in flow.transform.transforms:
        nn.init.zeros_(transform.hyper[-1].weight)
        nn.init.zeros_(transform.hyper[-1].bias)
    return Contender(f"zuko {zuko.__version__} NSF (coupling)", flow, lambda x: -flow().log_prob(x).mean(),
                     lambda x: flow().log_prob(x))


def normflows_realnvp(layers: int, width: int) -> Contender:
    import normflows as nf

    flows: list[nn.Module] = []
    for _ in range(layers):
        flows += [nf.flows.AffineCouplingBlock(conditioner(width)), nf.flows.Permute(2, mode="swap")]
    model = nf.NormalizingFlow(nf.distributions.base.DiagGaussian(2, trainable=False), flows)
    return Contender(f"normflows {nf.__version__} RealNVP", model, model.forward_kld, model.log_prob)


def zuko_realnvp(layers: int, width: int) -> Contender:
    import zuko

    flow = zuko.flows.RealNVP(2, transforms=layers, hidden_features=(width, width), activation=nn.SiLU)
    for transform in flow.transform.transforms:  # identity start, like the others
        nn.init.zeros_(transform.hyper[-1].weight)
        nn.init.zeros_(transform.hyper[-1].bias)
    return Contender(f"zuko {zuko.__version__} RealNVP", flow, lambda x: -flow().log_prob(x).mean(),
                     lambda x: flow().log_prob(x))


class SharedLoop:
    """gen_core's RealNVP (no batch norm) trained by gen_core's own ``train()`` loop, which samples the target,
    clips gradients and checks finiteness itself; advanced ``chunk`` steps at a time (one "step" event each)."""

    def __init__(self, kind: str, layers: int, width: int, batch: int, steps: int, chunk: int, seed: int,
                 compiled: bool = False) -> None:
        torch.manual_seed(seed)
        self.name = (f"gen_core {'RealNVP' if kind == 'realnvp' else 'spline'} in gen_core's train() loop"
                     + (", TrainConfig(compile=True)" if compiled else ""))
        self.module = Flow(FlowConfig(flow=kind, n_layers=layers, hidden=width, norm="none", n_bins=BINS,
                                      tail_bound=TAIL_BOUND))
        # compiled: one extra chunk first, untimed, in which the compilation happens
        cfg = TrainConfig(steps=steps + (chunk if compiled else 0), batch_size=batch, lr=1e-3, seed=seed,
                          device="cpu", log_every=chunk, grad_clip=1000.0, compile=compiled)
        target = make_target("ring", std=0.05)
        self.events = train(self.module, SamplerBatches(target, batch, seed, torch.device("cpu")), cfg)
        next(self.events)  # "start"
        self.rates: list[float] = []
        self.compile_s = 0.0
        if compiled:
            t0 = time.perf_counter()
            self.run_chunk(chunk)
            self.rates.clear()
            self.compile_s = time.perf_counter() - t0

    def run_chunk(self, chunk: int) -> None:
        t0 = time.perf_counter()
        ev = next(self.events)
        while ev.kind != "step":
            ev = next(self.events)
        self.rates.append(chunk / (time.perf_counter() - t0))

    def finish(self) -> None:
        for _ in self.events:  # end-of-run evaluation hooks (none here) and the "done" event
            pass


def _load() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


BUILDERS: dict[str, list[Callable[[int, int], Contender]]] = {
    "realnvp": [lambda n, w: gen_core_flow("realnvp", n, w, "none"), normflows_realnvp, zuko_realnvp,
                lambda n, w: gen_core_flow("realnvp", n, w, "batchnorm")],
    "spline": [lambda n, w: gen_core_flow("spline", n, w), normflows_spline, zuko_spline],
}


def compiled(build: Callable[[int, int], Contender]) -> Callable[[int, int], Contender]:
    """The same contender with its training loss under ``torch.compile`` (inductor's CPU code generator); the
    held-out log-density stays eager. The one-time compile happens in the untimed warm-up and is reported."""
    def make(layers: int, width: int) -> Contender:
        c = build(layers, width)
        return Contender(c.name + ", torch.compile", c.module, torch.compile(c.loss), c.log_prob)
    return make


def run_kind(kind: str, args: argparse.Namespace, batches: Tensor, test_x: Tensor, entropy: float) -> dict:
    """Train every implementation of one flow family on the same batches, interleaved; rows and ratios."""
    n_batches = batches.shape[0]
    builders = list(BUILDERS[kind])
    if args.compile and kind == "realnvp":  # appended: rows[1:3] stay the eager libraries
        builders += [compiled(builders[0]), compiled(builders[1])]
    contenders = []
    for build in builders:
        torch.manual_seed(args.seed)
        c = build(args.layers, args.width)
        c.optimizer = torch.optim.Adam(c.module.parameters(), lr=1e-3)
        c.module.train()
        contenders.append(c)

    compile_s = {}
    for c in contenders:  # warm-up (allocator, lazy init, compilation), not timed; restart the optimizer state
        t0 = time.perf_counter()
        for i in range(5):
            loss = c.loss(batches[i])
            c.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        c.optimizer.zero_grad(set_to_none=True)
        if "torch.compile" in c.name:
            compile_s[c.name] = time.perf_counter() - t0

    loops = [SharedLoop(kind, args.layers, args.width, args.batch, n_batches, args.chunk, args.seed)]
    if args.compile and kind == "realnvp":
        loops.append(SharedLoop(kind, args.layers, args.width, args.batch, n_batches, args.chunk, args.seed,
                                compiled=True))
        compile_s[loops[-1].name] = loops[-1].compile_s
    for start in range(0, n_batches, args.chunk):
        for loop in loops:
            loop.run_chunk(args.chunk)
        for c in contenders:
            model_s = 0.0
            t0 = time.perf_counter()
            for i in range(start, start + args.chunk):
                t1 = time.perf_counter()
                loss = c.loss(batches[i])
                c.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                model_s += time.perf_counter() - t1
                c.optimizer.step()
            c.rates.append(args.chunk / (time.perf_counter() - t0))
            c.model_ms.append(1e3 * model_s / args.chunk)

    loop_nll = []
    for loop in loops:
        loop.finish()
        loop.module.eval()
        with torch.no_grad():
            loop_nll.append(float(-torch.cat([loop.module.log_prob(x) for x in test_x.split(5000)]).double().mean()))
    rows = []
    for c in contenders:
        with torch.no_grad():
            lp = torch.cat([c.log_prob(x) for x in test_x.split(5000)]).double()
        finite = torch.isfinite(lp)
        nll = float(-lp[finite].mean()) if finite.any() else float("nan")
        q = statistics.quantiles(c.rates, n=4)
        rows.append({"model": c.name, "params": c.n_params, "steps_per_s": statistics.median(c.rates),
                     "fwd_bwd_ms": statistics.median(c.model_ms), "step_ms": 1e3 / statistics.median(c.rates),
                     "steps_per_s_iqr": [q[0], q[2]], "test_nll": nll, "gap": nll - entropy,
                     "nonfinite_test_points": int((~finite).sum())})
    loop_rows = [{"model": loop.name, "params": sum(p.numel() for p in loop.module.parameters()),
                  "steps_per_s": statistics.median(loop.rates), "fwd_bwd_ms": float("nan"),
                  "step_ms": 1e3 / statistics.median(loop.rates), "test_nll": nll, "gap": nll - entropy,
                  "nonfinite_test_points": 0} for loop, nll in zip(loops, loop_nll)]
    ours = rows[0]
    ratios = {}
    for other in rows[1:3]:
        lib = other["model"].split()[0]
        ratios[lib] = {"steps_per_s": ours["steps_per_s"] / other["steps_per_s"],
                       "fwd_bwd": other["fwd_bwd_ms"] / ours["fwd_bwd_ms"],
                       "nll_difference": ours["test_nll"] - other["test_nll"]}
    if len(rows) > 5:  # --compile: gen_core compiled against normflows eager and against normflows compiled
        ours_c, theirs_c = rows[4], rows[5]
        ratios["normflows, gen_core compiled"] = {
            "steps_per_s": ours_c["steps_per_s"] / rows[1]["steps_per_s"],
            "fwd_bwd": rows[1]["fwd_bwd_ms"] / ours_c["fwd_bwd_ms"],
            "nll_difference": ours_c["test_nll"] - rows[1]["test_nll"]}
        ratios["normflows, both compiled"] = {
            "steps_per_s": ours_c["steps_per_s"] / theirs_c["steps_per_s"],
            "fwd_bwd": theirs_c["fwd_bwd_ms"] / ours_c["fwd_bwd_ms"],
            "nll_difference": ours_c["test_nll"] - theirs_c["test_nll"]}
    if len(loop_rows) > 1:   # our train() loop with compile=True against normflows' eager model
        ratios["normflows, gen_core train(compile=True)"] = {
            "steps_per_s": loop_rows[1]["steps_per_s"] / rows[1]["steps_per_s"], "fwd_bwd": float("nan"),
            "nll_difference": loop_rows[1]["test_nll"] - rows[1]["test_nll"]}
    rows += loop_rows
    return {"kind": kind, "rows": rows, "ratios": ratios, "compile_s": compile_s}


def print_kind(res: dict, args: argparse.Namespace, n_batches: int) -> None:
    """The Markdown table and the ratio lines of one flow family."""
    label = {"realnvp": "RealNVP (affine couplings)", "spline": "Spline flow (rational-quadratic couplings)"}
    print(f"\n### {label[res['kind']]}: {args.layers} couplings, width {args.width}, batch {args.batch}, "
          f"{n_batches} steps each\n")
    print("| implementation | params | steps/s (median) | forward + backward, ms/step | test NLL after equal steps "
          "| gap to H(p) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in res["rows"]:
        fb = "–" if r["fwd_bwd_ms"] != r["fwd_bwd_ms"] else f"{r['fwd_bwd_ms']:.2f}"
        print(f"| {r['model']} | {r['params']:,} | {r['steps_per_s']:.0f} | {fb} | {r['test_nll']:.3f} | "
              f"{r['gap']:.3f} |")
    for name, sec in res.get("compile_s", {}).items():
        print(f"one-time compile of {name}: {sec:.1f} s (untimed warm-up)")
    for lib, r in res["ratios"].items():
        fb = "" if r["fwd_bwd"] != r["fwd_bwd"] else f" ({r['fwd_bwd']:.2f}x on forward + backward alone)"
        print(f"gen_core / {lib}: {r['steps_per_s']:.2f}x steps/s{fb}; test NLL difference (gen_core - {lib}) "
              f"{r['nll_difference']:+.3f} nats")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flows", nargs="+", choices=list(BUILDERS), default=list(BUILDERS), help="families to compare")
    p.add_argument("--layers", type=int, default=8, help="coupling layers")
    p.add_argument("--width", type=int, default=64, help="hidden width of every conditioner MLP")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=2000, help="training steps per model")
    p.add_argument("--chunk", type=int, default=25, help="steps per timed chunk (models alternate chunk by chunk)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=str, default=None, help="also write the results here")
    p.add_argument("--compile", action="store_true",
                   help="also train gen_core's and normflows' RealNVP with torch.compile'd losses")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = _load()

    target = make_target("ring", std=0.05)
    gen = torch.Generator().manual_seed(args.seed)
    n_batches = args.steps // args.chunk * args.chunk
    batches = target.sample(n_batches * args.batch, generator=gen).view(n_batches, args.batch, 2)
    test_x = held_out(target, 20_000)
    entropy, entropy_se = true_entropy(target)
    print(f"Ring (8 modes, std 0.05), H(p) = {entropy:.3f} ± {entropy_se:.3f} nats; {args.threads} thread(s), "
          f"torch {torch.__version__}, seed {args.seed}; load average before: {load_before}")
    results = []
    for kind in args.flows:
        res = run_kind(kind, args, batches, test_x, entropy)
        print_kind(res, args, n_batches)
        results.append(res)
    load_after = _load()
    print(f"\nload average after: {load_after}")
    result = {
        "setup": {"layers": args.layers, "width": args.width, "batch": args.batch, "steps": n_batches,
                  "chunk": args.chunk, "threads": args.threads, "seed": args.seed, "torch": torch.__version__,
                  "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                  "target": "ring, 8 modes, std 0.05", "true_entropy": entropy, "true_entropy_se": entropy_se,
                  "load_before": load_before, "load_after": load_after},
        "results": results,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
