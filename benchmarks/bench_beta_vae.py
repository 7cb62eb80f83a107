"""beta-VAE benchmark (issue 3): time of all four disentanglement metrics for one model, and training steps/s of
the shared loop against a plain loop of the same model in the same process.

1. ``all_metrics(DSprites(), encoder mean, preset="disentanglement_lib")`` (beta-VAE score, FactorVAE score, MIG,
   DCI with the published sample counts: about 2.2 million rendered and encoded images) for a shipped model;
   also the "fast" preset. Target: <= 60 s on this 2-core CPU.
2. Encoders: images/s of the encoder mean on the same 16,384 dSprites images (one full chunk of the grid, in
   grid order, as ``EncodedOnce.prefill`` hands them over) with ``engine="windowed"`` (the default) against
   ``engine="frozen"`` (the whole frozen graph on every pixel), in alternating rounds; ratio of medians.
3. Training: ``gen_core.train.train`` (events, NaN/inf checks, gradient clipping, checkpoint-ready RNG) against a
   hand-written loop (render batch, forward, backward, clip, Adam) of the conv64 beta-VAE on the same dSprites
   batches, and the shared loop under ``precision="bf16"`` (bfloat16 autocast, ``train --precision bf16``). Rounds
   rotate the order of the three so machine noise hits all; ratios of medians are reported.
4. Live frame: the per-dim KL, activity and MI report on 2,000 images that every frame of the tab's live panel
   computes for a model whose weights changed since the last frame, with ``engine="eager"`` (what the panel uses)
   against ``engine="windowed"`` (which traces and checks a frozen graph on each new model first), alternating.

    python benchmarks/bench_beta_vae.py [--model pretrained/beta-vae-dsprites-b4] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gen_core.data.dsprites import DSprites, DSpritesBatches  # noqa: E402
from gen_core.metrics.beta_vae import encoder_mean_fn, latent_factor_report  # noqa: E402
from gen_core.metrics.disentanglement import all_metrics  # noqa: E402
from gen_core.models import VAE, VAEConfig, load_pretrained  # noqa: E402
from gen_core.train import TrainConfig, train  # noqa: E402
from gen_core.train.loop import warm_up_optimizer  # noqa: E402


def bench_metrics(model: VAE, preset: str, engine: str = "windowed") -> dict[str, float]:
    """Wall time of all four metrics with the encoder ``engine``, and their values."""
    t = time.perf_counter()
    scores = all_metrics(DSprites(), encoder_mean_fn(model, engine=engine),  # type: ignore[arg-type]
                         seed=0, preset=preset)  # type: ignore[arg-type]
    return {"seconds": time.perf_counter() - t, "beta_vae": scores["beta_vae"]["eval_accuracy"],
            "factor_vae": scores["factor_vae"]["eval_accuracy"], "mig": scores["mig"]["mig"],
            "dci_disentanglement": scores["dci"]["disentanglement"]}


def bench_encoders(model: VAE, rounds: int = 3, chunk: int = 16384) -> dict[str, float]:
    """Median images/s of the windowed and the frozen encoder on the same grid chunks (all 45 chunks' worth of
    shapes and scales: every round encodes three chunks spread over the grid), and their ratio."""
    data = DSprites()
    starts = [0, len(data) // 2, len(data) - chunk]
    images = [data.images(torch.arange(s, s + chunk)) for s in starts]
    engines = {name: encoder_mean_fn(model, engine=name) for name in ("windowed", "frozen")}
    for represent in engines.values():
        represent(images[0][:256])              # the first call: eager, and the checks
    speed: dict[str, list[float]] = {name: [] for name in engines}
    for r in range(rounds):
        for name in (("windowed", "frozen") if r % 2 == 0 else ("frozen", "windowed")):
            t = time.perf_counter()
            for x in images:
                engines[name](x)
            speed[name].append(len(images) * chunk / (time.perf_counter() - t))
    w, f = statistics.median(speed["windowed"]), statistics.median(speed["frozen"])
    return {"windowed_images_per_s": w, "frozen_images_per_s": f, "ratio_windowed_over_frozen": w / f,
            "rounds": rounds, "images_per_round": len(images) * chunk}


def plain_loop(model: VAE, steps: int, batch_size: int, lr: float, clip: float, seed: int) -> None:
    """The hand-written reference: render a batch, forward, backward, clip, Adam step. Nothing else."""
    torch.manual_seed(seed)
    data = DSpritesBatches(batch_size, seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(1, steps + 1):
        loss = model(data.next_batch(), step)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()


def bench_training(steps: int, rounds: int, batch_size: int = 64) -> dict[str, float]:
    """Median steps/s of the shared loop (float32, and under ``precision="bf16"``) and of the plain loop over
    rounds that rotate the order of the three."""
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=1e-4, log_every=50, device="cpu")
    cfg_bf16 = dataclasses.replace(cfg, precision="bf16")
    times: dict[str, list[float]] = {"shared": [], "plain": [], "bf16": []}
    kinds = list(times)
    warm_up_optimizer()  # torch._dynamo is imported before timing, not inside the first round
    for r in range(rounds):
        for kind in kinds[r % 3:] + kinds[:r % 3]:
            torch.manual_seed(r)
            model = VAE(VAEConfig(latent_dim=10, architecture="conv64", beta=4.0))
            t = time.perf_counter()
            if kind == "plain":
                model.train()
                plain_loop(model, steps, batch_size, cfg.lr, cfg.grad_clip, r)
            else:
                for _ in train(model, DSpritesBatches(batch_size, r), cfg if kind == "shared" else cfg_bf16):
                    pass
            times[kind].append(steps / (time.perf_counter() - t))
    s, p, b = (statistics.median(times[k]) for k in kinds)
    return {"shared_steps_per_s": s, "plain_steps_per_s": p, "ratio_shared_over_plain": s / p,
            "shared_bf16_steps_per_s": b, "ratio_bf16_over_shared": b / s, "rounds": rounds,
            "steps_per_round": steps, "all_shared": times["shared"], "all_plain": times["plain"],
            "all_bf16": times["bf16"]}


def bench_live_frame(model: VAE, rounds: int = 5, n: int = 2000) -> dict[str, Any]:
    """Median seconds of ``latent_factor_report(model, n)`` (a live frame's report) with ``engine="eager"`` and
    ``engine="windowed"``, alternating; each call gets a fresh copy of the weights, as each frame does."""
    times: dict[str, list[float]] = {"eager": [], "windowed": []}
    for r in range(rounds):
        for engine in (("eager", "windowed") if r % 2 == 0 else ("windowed", "eager")):
            fresh = copy.deepcopy(model)
            t = time.perf_counter()
            latent_factor_report(fresh, n=n, engine=engine)
            times[engine].append(time.perf_counter() - t)
    eager, windowed = (statistics.median(times[k]) for k in ("eager", "windowed"))
    return {"eager_s": eager, "windowed_s": windowed, "ratio_windowed_over_eager": windowed / eager,
            "rounds": rounds, "images": n, "all_eager": times["eager"], "all_windowed": times["windowed"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="pretrained/beta-vae-dsprites-b4")
    p.add_argument("--threads", type=int, default=2, help="torch threads (this machine has 2 cores)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--skip-full", action="store_true", help="only the fast preset")
    p.add_argument("--compare-frozen", action="store_true",
                   help="also time the full protocol with engine='frozen' (the whole graph on every pixel)")
    p.add_argument("--only-live-frame", action="store_true", help="only section 4 (the live panel's frame report)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load_pretrained(args.model)
    if args.only_live_frame:
        live = bench_live_frame(model)
        print(f"live frame report, eager         {live['eager_s']:.2f} s")
        print(f"live frame report, windowed      {live['windowed_s']:.2f} s")
        print(f"ratio windowed / eager           {live['ratio_windowed_over_eager']:.2f}x (median of {live['rounds']} "
              f"alternating rounds, {live['images']:,} images, load average {os.getloadavg()[0]:.2f})")
        if args.json:
            Path(args.json).write_text(json.dumps({"threads": args.threads, "live_frame": live}, indent=2))
        return
    results = {"threads": args.threads, "load_average": os.getloadavg(), "model": args.model,
               "metrics_fast": bench_metrics(model, "fast")}
    if not args.skip_full:
        results["metrics_disentanglement_lib"] = bench_metrics(model, "disentanglement_lib")
    if args.compare_frozen:
        results["metrics_disentanglement_lib_frozen"] = bench_metrics(model, "disentanglement_lib", "frozen")
    if args.compare_frozen and not args.skip_full:
        w, f = results["metrics_disentanglement_lib"], results["metrics_disentanglement_lib_frozen"]
        results["metrics_ratio_frozen_over_windowed"] = f["seconds"] / w["seconds"]
    results["encoders"] = bench_encoders(model)
    results["training"] = bench_training(args.steps, args.rounds)
    results["live_frame"] = bench_live_frame(model)
    for key in ("metrics_fast", "metrics_disentanglement_lib", "metrics_disentanglement_lib_frozen"):
        if key in results:
            m = results[key]
            print(f"{key:32s} {m['seconds']:.1f} s   beta_vae {m['beta_vae']:.3f}  factor_vae "
                  f"{m['factor_vae']:.3f}  mig {m['mig']:.3f}  dci {m['dci_disentanglement']:.3f}")
    if "metrics_ratio_frozen_over_windowed" in results:
        print(f"full protocol, frozen / windowed {results['metrics_ratio_frozen_over_windowed']:.2f}x (same process)")
    e = results["encoders"]
    print(f"encoder mean, windowed           {e['windowed_images_per_s']:.0f} images/s")
    print(f"encoder mean, frozen full graph  {e['frozen_images_per_s']:.0f} images/s")
    print(f"ratio windowed / frozen          {e['ratio_windowed_over_frozen']:.2f}x (median of {e['rounds']} "
          f"alternating rounds of {e['images_per_round']:,} images)")
    t = results["training"]
    print(f"training, shared loop            {t['shared_steps_per_s']:.2f} steps/s")
    print(f"training, plain loop             {t['plain_steps_per_s']:.2f} steps/s")
    print(f"ratio shared / plain             {t['ratio_shared_over_plain']:.3f}x (median of {t['rounds']} "
          f"alternating rounds of {t['steps_per_round']} steps)")
    print(f"training, shared loop, bf16      {t['shared_bf16_steps_per_s']:.2f} steps/s: "
          f"{t['ratio_bf16_over_shared']:.2f}x the float32 shared loop (--precision bf16)")
    live = results["live_frame"]
    print(f"live frame report, eager / windowed  {live['eager_s']:.2f} s / {live['windowed_s']:.2f} s: windowed "
          f"{live['ratio_windowed_over_eager']:.2f}x the eager time on a fresh model")
    print(f"load average at start            {results['load_average']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
