"""Benchmarks of the foundation issue, printed as a table (and JSON with --json).

1. Slider decode latency, p50 / p95: in-process (LatentExplorer.decode, i.e. validation + decode + uint8 image)
   and through gradio_client against a launched `python app.py` (HTTP + queue + PNG encode/decode).
2. App cold start: process start to the first HTTP 200 (all weights are loaded before the server listens), median
   of 5 fresh launches (one launch varies by +-15% on this shared machine), and
   the resident memory (RSS) of the app process right after.
3. Training throughput of the shared loop (gen_core.train.train, with its events, NaN checks and gradient
   clipping) against a plain hand-written loop of the same model, same batches, same optimizer, in the same
   process. Rounds alternate between the two so that machine noise hits both; the ratio of medians is reported.

Usage: python benchmarks/bench_latent_explorer.py [--json out.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gen_core.data.fashion_mnist import load_fashion_mnist  # noqa: E402
from gen_core.models import VAE, VAEConfig  # noqa: E402
from gen_core.train import TrainConfig, train  # noqa: E402
from gen_core.train.loop import warm_up_optimizer  # noqa: E402


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.array(samples_s) * 1000.0
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "n": len(ms)}


def bench_in_process(n: int) -> dict[str, float]:
    from gen_core.ui.latent_explorer import ExplorerModels, LatentExplorer

    ex = LatentExplorer(ExplorerModels.load())
    rng = np.random.default_rng(0)
    for _ in range(10):
        ex.decode(*rng.uniform(-3, 3, ex.n_sliders).round(2).tolist())
    times = []
    for _ in range(n):
        values = rng.uniform(-3, 3, ex.n_sliders).round(2).tolist()
        t = time.perf_counter()
        ex.decode(*values)
        times.append(time.perf_counter() - t)
    return percentiles(times)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_app() -> tuple[subprocess.Popen, str, float]:
    """Start ``python app.py`` on a free port; return the process, its URL and the seconds to the first HTTP 200."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1"}
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while True:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return proc, url, time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)
        if proc.poll() is not None or time.perf_counter() - t0 > 120:
            proc.kill()
            raise RuntimeError("app did not start")


def bench_app(n: int, launches: int = 5) -> dict[str, float]:
    """Cold start (median of ``launches`` fresh launches), RSS and decode latency through gradio_client."""
    from gradio_client import Client

    colds = []
    for _ in range(launches - 1):
        proc, _, cold = launch_app()
        colds.append(cold)
        proc.terminate()
        proc.wait(timeout=30)
    proc, url, cold = launch_app()
    colds.append(cold)
    try:
        p = psutil.Process(proc.pid)
        rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
        # Two client set-ups. The default Client builds a new httpx client, and with it a TLS trust store from
        # certifi's bundle (~40-50 ms of CPU), for each of the three requests of a predict (join the queue, open
        # the event stream, fetch the PNG), even for a plain-HTTP URL that never uses TLS. ssl_verify=False skips
        # the trust store; nothing else changes (http://127.0.0.1 has no certificate to verify).
        rng = np.random.default_rng(1)
        timed: dict[str, list[float]] = {}
        for name, kwargs in (("client", {}), ("client_noverify", {"ssl_verify": False})):
            client = Client(url, verbose=False, **kwargs)
            for _ in range(5):
                client.predict(*rng.uniform(-3, 3, 16).round(2).tolist(), api_name="/decode")
            times = timed[name] = []
            for _ in range(n):
                values = rng.uniform(-3, 3, 16).round(2).tolist()
                t = time.perf_counter()
                client.predict(*values, api_name="/decode")
                times.append(time.perf_counter() - t)
        # The same endpoint over Gradio's HTTP API (POST the call, read its event stream), without the client
        # library. Each /call/ request is a new session, so the server also builds that session's state (a copy
        # of every component's config: ~0.1 s for this app's ~1,000 components); gradio_client keeps one session.
        http_times = []
        for _ in range(n):
            body = json.dumps({"data": rng.uniform(-3, 3, 16).round(2).tolist()}).encode()
            t = time.perf_counter()
            req = urllib.request.Request(url + "gradio_api/call/decode", data=body,
                                         headers={"Content-Type": "application/json"})
            event_id = json.load(urllib.request.urlopen(req, timeout=30))["event_id"]
            urllib.request.urlopen(url + f"gradio_api/call/decode/{event_id}", timeout=30).read()
            http_times.append(time.perf_counter() - t)
        return {"cold_start_s": statistics.median(colds), "cold_start_max_s": max(colds), "cold_start_all_s": colds,
                "rss_mb": rss / 2**20,
                **{f"{name}_{k}": v for name, ts in timed.items() for k, v in percentiles(ts).items()},
                **{f"http_{k}": v for k, v in percentiles(http_times).items()}}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def plain_loop(model: VAE, images: torch.Tensor, steps: int, batch_size: int, lr: float, clip: float,
               seed: int) -> None:
    """The hand-written reference: shuffle, binarise, forward, backward, clip, Adam step. Nothing else."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    perm, pos = torch.randperm(images.shape[0], generator=gen), 0
    for step in range(1, steps + 1):
        if pos + batch_size > perm.numel():
            perm, pos = torch.randperm(images.shape[0], generator=gen), 0
        x = images[perm[pos:pos + batch_size]].float().div_(255.0)
        pos += batch_size
        x = torch.bernoulli(x, generator=gen)
        loss = model(x, step)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()


def bench_training(steps: int, rounds: int, batch_size: int = 128) -> dict[str, float]:
    images = load_fashion_mnist("train").images
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=1e-3, log_every=50, device="cpu")
    shared, plain = [], []
    warm_up_optimizer()  # torch._dynamo is imported before timing, not inside the first round
    for r in range(rounds):
        for kind in ("shared", "plain") if r % 2 == 0 else ("plain", "shared"):
            torch.manual_seed(r)
            model = VAE(VAEConfig(latent_dim=16))
            t = time.perf_counter()
            if kind == "shared":
                for _ in train(model, images, cfg):
                    pass
                shared.append(steps * batch_size / (time.perf_counter() - t))
            else:
                model.train()
                plain_loop(model, images, steps, batch_size, cfg.lr, cfg.grad_clip, r)
                plain.append(steps * batch_size / (time.perf_counter() - t))
    s, p = statistics.median(shared), statistics.median(plain)
    return {"shared_samples_per_s": s, "plain_samples_per_s": p, "ratio_shared_over_plain": s / p,
            "rounds": rounds, "steps_per_round": steps, "all_shared": shared, "all_plain": plain}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    args = ap.parse_args()
    n = 50 if args.quick else 300
    results = {
        "machine": f"{psutil.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "decode_in_process": bench_in_process(n),
        "app": bench_app(n // 2 if args.quick else 200),
        "training": bench_training(steps=40 if args.quick else 150, rounds=2 if args.quick else 6),
    }
    d, a, t = results["decode_in_process"], results["app"], results["training"]
    print(f"machine: {results['machine']}")
    print(f"slider decode in-process      p50 {d['p50_ms']:.2f} ms   p95 {d['p95_ms']:.2f} ms   (target p50 <= 10 ms)")
    print(f"slider decode gradio_client   p50 {a['client_p50_ms']:.1f} ms   p95 {a['client_p95_ms']:.1f} ms"
          f"   (target p50 <= 80 ms; default Client: a TLS trust store per request)")
    print(f"  ... Client(ssl_verify=False)  p50 {a['client_noverify_p50_ms']:.1f} ms   p95 "
          f"{a['client_noverify_p95_ms']:.1f} ms   (plain HTTP on 127.0.0.1: no TLS to verify)")
    print(f"slider decode raw HTTP API    p50 {a['http_p50_ms']:.1f} ms   p95 {a['http_p95_ms']:.1f} ms"
          f"   (a new session per call)")
    print(f"app cold start                {a['cold_start_s']:.2f} s   (median of {len(a['cold_start_all_s'])} launches, "
          f"max {a['cold_start_max_s']:.2f} s; target <= 8 s)")
    print(f"app resident memory           {a['rss_mb']:.0f} MB   (target <= 1024 MB)")
    print(f"training, shared loop         {t['shared_samples_per_s']:.0f} samples/s")
    print(f"training, plain loop          {t['plain_samples_per_s']:.0f} samples/s")
    print(f"ratio shared / plain          {t['ratio_shared_over_plain']:.3f}x   (target >= 1.0x; median of "
          f"{t['rounds']} alternating rounds)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
